// Runs only the bench's scale section (bench/src/scale.ts): node bench/scripts/scale-only.mjs
// AGENTS=1000 picks agent counts (comma-separated); SHARC_BENCH_SCALE_PARTITIONS shrinks the big array.
import { CleanupStack } from '../dist/src/cleanup.js';
import { measureScale, scaleTextTable, SCALE_AGENT_COUNTS } from '../dist/src/scale.js';
import { performance } from 'node:perf_hooks';
const counts = process.env.AGENTS ? process.env.AGENTS.split(',').map(Number) : SCALE_AGENT_COUNTS;
const cleanup = new CleanupStack();
const start = performance.now();
const rows = [];
try {
  for (const agents of counts) rows.push(await measureScale(cleanup, agents, (message) => console.log(`${((performance.now() - start) / 1000).toFixed(1)} s  ${message}`)));
  console.log(scaleTextTable(rows));
  for (const row of rows) console.log(JSON.stringify(row));
} finally {
  await cleanup.stopAll();
  console.log(`total ${((performance.now() - start) / 1000).toFixed(1)} s`);
}
