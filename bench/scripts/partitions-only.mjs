// Runs only the bench's partitions curve (bench/src/partitions.ts) on 2 agent processes: node bench/scripts/partitions-only.mjs
import { CleanupStack } from '../dist/src/cleanup.js';
import { withProcessCluster } from '../dist/src/clusters.js';
import { measurePartitionCurve, partitionMeasurements, PARTITION_COUNTS } from '../dist/src/partitions.js';
import { performance } from 'node:perf_hooks';
const counts = process.env.NS ? process.env.NS.split(',').map(Number) : PARTITION_COUNTS;
const cleanup = new CleanupStack();
const start = performance.now();
try {
  const curve = await withProcessCluster(cleanup, { agents: 2, threads: 1 }, (cluster) => measurePartitionCurve(cluster, counts));
  for (const m of partitionMeasurements('2 agent processes (NATS)', curve)) console.log(`${m.value.toFixed(0).padStart(7)} ms  ${m.subject}${m.target ? `  target ${m.target}: ${m.pass ? 'pass' : 'MISS'}` : ''}`);
} finally {
  await cleanup.stopAll();
  console.log(`total ${((performance.now() - start) / 1000).toFixed(1)} s`);
}
