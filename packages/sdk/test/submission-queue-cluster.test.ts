/**
 * Any number of jobs in flight, on real processes (nats-server, a coordinator, two agents):
 * one client's Promise.all over 20,000 tiny reduces completes with every result right (the
 * SDK's submission queue keeps maxJobsInFlight submitted and the rest waiting in the client);
 * against a coordinator with a tiny admission, a burst is refused with BusyError when the
 * client's retries are off and completes when they are on; a call aborted while it waits in
 * the client is never submitted; and the coordinator sums refusals up in its log instead of
 * writing one info line each.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import { BusyError, CancelledError, connect, type ArrayRef, type Cluster, type JobStatus } from '../src/index.js';
import { KERNELS } from './scenarios.js';

/** Calls in one Promise.all (100,000 were run by hand: bench/probe-queue.mjs). */
const CALLS = 20_000;

describe('Promise.all over many tiny reduces from one client', () => {
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

  it(`completes ${CALLS.toLocaleString('en')} calls at once, every result right`, async () => {
    // Four small arrays of different contents, so a result given to the wrong call shows.
    const datasets = Array.from({ length: 4 }, (_, k) => Float64Array.from({ length: 8 }, (_, i) => (i + 1) * (k + 1)));
    const arrays: ArrayRef[] = await Promise.all(datasets.map((data) => cluster.put(data, { partitions: 2 })));
    const expected = (i: number) => {
      const data = datasets[i % 4]!;
      return i % 2 === 0 ? data.reduce((a, b) => a + b, 0) : Math.max(...data);
    };
    const results = await Promise.all(Array.from({ length: CALLS }, (_, i) => cluster.reduce(arrays[i % 4]!, i % 2 === 0 ? 'sum' : 'max')));
    const wrong = results.map((value, i) => [i, value, expected(i)] as const).filter(([, value, want]) => value !== want);
    assert.deepEqual(wrong.slice(0, 5), [], `${wrong.length} wrong results`);
    assert.equal(results.length, CALLS);
    await Promise.all(arrays.map((a) => a.delete()));
  });
});

describe('a coordinator with a tiny admission (1 running, 2 queued)', () => {
  let processes: ProcessCluster;
  let logDir: string;
  let watcher: Cluster;
  let input: ArrayRef;
  const data = Float64Array.from({ length: 2_000 }, (_, i) => i % 13);
  const expectedSum = data.reduce((a, b) => a + b, 0);
  const BURST = 40;
  /** Refusals the client with retries off was given. */
  let refusalsSeen = 0;
  let startedAt = 0;
  /** A reduce whose blocks spin `ms` first: each job holds the coordinator's one running slot that long. */
  const slowReduce = (client: Cluster, ms: number, options: { signal?: AbortSignal } = {}) =>
    client.reduce(input, { module: KERNELS, partial: 'slowSum', combine: 'add', params: { ms } }, { timeoutMs: 60_000, ...options });
  const burst = (client: Cluster) => Promise.allSettled(Array.from({ length: BURST }, () => slowReduce(client, 20)));

  async function watchJobs(done: (jobs: JobStatus[]) => boolean, timeoutMs = 20_000): Promise<JobStatus[]> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const jobs = await watcher.runningJobs();
      if (done(jobs) || Date.now() > until) return jobs;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  before(async () => {
    startedAt = Date.now();
    logDir = await mkdtemp(path.join(os.tmpdir(), 'sharc-queue-'));
    processes = await startProcessCluster({
      agents: 2,
      threads: 1,
      memory: '256MiB',
      logDir,
      env: { SHARC_LOG_LEVEL: 'info' },
      coordinatorArgs: ['--max-running-jobs', '1', '--max-queued-jobs', '2'],
    });
    watcher = await connect({ servers: processes.url });
    input = await watcher.put(data, { name: 'input', partitions: 2 });
    // Uploads the kernel once, before any burst.
    assert.equal(await slowReduce(watcher, 0), expectedSum);
  });
  after(async () => {
    await watcher?.close();
    await processes?.stop();
    await rm(logDir, { recursive: true, force: true });
  });

  it('with retryBusy off, a burst gets retryable BusyErrors; what was accepted is right', async () => {
    // Through the coordinator (its admission is what refuses), not straight to the agents.
    const client = await connect({ servers: processes.url, retryBusy: false, directReduce: false });
    try {
      const outcomes = await burst(client);
      const refused = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
      assert.ok(refused.length > 0, 'some of the burst was refused');
      refusalsSeen += refused.length;
      for (const { reason } of refused) {
        assert.ok(reason instanceof BusyError, `expected BusyError, got ${String(reason)}`);
        assert.equal(reason.retryable, true);
      }
      for (const o of outcomes) if (o.status === 'fulfilled') assert.equal(o.value, expectedSum);
    } finally {
      await client.close();
    }
  });

  it('with retries on (the default), the same burst completes, every result right', async () => {
    const client = await connect({ servers: processes.url, directReduce: false });
    try {
      const outcomes = await burst(client);
      assert.deepEqual(
        outcomes.filter((o) => o.status === 'rejected').map((o) => String((o as PromiseRejectedResult).reason)),
        [],
      );
      for (const o of outcomes) assert.equal((o as PromiseFulfilledResult<unknown>).value, expectedSum);
    } finally {
      await client.close();
    }
  });

  it('a call aborted while it waits in the client rejects with CancelledError and never reaches the coordinator', async () => {
    const client = await connect({ servers: processes.url, maxJobsInFlight: 1, directReduce: false });
    try {
      const holding = slowReduce(client, 2_000);
      const running = await watchJobs((jobs) => jobs.length === 1 && jobs[0]!.state === 'running');
      assert.equal(running.length, 1, JSON.stringify(running));
      const controller = new AbortController();
      const waiting = slowReduce(client, 0, { signal: controller.signal });
      const next = slowReduce(client, 0);
      // Waiting in the client: the coordinator, whose queue has room, has not heard of them.
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.deepEqual((await watcher.runningJobs()).map((j) => j.jobId), [running[0]!.jobId]);
      controller.abort();
      await assert.rejects(waiting, (error: unknown) => error instanceof CancelledError && /never submitted/.test(error.message));
      assert.equal(await holding, expectedSum);
      assert.equal(await next, expectedSum);
      assert.deepEqual(await watchJobs((jobs) => jobs.length === 0), []);
    } finally {
      await client.close();
    }
  });

  it('the coordinator counts refusals in a summary line, not one info line each', async () => {
    // The services log with pino: JSON lines, `level` a number (20 debug, 30 info), `msg` the message.
    const INFO = 30;
    type Line = { level: number; msg: string; refused?: number; refusedTotal?: number; error?: string };
    const readLog = async () =>
      (await readFile(path.join(logDir, 'coordinator.log'), 'utf8'))
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Line);
    const summariesIn = (lines: Line[]) => lines.filter((l) => l.level === INFO && /refus/.test(l.msg) && typeof l.refused === 'number');
    const summedIn = (lines: Line[]) => summariesIn(lines).reduce((sum, l) => sum + (l.refused ?? 0), 0);
    // The first refusal is logged at once, the rest summed up within REFUSAL_SUMMARY_INTERVAL_MS (10 s).
    const until = Date.now() + 15_000;
    let lines = await readLog();
    while (Date.now() < until && summedIn(lines) < refusalsSeen) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      lines = await readLog();
    }
    const perRefusal = lines.filter((l) => l.level >= INFO && /refused/.test(l.msg) && /busy|queued/i.test(l.error ?? ''));
    assert.deepEqual(perRefusal, [], 'no refusal logged on its own above debug');
    const summaries = summariesIn(lines);
    const summed = summedIn(lines);
    // Every refusal the client without retries saw was counted (and those of the retried burst).
    assert.ok(summed >= refusalsSeen, `summed ${summed}, the client without retries saw ${refusalsSeen}`);
    // One line when refusals start, then at most one per 10 s while they go on.
    const allowed = 2 + Math.ceil((Date.now() - startedAt) / 10_000);
    assert.ok(summaries.length <= allowed && summaries.length < summed, `${summaries.length} summary lines for ${summed} refusals`);
  });
});
