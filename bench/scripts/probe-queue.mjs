// Throughput of Promise.all over many tiny reduces from one client, for several maxJobsInFlight.
// env: LIMITS (comma list, default 16,64,256,1024), TOTAL (calls per run, default 20000), REPS (default 3)
// RETRY=0: retryBusy off (with a huge limit: the SDK as it was before the queue).
import { performance } from 'node:perf_hooks';
import { connect } from '@sharc/sdk';
import { startProcessCluster } from '@sharc/test-support';
const processes = await startProcessCluster({ agents: 2, threads: 1 });
const limits = (process.env.LIMITS ?? '16,64,256,1024').split(',').map(Number);
const total = Number(process.env.TOTAL ?? 20_000);
const reps = Number(process.env.REPS ?? 3);
try {
  for (const limit of limits) {
    const cluster = await connect({ servers: processes.url, maxJobsInFlight: limit, retryBusy: process.env.RETRY !== '0' });
    const a = await cluster.put(Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8]));
    for (let i = 0; i < 500; i++) await cluster.reduce(a, 'sum');
    const rates = [];
    for (let r = 0; r < reps; r++) {
      const t = performance.now();
      const results = await Promise.allSettled(Array.from({ length: total }, () => cluster.reduce(a, 'sum')));
      const ms = performance.now() - t;
      const failed = results.filter((x) => x.status === 'rejected');
      const wrong = results.filter((x) => x.status === 'fulfilled' && x.value !== 36).length;
      rates.push(total / ms * 1000);
      console.log(`maxJobsInFlight ${limit}: ${total} calls in ${ms.toFixed(0)} ms = ${(total / ms * 1000).toFixed(0)} jobs/s, failed ${failed.length}${failed.length ? ` (${failed[0].reason?.name})` : ''}, wrong ${wrong}, rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`);
    }
    console.log(`maxJobsInFlight ${limit}: best ${Math.max(...rates).toFixed(0)} jobs/s`);
    await a.delete();
    await cluster.close();
  }
} finally {
  await processes.stop();
}
