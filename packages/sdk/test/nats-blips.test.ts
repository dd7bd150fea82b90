/**
 * NATS is allowed to blink: nats-server SIGKILLed and started again (same port, same JetStream
 * store) while a client runs jobs on a real coordinator and real agent processes. An outage
 * shorter than the liveness window costs latency only; a longer one fails the calls in flight
 * with a retryable ConnectionError; nothing hangs, no slot stays taken, every process carries on.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { startNatsServer, startProcessCluster, type NatsServer, type ProcessCluster } from '@sharc/test-support';
import { ConnectionError, connect, type ArrayRef, type Cluster } from '../src/index.js';
import { eventually, jobsRunning, hangGuard } from './cluster-waits.js';

const RECOVERY_KERNELS = fileURLToPath(new URL('../../test/fixtures/recovery-kernels.ts', import.meta.url));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Longer than any call may take here: one that has not settled by then hangs. */
const HANG_MS = 40_000;
const LOOPS = 8;

const bounded = hangGuard(HANG_MS);

describe('NATS blips: nats-server killed and restarted mid-job (real processes)', () => {
  let processes: ProcessCluster;
  let cluster: Cluster;
  let dir: string;
  /** The nats-server started again after a blip (the cluster stops only the first one). */
  let restarted: NatsServer | undefined;
  let array: ArrayRef;
  let expected: number;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-blips-'));
    processes = await startProcessCluster({ agents: 2, threads: 1, memory: '256MiB', dataDir: dir, ...(process.env.BLIPS_LOG_DIR === undefined ? {} : { logDir: process.env.BLIPS_LOG_DIR }), coordinatorArgs: ['--max-running-jobs', '4'] });
    cluster = await connect({ servers: processes.url });
    const data = Float64Array.from({ length: 40_000 }, (_, i) => (i % 97) - 48);
    expected = data.reduce((a, b) => a + b, 0);
    array = await cluster.put(data, { partitions: 4 });
  });
  after(async () => {
    await cluster?.close().catch(() => undefined);
    await restarted?.stop();
    await processes?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** SIGKILLs nats-server, waits `outageMs`, starts it again on the same port with the same store. */
  async function blip(outageMs: number): Promise<void> {
    const nats = restarted?.process ?? processes.nats!.process;
    await nats.kill();
    await sleep(outageMs);
    restarted = await startNatsServer({ port: processes.nats!.port, dataDir: dir });
  }

  /** Runs `LOOPS` reduce loops through a blip; every outcome, in order. */
  async function loopsThrough(outageMs: number, runAfter = 5): Promise<Array<{ ok: true; value: unknown } | { ok: false; error: unknown }>> {
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    let blipped = false;
    const loop = async () => {
      let afterBlip = 0;
      while (!blipped || afterBlip < runAfter) {
        if (blipped) afterBlip++;
        try {
          outcomes.push({ ok: true, value: await bounded(cluster.reduce(array, 'sum'), 'a reduce') });
        } catch (error) {
          if ((error as Error).message.includes('hangs')) throw error;
          outcomes.push({ ok: false, error });
        }
      }
    };
    const loops = Array.from({ length: LOOPS }, loop);
    await sleep(300);
    await blip(outageMs);
    blipped = true;
    await Promise.all(loops);
    return outcomes;
  }

  async function assertClusterCarriesOn(coordinatorPid: number | undefined): Promise<void> {
    assert.ok(await eventually(async () => (await bounded(cluster.runningJobs(), 'runningJobs')).length === 0), 'no job stays running or queued');
    assert.equal(processes.coordinator.running, true, 'the coordinator is still running');
    assert.equal(processes.coordinator.pid, coordinatorPid, 'the same coordinator process');
    // New jobs run afterwards, more than the 4 slots at once.
    const sums = await bounded(Promise.all(Array.from({ length: 6 }, () => cluster.reduce(array, 'sum'))), 'jobs after the blip');
    assert.deepEqual(sums, Array.from({ length: 6 }, () => expected));
  }

  for (const outageMs of [100, 1000]) {
    it(`an outage of ${outageMs} ms costs latency only: every call returns the right sum`, async () => {
      const pid = processes.coordinator.pid;
      const outcomes = await loopsThrough(outageMs);
      const failures = outcomes.filter((o) => !o.ok);
      assert.deepEqual(failures, [], 'no call fails');
      assert.ok(outcomes.length >= LOOPS * 5);
      for (const outcome of outcomes) assert.deepEqual(outcome, { ok: true, value: expected });
      await assertClusterCarriesOn(pid);
    });
  }

  it('a map through a blip writes the right output', async () => {
    const pid = processes.coordinator.pid;
    const input = await cluster.put(Float64Array.from({ length: 20_000 }, (_, i) => i % 13), { partitions: 4 });
    // Each block spins 200 ms: 4 maps of 4 partitions keep both agents' threads busy through the blip.
    const maps = Array.from({ length: 4 }, () => bounded(cluster.map(input, { module: RECOVERY_KERNELS, kernel: 'slowAffine', params: { ms: 200 } }), 'a map'));
    await jobsRunning(cluster, 2, 100);
    await blip(500);
    const outputs = await Promise.all(maps);
    for (const output of outputs) {
      assert.deepEqual(await bounded(output.toArray(), 'toArray'), Float64Array.from({ length: 20_000 }, (_, i) => 2 * (i % 13) + 1));
      await output.delete();
    }
    await input.delete();
    await assertClusterCarriesOn(pid);
  });

  it('file loads through a blip: each answers with its array, loaded once', async () => {
    const pid = processes.coordinator.pid;
    const file = path.join(dir, 'blip-load.npy');
    const values = Float64Array.from({ length: 4_000_000 }, (_, i) => i % 101);
    const source = await cluster.put(values, { shape: [1_000_000, 4], partitions: 2 });
    await source.save(file);
    await source.delete();
    const before = (await cluster.list()).length;
    // 32 MiB read by the agents each time: loads are on their way when nats-server goes.
    const loads = Array.from({ length: 6 }, (_, i) => bounded(cluster.fromFile(file, { name: `blip-load-${i}`, partitions: 2 }), `file load ${i}`));
    await sleep(30);
    await blip(300);
    const refs = await Promise.all(loads);
    const expectedSum = values.reduce((a, b) => a + b, 0);
    for (const ref of refs) assert.equal(await bounded(cluster.reduce(ref, 'sum'), 'reduce of a loaded array'), expectedSum);
    assert.equal((await cluster.list()).length, before + refs.length, 'each load stored its array once');
    for (const ref of refs) await ref.delete();
    await assertClusterCarriesOn(pid);
  });

  it('an outage of 5 s fails the calls in flight with a retryable ConnectionError; none hangs, slots are freed', async () => {
    const pid = processes.coordinator.pid;
    const outcomes = await loopsThrough(5000, 2);
    for (const outcome of outcomes) {
      if (outcome.ok) assert.equal(outcome.value, expected);
      else {
        assert.ok(outcome.error instanceof ConnectionError, `a ConnectionError, not ${String(outcome.error)}`);
        assert.equal(outcome.error.retryable, true);
      }
    }
    await assertClusterCarriesOn(pid);
  });
});
