import { performance } from 'node:perf_hooks';
import { connect } from '@sharc/sdk';
import { startProcessCluster } from '@sharc/test-support';
const prof = process.env.PROF;
const processes = await startProcessCluster({ agents: 2, threads: 1, ...(prof ? { env: { ...process.env, NODE_OPTIONS: `--import /tmp/prof-preload.mjs` } } : {}) });
const cluster = await connect({ servers: processes.url, ...(process.env.INFLIGHT ? { maxJobsInFlight: Number(process.env.INFLIGHT) } : {}) });
const a = await cluster.put(Float64Array.from([1,2,3,4,5,6,7,8]));
const N = Number(process.env.N ?? 2000);
for (let i = 0; i < 1000; i++) await cluster.reduce(a, 'sum');
const t = [];
const t0 = performance.now();
for (let i = 0; i < N; i++) { const s = performance.now(); await cluster.reduce(a, 'sum'); t.push(performance.now() - s); }
const el = performance.now() - t0;
t.sort((x, y) => x - y);
console.log(`seq: p50 ${t[N/2|0].toFixed(3)} p99 ${t[N*0.99|0].toFixed(3)} jobs/s ${(N/el*1000).toFixed(0)}`);
const M = Number(process.env.M ?? 1000);
const t1 = performance.now();
const r = await Promise.allSettled(Array.from({ length: M }, () => cluster.reduce(a, 'sum')));
console.log(`inflight ${M}: ${(M/(performance.now()-t1)*1000).toFixed(0)} jobs/s, failed ${r.filter(x=>x.status==='rejected').length}`);
if (prof) { for (const pid of [processes.coordinator?.pid, ...[...processes.agents.values()].map(a=>a.pid)]) if (pid) process.kill(pid, "SIGUSR2"); await new Promise(r=>setTimeout(r,1500)); }
await a.delete(); await cluster.close(); await processes.stop();
