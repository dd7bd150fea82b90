/**
 * Detached jobs (cluster.submit, cluster.job) on real processes: nats-server with JetStream, a
 * coordinator keeping its state there, agent processes. A submitted job outlives its client;
 * its outcome is kept by the coordinator and found again from another client, then forgotten
 * after keepResultsMs.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import { connect, InvalidArgumentError, JobNotFoundError, KernelError, type Cluster } from '../src/index.js';
import type { BlockReport } from './fixtures/recovery-kernels.js';
import { KERNELS } from './scenarios.js';

const RECOVERY_KERNELS = fileURLToPath(new URL('../../test/fixtures/recovery-kernels.ts', import.meta.url));

describe('detached jobs: cluster.submit and cluster.job (real processes)', () => {
  let processes: ProcessCluster;
  let cluster: Cluster;
  before(async () => {
    processes = await startProcessCluster({ agents: 2, threads: 1, memory: '256MiB' });
    cluster = await connect({ servers: processes.url });
  });
  after(async () => {
    await cluster?.close();
    await processes?.stop();
  });

  it('a custom reduce outlives the client that submitted it; another client reattaches by id and gets the value cluster.reduce gives', async () => {
    const submitter = await connect({ servers: processes.url });
    const rows = 4000;
    const array = await submitter.put(Float64Array.from({ length: rows }, (_, i) => i), { partitions: 6, name: 'reports-input' });
    const kernel = { module: RECOVERY_KERNELS, partial: 'reportBlock', combine: 'concatReports' };
    // 6 one-block partitions of 3 s on 2 threads: it runs longer than the coordinator's liveness
    // window for a client (about 5 s), past which a job that is not detached would be cancelled.
    const job = await submitter.submit<BlockReport[]>('reduce', array, { ...kernel, params: { ms: 3000 } });
    assert.match(job.id, /^[0-9a-f]+$/);
    const early = await job.status();
    assert.ok(['queued', 'running'].includes(early.state), `just submitted: ${early.state}`);
    assert.equal(early.kind, 'reduce');
    assert.equal(early.array, 'reports-input');
    // The submitter goes away while the job runs.
    await submitter.close();

    const handle = await cluster.job<BlockReport[]>(job.id);
    const progress: number[] = [];
    const reports = await handle.result({ onProgress: (done) => progress.push(done) });
    // Every partition's blocks exactly once, in row order: the agent folded the partials in order.
    const expected = await cluster.reduce<BlockReport[]>(await cluster.open('reports-input'), { ...kernel, params: { ms: 0 } });
    assert.deepEqual(
      reports.map((r) => [r.rowStart, r.elements]),
      expected.map((r) => [r.rowStart, r.elements]),
    );
    assert.equal(reports.reduce((n, r) => n + r.elements, 0), rows);
    const done = await handle.status();
    assert.equal(done.state, 'done');
    assert.equal(done.doneBlocks, done.totalBlocks);
    assert.ok(done.endedAt !== undefined && done.endedAt >= done.submittedAt);
    assert.ok(done.expiresAt !== undefined && done.expiresAt > done.endedAt);
    assert.equal(progress.at(-1), done.totalBlocks, 'the wait reported progress up to the last block');
    // Listed among finished jobs, for every client.
    const listed = (await cluster.jobs()).find((j) => j.jobId === job.id);
    assert.equal(listed?.state, 'done');
    assert.equal(listed?.detached, true);
  });

  it('built-in reductions give what cluster.reduce and the ArrayRef methods give (ddof, axis 0, histogram), an int64 sum exactly as a bigint', async () => {
    const floats = await cluster.put(Float64Array.from({ length: 5000 }, (_, i) => Math.sin(i) * 100), { partitions: 4 });
    for (const op of ['sum', 'mean', 'std', 'argmax', 'min', 'count'] as const) {
      const job = await cluster.submit('reduce', floats, op);
      assert.equal(await job.result(), await cluster.reduce(floats, op), op);
    }
    // With the options of the ArrayRef methods: ddof, axis 0, a histogram with its range.
    const grid = await cluster.put(Float64Array.from({ length: 3000 }, (_, i) => Math.cos(i)), { shape: [1000, 3], partitions: 3 });
    assert.equal(await (await cluster.submit('reduce', grid, 'std', { ddof: 1 })).result(), await grid.std({ ddof: 1 }));
    assert.deepEqual(await (await cluster.submit('reduce', grid, 'mean', { axis: 0 })).result(), await grid.mean({ axis: 0 }));
    assert.deepEqual(await (await cluster.submit('reduce', grid, 'histogram', { bins: 7, range: [-1, 1] })).result(), await grid.histogram({ bins: 7, range: [-1, 1] }));
    await assert.rejects(cluster.submit('reduce', grid, 'sum', { axis: 1 } as never), /makes a new array of one value per row/);
    await assert.rejects(cluster.submit('reduce', grid, 'histogram', { bins: 7 }), /needs range/);
    await assert.rejects(cluster.submit('reduce', grid, 'sum', { ddof: 1 } as never), /ddof/);
    const big = await cluster.put(BigInt64Array.from({ length: 1000 }, (_, i) => 2n ** 60n + BigInt(i)), { partitions: 3 });
    const sum = await (await cluster.submit('reduce', big, 'sum')).result();
    assert.equal(typeof sum, 'bigint');
    assert.equal(sum, await cluster.reduce(big, 'sum'));
  });

  it('a large value is given whole by result(), and left out of the jobs listing (which must fit in a message)', async () => {
    const array = await cluster.put(new Float64Array(3000).fill(1), { partitions: 3 });
    const kernel = { module: KERNELS, partial: 'wideSum', combine: 'addWide', params: { width: 2000 } };
    const job = await cluster.submit<number[]>('reduce', array, kernel);
    const value = await job.result();
    assert.deepEqual(value, await cluster.reduce(array, kernel));
    assert.equal(value.length, 2000);
    const listed = (await cluster.jobs()).find((j) => j.jobId === job.id);
    assert.equal(listed?.state, 'done');
    assert.equal(listed?.valueOmitted, true);
    assert.equal(listed?.value, undefined);
  });

  it('a map without a name gets one; result() opens its output, which holds the map', async () => {
    const data = Float64Array.from({ length: 3000 }, (_, i) => i - 1500);
    const array = await cluster.put(data, { partitions: 3 });
    const job = await cluster.submit('map', array, { module: KERNELS, kernel: 'scale', params: { factor: 3 } });
    const output = await job.result();
    assert.deepEqual(await output.toArray(), data.map((v) => v * 3));
    const info = await job.status();
    assert.equal(info.output, output.name);
    assert.deepEqual((await cluster.open(output.name)).id, output.id);
  });

  it("a failing kernel: the job fails, result() rejects with the kernel's error and status() shows it", async () => {
    const array = await cluster.put(new Float64Array(4000).fill(1), { partitions: 4 });
    const job = await cluster.submit('reduce', array, { module: KERNELS, partial: 'throwsOnSecondHalf', combine: 'add' });
    await assert.rejects(job.result(), (error: unknown) => error instanceof KernelError && /bad value near row/.test(error.message));
    const info = await job.wait();
    assert.equal(info.state, 'failed');
    assert.match(info.error?.message ?? '', /bad value near row/);
  });

  it('cancel() stops a running job; it is kept as cancelled', async () => {
    const array = await cluster.put(new Float64Array(4000).fill(1), { partitions: 2 });
    const job = await cluster.submit('reduce', array, { module: KERNELS, partial: 'slow', combine: 'add', params: { ms: 60_000 } });
    await job.cancel();
    const info = await job.wait();
    assert.equal(info.state, 'cancelled');
    await assert.rejects(job.result(), /cancelled/);
  });

  it('refuses what it cannot do, naming the fix', async () => {
    const array = await cluster.put(new Float64Array(10));
    await assert.rejects(cluster.job('0123456789abcdef01234567'), (error: unknown) => error instanceof JobNotFoundError && /sharc jobs/.test(error.message));
    await assert.rejects(
      cluster.submit('reduce', array, 'sum', { onProgress: () => undefined } as never),
      (error: unknown) => error instanceof InvalidArgumentError && /handle\.wait\(\{ onProgress \}\)/.test(error.message),
    );
    await assert.rejects(cluster.submit('reduce', array, 'sum', { timeoutMS: 5 } as never), /timeoutMs/);
    await assert.rejects(cluster.submit('map', array, { module: KERNELS, kernel: 'scale' }, { nmae: 'x' } as never), /name/);
    await assert.rejects(cluster.submit('reduce', array, 'summ' as never), /did you mean 'sum'/);
    await assert.rejects(cluster.submit('reduce', await cluster.put(new Float64Array(0)), 'max'), InvalidArgumentError);
  });
});

describe('detached jobs: outcomes are kept for keepResultsMs, then forgotten (real processes)', () => {
  let processes: ProcessCluster;
  let cluster: Cluster;
  before(async () => {
    processes = await startProcessCluster({ agents: 1, threads: 1, memory: '64MiB', coordinatorArgs: ['--keep-results', '1'] });
    cluster = await connect({ servers: processes.url });
  });
  after(async () => {
    await cluster?.close();
    await processes?.stop();
  });

  it('an expired result is gone, with an error naming the keep time and sharc jobs', async () => {
    const array = await cluster.put(new Float64Array(100).fill(2));
    const job = await cluster.submit('reduce', array, 'sum');
    // Kept for 1 ms after it ends: ask until the coordinator no longer knows it.
    let error: unknown;
    for (;;) {
      try {
        const info = await job.status();
        assert.ok(info.state !== 'failed' && info.state !== 'cancelled', JSON.stringify(info));
      } catch (caught) {
        error = caught;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.ok(error instanceof JobNotFoundError, String(error));
    assert.match(error.message, /more than 1 ms ago/);
    assert.match(error.message, /sharc jobs/);
    assert.equal((await cluster.jobs()).find((j) => j.jobId === job.id), undefined);
  });
});
