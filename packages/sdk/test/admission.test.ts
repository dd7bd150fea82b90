/**
 * Admission and backpressure on real processes (nats-server, a coordinator run with
 * `--max-running-jobs 1 --max-queued-jobs 3`, two agents): jobs beyond the running slot wait
 * in a FIFO queue and allocate nothing until they start, a queued job can be cancelled, and a
 * flood of submissions gets a retryable BusyError for what does not fit in the queue while
 * every accepted job completes correctly and no process dies.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import { BusyError, CancelledError, connect, type ArrayRef, type Cluster, type JobStatus } from '../src/index.js';
import { KERNELS } from './scenarios.js';

const MAX_RUNNING = 1;
const MAX_QUEUED = 3;
const ROWS = 20_000;
const JOB_TIMEOUT_MS = 60_000;
/** Longer than any test below takes: a holding job always ends by cancel. */
const HOLD_MS = 40_000;

describe('job admission on real processes', () => {
  let processes: ProcessCluster;
  let cluster: Cluster;
  let watcher: Cluster;
  let input: ArrayRef;
  const data = Float64Array.from({ length: ROWS }, (_, i) => i % 97);
  const expectedSum = data.reduce((a, b) => a + b, 0);
  /** A reduce whose every block spins `ms` first: one block per partition here. */
  const slowReduce = (ms: number, options: { signal?: AbortSignal } = {}) =>
    cluster.reduce(input, { module: KERNELS, partial: 'slowSum', combine: 'add', params: { ms } }, { timeoutMs: JOB_TIMEOUT_MS, ...options });
  const allAlive = () => [processes.coordinator, ...processes.agents.values()].every((service) => service.running);
  const usedBytes = async () => (await watcher.nodes()).reduce((sum, node) => sum + node.usedBytes, 0);

  before(async () => {
    processes = await startProcessCluster({
      agents: 2,
      threads: 1,
      memory: '256MiB',
      coordinatorArgs: ['--max-running-jobs', String(MAX_RUNNING), '--max-queued-jobs', String(MAX_QUEUED)],
    });
    // The coordinator's admission is what is tested: reduces go through it, not straight to the agents,
    // and with retries off (submission-queue-cluster.test.ts: the client's retries).
    cluster = await connect({ servers: processes.url, retryBusy: false, directReduce: false });
    watcher = await connect({ servers: processes.url });
    input = await cluster.put(data, { name: 'input', partitions: 2 });
    // Bundles and uploads the kernel once, so the submissions below all reach the coordinator at once.
    assert.equal(await slowReduce(0), expectedSum);
  });
  after(async () => {
    await watcher?.close();
    await cluster?.close();
    await processes?.stop();
  });

  /**
   * Starts a job that holds the running slot until `release()` cancels it, and returns once it
   * runs: the checks made meanwhile do not race its end, however slow the machine.
   */
  const holdSlot = async () => {
    const controller = new AbortController();
    const job = slowReduce(HOLD_MS, { signal: controller.signal });
    job.catch(() => undefined);
    await watchJobs((jobs) => jobs.some((j) => j.state === 'running'));
    return {
      release: async () => {
        controller.abort();
        await assert.rejects(job, CancelledError);
      },
    };
  };

  /** Polls runningJobs() from another client until `done` holds for what it shows. */
  async function watchJobs(done: (jobs: JobStatus[]) => boolean, timeoutMs = 20_000): Promise<JobStatus[]> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const jobs = await watcher.runningJobs();
      if (done(jobs) || Date.now() > until) return jobs;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  it('runs one job at a time and queues the rest; a queued map allocates its output only when it starts', async () => {
    // The input's 2 copies, once the agents' heartbeats have reported them.
    const baseline = 2 * data.byteLength;
    for (let i = 0; i < 50 && (await usedBytes()) !== baseline; i++) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(await usedBytes(), baseline);
    // The holding job first, running before the others are sent: they queue behind it in any order.
    const hold = await holdSlot();
    const reduces = [slowReduce(300), slowReduce(300)];
    const map = cluster.map(input, { module: KERNELS, kernel: 'scale', params: { factor: 2 } }, { dtype: 'float64', name: 'doubled', timeoutMs: JOB_TIMEOUT_MS });
    const seen = await watchJobs((jobs) => jobs.length === 4);
    assert.equal(seen.length, 4, JSON.stringify(seen));
    assert.deepEqual(seen.map((j) => j.state).sort(), ['queued', 'queued', 'queued', 'running'], JSON.stringify(seen));
    assert.equal(seen.find((j) => j.state === 'running')!.kind, 'reduce');
    assert.equal(seen.filter((j) => j.kind === 'map' && j.state === 'queued').length, 1, 'the map waits in the queue');
    // Heartbeats report usage every second: give one a chance to show an allocation, if any.
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const whileQueued = await watchJobs(() => true);
    assert.ok(whileQueued.some((j) => j.kind === 'map' && j.state === 'queued'), 'the map is still queued');
    assert.equal(await usedBytes(), baseline, 'a queued map holds no agent memory');

    await hold.release();
    for (const result of await Promise.all(reduces)) assert.equal(result, expectedSum);
    const doubled = await map;
    assert.deepEqual(await doubled.toArray(), data.map((v) => v * 2));
    await doubled.delete();
    assert.deepEqual(await watchJobs((jobs) => jobs.length === 0), []);
  });

  it('takes a cancelled job out of the queue: by its signal and by id from another client', async () => {
    const hold = await holdSlot();
    const controller = new AbortController();
    // One at a time, so the queue holds them in this order.
    const queuedCount = (n: number) => watchJobs((jobs) => jobs.filter((j) => j.state === 'queued').length === n);
    const bySignal = slowReduce(0, { signal: controller.signal });
    await queuedCount(1);
    const byId = slowReduce(0);
    await queuedCount(2);
    const last = slowReduce(0);
    const seen = await watchJobs((jobs) => jobs.filter((j) => j.state === 'queued').length === 3);
    const queued = seen.filter((j) => j.state === 'queued');
    assert.equal(queued.length, 3, JSON.stringify(seen));
    controller.abort();
    await assert.rejects(bySignal, CancelledError);
    // The coordinator lists jobs by arrival: after the one cancelled by signal comes byId's.
    const remaining = await watchJobs((jobs) => jobs.filter((j) => j.state === 'queued').length === 2);
    const target = remaining.filter((j) => j.state === 'queued')[0]!;
    // Its caller may hear of it before the cancel's own answer comes back.
    const byIdRefused = assert.rejects(byId, CancelledError);
    await watcher.cancel(target.jobId);
    await byIdRefused;
    const afterCancel = await watcher.runningJobs();
    assert.ok(!afterCancel.some((j) => j.jobId === target.jobId), 'the cancelled job left the queue');
    await hold.release();
    assert.equal(await last, expectedSum);
    assert.deepEqual(await watchJobs((jobs) => jobs.length === 0), []);
  });

  it('refuses a flood beyond the queue with a retryable BusyError; every accepted job completes correctly', async () => {
    const FLOOD = 300;
    assert.deepEqual(await watchJobs((jobs) => jobs.length === 0), [], 'the queue is empty before the flood');
    const hold = await holdSlot();
    // Everything arrives while the slot is held: the queue takes MAX_QUEUED, the rest is refused.
    let settled = 0;
    const flood = Array.from({ length: FLOOD }, () => {
      const job = slowReduce(100);
      job.then(
        () => settled++,
        () => settled++,
      );
      return job;
    });
    const refusals = FLOOD - MAX_QUEUED;
    for (let i = 0; i < 400 && settled < refusals; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(settled, refusals, 'every submission beyond the queue was answered at once, while the slot was held');
    await hold.release();
    const outcomes = await Promise.allSettled(flood);
    const accepted = outcomes.filter((o): o is PromiseFulfilledResult<unknown> => o.status === 'fulfilled');
    const refused = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    for (const { reason } of refused) {
      assert.ok(reason instanceof BusyError, `expected BusyError, got ${String(reason)}`);
      assert.equal(reason.code, 'BUSY');
      assert.equal(reason.retryable, true);
      assert.match(reason.message, /queued.*retry later/);
    }
    for (const { value } of accepted) assert.equal(value, expectedSum);
    assert.equal(accepted.length, MAX_QUEUED, `${accepted.length} accepted`);
    assert.equal(refused.length, refusals, `${refused.length} refused`);
    assert.ok(allAlive(), 'every process of the cluster is still running');
    assert.equal((await watcher.nodes()).filter((n) => n.state === 'alive').length, 2);
    // Busy is not broken: once the queue drains, a new job runs.
    assert.equal(await cluster.reduce(input, 'sum'), expectedSum);
    assert.deepEqual(await input.toArray(), data);
  });
});
