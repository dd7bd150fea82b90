/**
 * Focused probe for issue 10 §3: the custom kernel bench/kernels/sumsq.ts through the SDK against
 * the 2-thread worker_threads baseline, over 1 GiB float64, in interleaved pairs (baseline run,
 * then sharc run), so both see the same machine load. Prints every run, the ratio of each pair,
 * and (embedded) the CPU time of all threads of this process per run.
 *
 *   npm run build && node --expose-gc bench/scripts/kernel-overhead-probe.mjs embedded|processes
 *   PAIRS=15 …   BUILTIN=1 … (the built-in 'sumsq' instead of the kernel)
 */
import { performance } from 'node:perf_hooks';
import { URL } from 'node:url';
import { connect } from '@sharc/sdk';
import { startProcessCluster } from '@sharc/test-support';
import { SumsqThreads } from '../dist/src/baseline/sumsq-threads.js';
import { sharedTestData, ELEMENTS_PER_GIB } from '../dist/src/data.js';

const KERNEL = new URL('../kernels/sumsq.ts', import.meta.url);
const PAIRS = Number(process.env.PAIRS ?? 9);
const mode = process.argv[2] ?? 'embedded';
const builtin = process.env.BUILTIN === '1';

const data = sharedTestData(ELEMENTS_PER_GIB);
const threads = await SumsqThreads.start(2);
let processes;
let cluster;
if (mode === 'embedded') cluster = await connect({ embedded: { agents: 1, threads: 2 } });
else {
  processes = await startProcessCluster({ agents: 2, threads: 1 });
  cluster = await connect({ servers: processes.url });
}
const array = await cluster.put(data);
const cpu = [[], []];
const time = async (fn, k) => { globalThis.gc?.(); const c = process.cpuUsage(); const t = performance.now(); const r = await fn(); const d = performance.now() - t; const u = process.cpuUsage(c); cpu[k].push((u.user + u.system) / 1000); return [d, r]; };
const sharc = () => builtin ? cluster.reduce(array, 'sumsq') : cluster.reduce(array, { module: KERNEL });
await sharc(); await threads.sumOfSquares(data); await sharc();
const b = [], s = [], ratios = [];
for (let i = 0; i < PAIRS; i++) {
  const [tb, rb] = await time(() => threads.sumOfSquares(data), 0);
  const [ts, rs] = await time(sharc, 1);
  if (Math.abs(rb - rs) / rb > 1e-9) throw new Error(`mismatch ${rb} ${rs}`);
  b.push(tb); s.push(ts); ratios.push(tb / ts);
}
const f = (xs) => xs.map((x) => x.toFixed(1)).join(' ');
console.log(`${mode}${builtin ? ' builtin' : ''}: baseline ms ${f(b)}`);
console.log(`${mode}${builtin ? ' builtin' : ''}: sharc    ms ${f(s)}`);
console.log(`ratios per pair ${ratios.map((r) => r.toFixed(3)).join(' ')}`);
const sorted = [...ratios].sort((x, y) => x - y);
console.log(`best-of: baseline ${Math.min(...b).toFixed(1)} sharc ${Math.min(...s).toFixed(1)} ratio(best/best) ${(Math.min(...b) / Math.min(...s)).toFixed(3)} median pair ratio ${sorted[sorted.length >> 1].toFixed(3)} max pair ${sorted.at(-1).toFixed(3)}`);
if (mode === 'embedded') console.log(`cpu ms (all threads of this process): baseline min ${Math.min(...cpu[0]).toFixed(1)} median ${[...cpu[0]].sort((a,b)=>a-b)[cpu[0].length>>1].toFixed(1)}; sharc min ${Math.min(...cpu[1]).toFixed(1)} median ${[...cpu[1]].sort((a,b)=>a-b)[cpu[1].length>>1].toFixed(1)}`);
await array.delete();
await cluster.close();
await processes?.stop();
await threads.close();
