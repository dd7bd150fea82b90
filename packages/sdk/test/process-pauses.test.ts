/**
 * A process that stops running for a while (SIGSTOP then SIGCONT: a long GC or heap snapshot, a
 * debugger, a suspended VM) while a client works against it: every call settles, right, once it
 * runs again, and nothing hangs. Real nats-server, coordinator and agent processes.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import { connect, type Cluster } from '../src/index.js';
import { eventually, hangGuard } from './cluster-waits.js';

const KERNELS = fileURLToPath(new URL('../../test/fixtures/recovery-kernels.ts', import.meta.url));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Far beyond what any call here takes once the processes run again: one still pending then hangs. */
const HANG_MS = 30_000;

const bounded = hangGuard(HANG_MS);

describe('process pauses (SIGSTOP, SIGCONT) during work (real processes)', () => {
  let processes: ProcessCluster;
  let cluster: Cluster;
  let dir: string;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-pauses-'));
    await mkdir(path.join(dir, 'logs'));
    processes = await startProcessCluster({ agents: 2, threads: 1, memory: '256MiB', dataDir: dir, logDir: path.join(dir, 'logs') });
    cluster = await connect({ servers: processes.url });
  });
  after(async () => {
    await cluster?.close().catch(() => undefined);
    await processes?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /**
   * Runs put/count/delete, reduce and map loops (twice each) while `pause()` runs, and a few
   * rounds after it: every call must answer right; what failed is returned.
   */
  async function workThrough(pause: () => Promise<void>): Promise<{ failures: unknown[]; rounds: number }> {
    const data = Float64Array.from({ length: 8192 }, (_, i) => (i % 13) - 6);
    const sum = data.reduce((a, b) => a + b, 0);
    const array = await cluster.put(data, { shape: [4096, 2], partitions: 3 });
    let paused = false;
    const failures: unknown[] = [];
    let rounds = 0;
    const loop = async (kind: number) => {
      let afterPause = 0;
      while (!paused || afterPause < 3) {
        if (paused) afterPause++;
        try {
          if (kind === 0) {
            assert.equal(await bounded(cluster.reduce(array, 'sum'), 'a reduce'), sum);
          } else if (kind === 1) {
            const small = await bounded(cluster.put(data.subarray(0, 256)), 'a put');
            assert.equal(await bounded(cluster.reduce(small, 'count'), 'a count'), 256);
            await bounded(small.delete(), 'a delete');
          } else {
            const doubled = await bounded(cluster.map(array, { module: KERNELS, kernel: 'slowAffine', params: { ms: 0 } }), 'a map');
            assert.deepEqual(await bounded(doubled.toArray(), 'a read'), data.map((v) => 2 * v + 1));
            await bounded(doubled.delete(), 'a delete');
          }
          rounds++;
        } catch (error) {
          if ((error as Error).message.includes('hangs')) throw error;
          failures.push(error);
        }
      }
    };
    const loops = [0, 1, 2, 0, 1, 2].map(loop);
    await sleep(500);
    await pause();
    paused = true;
    await Promise.all(loops);
    assert.equal(await cluster.reduce(array, 'sum'), sum);
    await array.delete();
    return { failures, rounds };
  }

  /** Stops the coordinator process for `ms`, then lets it run again. */
  async function pauseCoordinator(ms: number): Promise<void> {
    const coordinator = processes.coordinator.child;
    coordinator.kill('SIGSTOP');
    await sleep(ms);
    coordinator.kill('SIGCONT');
  }

  it('the coordinator paused for 6 s (past its 3 s lease): puts, reduces, maps and deletes in flight all answer right afterwards', async () => {
    const { failures, rounds } = await workThrough(() => pauseCoordinator(6000));
    assert.deepEqual(failures, [], 'no call fails: the coordinator answers what arrived while it was stopped');
    assert.ok(rounds > 18);
    assert.equal(processes.coordinator.running, true, 'the coordinator carries on');
    assert.ok(await eventually(async () => (await cluster.nodes()).every((node) => node.state === 'alive')), 'both agents alive');
  });

  it('the coordinator paused again and again (1-4 s, around its lease and the agents\' liveness window): no call fails, no agent is declared dead', async () => {
    const { failures, rounds } = await workThrough(async () => {
      for (const ms of [1500, 3500, 2500, 4000, 1000, 3000, 2000]) {
        await pauseCoordinator(ms);
        await sleep(1200);
      }
    });
    assert.deepEqual(failures, [], 'no call fails: answers made while the lease lapsed go out once it is back');
    assert.ok(rounds > 18);
    assert.deepEqual((await cluster.nodes()).map((node) => node.state), ['alive', 'alive']);
    // Heartbeats that arrived while it was stopped are read after its first timer: judged by
    // that timer, every agent would have looked silent past its window.
    const log = await readFile(path.join(dir, 'logs', 'coordinator.log'), 'utf8');
    assert.deepEqual(log.split('\n').filter((line) => line.includes('agent declared dead')), []);
  });
});
