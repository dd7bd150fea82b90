// Probe: cost per partition of put / reduce / map / toArray / delete. MODE=nats|embedded, NS=100,1000,...
import { performance } from 'node:perf_hooks';
import fs from 'node:fs';
import { connect } from '@sharc/sdk';
import { startProcessCluster } from '@sharc/test-support';
const prof = process.env.PROF;
const mode = process.env.MODE ?? 'nats';
const ns = (process.env.NS ?? '100,1000,10000').split(',').map(Number);
const elements = Number(process.env.ELEMENTS ?? 2 ** 17); // 1 MiB float64
const reps = Number(process.env.REPS ?? 1);
let processes;
if (mode === 'nats') processes = await startProcessCluster({ agents: 2, threads: 1, ...(prof ? { env: { ...process.env, NODE_OPTIONS: `--import /tmp/scale-prof-preload.mjs` } } : {}) });
const cluster = mode === 'nats' ? await connect({ servers: processes.url }) : await connect({ embedded: { agents: 2, threads: 1 } });
if (prof) { const { Session } = await import('node:inspector'); globalThis.__s = new Session(); __s.connect(); __s.post('Profiler.enable'); __s.post('Profiler.setSamplingInterval', { interval: 200 }); __s.post('Profiler.start'); }
const data = new Float64Array(elements).map((_, i) => i % 7);
const expect = data.reduce((s, x) => s + x, 0);
const time = async (f) => { const t = performance.now(); const r = await f(); return [performance.now() - t, r]; };
for (const n of ns) {
  const best = { put: Infinity, reduce: Infinity, map: Infinity, toArray: Infinity, delete: Infinity };
  for (let r = 0; r < reps; r++) {
    const [tp, a] = await time(() => cluster.put(data, { partitions: n }));
    const [tr, s] = await time(() => cluster.reduce(a, 'sum'));
    if (s !== expect) throw new Error(`sum ${s} != ${expect}`);
    const [tm, b] = await time(() => a.scale(2));
    const [tt, back] = await time(() => b.toArray());
    if (back.length !== data.length || back[5] !== data[5] * 2) throw new Error('toArray wrong');
    const [td] = await time(async () => { await a.delete(); await b.delete(); });
    for (const [k, v] of Object.entries({ put: tp, reduce: tr, map: tm, toArray: tt, delete: td })) best[k] = Math.min(best[k], v);
  }
  console.log(`${mode} n=${n}: ` + Object.entries(best).map(([k, v]) => `${k} ${v.toFixed(0)} ms (${(v / n * 1000).toFixed(0)}/1k)`).join(', '));
}
if (prof) {
  __s.post('Profiler.stop', (e, { profile }) => { fs.writeFileSync(`/tmp/scale-prof/client-${process.pid}.cpuprofile`, JSON.stringify(profile)); });
  if (processes) for (const pid of [processes.coordinator?.pid, ...[...processes.agents.values()].map(a=>a.pid)]) if (pid) process.kill(pid, "SIGUSR2");
  await new Promise(r=>setTimeout(r,2000));
}
await cluster.close(); if (processes) await processes.stop();
