/**
 * Soak: thousands of small jobs from 4 clients against a real cluster (nats-server, a
 * coordinator, 3 agent processes) for a bounded time (SHARC_SOAK_MS, default 2 minutes). Every
 * result is checked, and nothing may leak per job: what the coordinator and each agent keep
 * alive on their JavaScript heap (from heap snapshots, after a full collection, taken early in
 * the run and at its end while jobs run) may grow at most 10 % (+1 MiB), and the floor of their
 * resident memory (the lowest it comes back to) from the end of the warm-up to the end of the
 * run at most 25 %: resident memory also moves with the allocator and the pages V8 keeps spare
 * (a coordinator whose live heap stayed at 16 MiB saw its RSS floor rise 10 % in a 2-minute
 * run, and 1.4 % in a 5-minute one), so it only catches gross leaks outside the heap.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { environmentValue } from '@sharc/protocol';
import { connect, type ArrayRef, type Cluster } from '@sharc/sdk';
import { startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import { heapSnapshotEnv, liveHeapBytes } from '../src/live-heap.js';

const SOAK_MS = Number(environmentValue('SHARC_SOAK_MS') ?? 120_000);
const CLIENTS = 4;
/** Memory is compared from here (the end of the warm-up)… */
const WARM_UP_END = 0.3;
/** …to this last part of the run. */
const FINAL_WINDOW = 0.2;
/**
 * When the live heaps are measured, both times while jobs run. Writing a heap snapshot raises a
 * process's resident memory for good (by 30-50 MiB here), so the first is taken before the
 * resident-memory windows and the second at the very end of the last one (its floor comes
 * before it).
 */
const HEAP_AT_START = 0.12;
const HEAP_AT_END = 0.96;
const MAX_HEAP_GROWTH = 0.1;
const HEAP_SLACK_BYTES = 1024 * 1024;
const MAX_RSS_GROWTH = 0.25;
const SAMPLE_MS = 500;
const ROWS = 4096;
const KERNELS = fileURLToPath(new URL('../../src/kernels/table-kernels.ts', import.meta.url));

interface Sample {
  at: number;
  rssKiB: Map<string, number>;
}

/** VmRSS of a process, in KiB, from /proc (the figure `ps` and the OOM killer use). */
function rssKiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (match === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]);
}

describe('soak: small jobs from 4 clients, bounded, with memory checked', () => {
  let processes: ProcessCluster;
  let snapshots: string;
  const clients: Cluster[] = [];
  before(async () => {
    snapshots = await mkdtemp(path.join(os.tmpdir(), 'sharc-soak-heap-'));
    processes = await startProcessCluster({ agents: 3, threads: 1, memory: '512MiB', env: heapSnapshotEnv(snapshots), ...(process.env.SOAK_LOG_DIR === undefined ? {} : { logDir: process.env.SOAK_LOG_DIR }) });
    for (let i = 0; i < CLIENTS; i++) clients.push(await connect({ servers: processes.url }));
  });
  after(async () => {
    for (const client of clients) await client.close();
    await processes?.stop();
    await rm(snapshots, { recursive: true, force: true });
  });

  it(`runs correct jobs for ${SOAK_MS / 1000} s; coordinator and agent live heaps grow ≤ ${MAX_HEAP_GROWTH * 100} % while jobs run`, async (t) => {
    const services = new Map<string, number>([['coordinator', processes.coordinator.child.pid!]]);
    for (const [name, agent] of processes.agents) services.set(name, agent.child.pid!);
    const started = Date.now();
    const deadline = started + SOAK_MS;
    const samples: Sample[] = [];
    const sampler = setInterval(() => {
      samples.push({ at: Date.now() - started, rssKiB: new Map([...services].map(([name, pid]) => [name, rssKiB(pid)])) });
    }, SAMPLE_MS);
    const counts = { reduce: 0, custom: 0, map: 0, put: 0 };
    /** Each service's live heap at a point of the run, measured while the jobs run (both times alike). */
    const heapsAt = async (fraction: number) => {
      await new Promise((resolve) => setTimeout(resolve, started + SOAK_MS * fraction - Date.now()));
      const heaps = new Map<string, number>();
      for (const [name, pid] of services) heaps.set(name, await liveHeapBytes(pid, snapshots));
      return heaps;
    };
    const heapsMeasured = heapsAt(HEAP_AT_START).then(async (from) => ({ from, to: await heapsAt(HEAP_AT_END) }));
    try {
      await Promise.all(
        clients.map(async (client, c) => {
          const data = Float64Array.from({ length: ROWS * 2 }, (_, i) => (i * (c + 1)) % 97);
          const sum = data.reduce((a, b) => a + b, 0);
          const mine: ArrayRef = await client.put(data, { shape: [ROWS, 2], name: `soak-${c}`, partitions: 3 });
          for (let round = 0; Date.now() < deadline; round++) {
            switch (round % 4) {
              case 0:
                assert.equal(await client.reduce(mine, 'sum'), sum);
                counts.reduce++;
                break;
              case 1:
                assert.equal(total(await client.reduce(mine, { module: KERNELS, partial: 'columnSums', combine: 'mergeColumnSums' })), sum);
                counts.custom++;
                break;
              case 2: {
                const summary = await client.map(mine, { module: KERNELS, kernel: 'rowSummary', params: { scale: 2 } }, { cols: 3 });
                const back = await summary.toArray();
                const row = ROWS - 1;
                assert.deepEqual([...back.subarray(row * 3, row * 3 + 3)], [row, (data[row * 2]! + data[row * 2 + 1]!) * 2, Math.max(data[row * 2]!, data[row * 2 + 1]!)]);
                await summary.delete();
                counts.map++;
                break;
              }
              case 3: {
                const small = await client.put(data.subarray(0, 256));
                assert.equal(await client.reduce(small, 'count'), 256);
                await small.delete();
                counts.put++;
                break;
              }
            }
          }
        }),
      );
    } finally {
      clearInterval(sampler);
    }
    const { from: heapsFrom, to: heapsTo } = await heapsMeasured;
    const jobs = counts.reduce + counts.custom + counts.map * 2 + counts.put * 2;
    t.diagnostic(`${jobs} jobs and puts in ${((Date.now() - started) / 1000).toFixed(0)} s: ${JSON.stringify(counts)}`);
    assert.ok(jobs >= 1000, `only ${jobs} jobs ran`);

    const warmUp = samples.filter((s) => s.at >= SOAK_MS * (WARM_UP_END - 0.1) && s.at <= SOAK_MS * WARM_UP_END);
    const final = samples.filter((s) => s.at >= SOAK_MS * (1 - FINAL_WINDOW));
    assert.ok(warmUp.length > 0 && final.length > 0, `too few memory samples (${samples.length})`);
    const mean = (window: Sample[], name: string) => window.reduce((n, s) => n + s.rssKiB.get(name)!, 0) / window.length;
    // The whole curve, a tenth of the run at a time: a leak climbs steadily, a warming heap levels off.
    for (const name of services.keys()) {
      const tenths = Array.from({ length: 10 }, (_, i) => samples.filter((s) => s.at >= (SOAK_MS * i) / 10 && s.at < (SOAK_MS * (i + 1)) / 10));
      t.diagnostic(`${name} RSS by tenth of the run (MiB): ${tenths.map((w) => (w.length === 0 ? '-' : (mean(w, name) / 1024).toFixed(0))).join(' ')}`);
    }
    // Floors, not means: a garbage-collected process saws up and down by 10-20 % at this rate of
    // tiny jobs (V8 collects its old generation late), while a leak raises the lowest point the
    // collector gets back to. (Heap snapshots of the coordinator 30 s and 90 s into such a run
    // held the same 17 MiB of objects while its RSS sawed between 120 and 150 MiB.)
    const floor = (window: Sample[], name: string) => Math.min(...window.map((s) => s.rssKiB.get(name)!));
    const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
    for (const name of services.keys()) {
      const from = floor(warmUp, name);
      const to = floor(final, name);
      const heapFrom = heapsFrom.get(name)!;
      const heapTo = heapsTo.get(name)!;
      t.diagnostic(
        `${name}: live heap ${mib(heapFrom)} MiB early in the run, ${mib(heapTo)} MiB at its end (${(((heapTo - heapFrom) / heapFrom) * 100).toFixed(1)} %); ` +
          `RSS floor ${(from / 1024).toFixed(1)} MiB, then ${(to / 1024).toFixed(1)} MiB (${(((to - from) / from) * 100).toFixed(1)} %)`,
      );
      assert.ok(heapTo <= heapFrom * (1 + MAX_HEAP_GROWTH) + HEAP_SLACK_BYTES, `${name}'s live heap grew from ${heapFrom} bytes early in the run to ${heapTo} bytes at the end`);
      assert.ok(to <= from * (1 + MAX_RSS_GROWTH), `${name}'s RSS floor rose from ${from} KiB after warm-up to ${to} KiB at the end`);
    }
    for (const client of clients) for (const ref of await client.list()) await ref.delete().catch(() => undefined);
  });
});

/** The sum of every column sum: the array's sum. */
function total(partial: unknown): number {
  return (partial as { sums: number[] }).sums.reduce((a, b) => a + b, 0);
}
