// Runs only the bench's file section (bench/src/file/): node --expose-gc bench/scripts/file-only.mjs
// after `npm run build`. SHARC_BENCH_FILE_MIB=512 uses a smaller file; SHARC_BENCH_FILE_RESIDENT=1
// loads it resident (fromFile without { resident: false }); SHARC_BENCH_DATA_DIR moves the file.
import { CleanupStack } from '../dist/src/cleanup.js';
import { measureFileSection } from '../dist/src/file/measure.js';
import { fileMeasurements, fileTextTable } from '../dist/src/file/rows.js';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
const cleanup = new CleanupStack();
const start = performance.now();
const progress = (message) => console.log(`${((performance.now() - start) / 1000).toFixed(1)} s  ${message}`);
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => cleanup.stopAll().finally(() => process.exit(1)));
// Other work on the machine skews every figure: say how busy it was.
progress(`load average ${os.loadavg().map((load) => load.toFixed(2)).join(' ')} on ${os.availableParallelism()} cores`);
let code = 1;
try {
  const section = await measureFileSection(cleanup, progress);
  console.log(`\n${fileTextTable(section)}\n`);
  for (const row of fileMeasurements(section)) console.log(JSON.stringify(row));
  code = 0;
} catch (error) {
  console.error(error);
} finally {
  await cleanup.stopAll();
  console.log(`total ${((performance.now() - start) / 1000).toFixed(1)} s`);
}
process.exit(code);
