/**
 * Kernels that throw, never return, exhaust their thread's heap or exit their thread, and jobs
 * cancelled by id: each fails its job with a clear typed error (or is cancelled), takes down at
 * most the worker threads it ran on, and leaves the agents serving with their partitions intact.
 * Run on real processes over NATS and on the embedded cluster.
 */
import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CancelledError, InvalidArgumentError, JobNotFoundError, KernelError, TimeoutError, type ArrayRef, type Cluster } from '../src/index.js';
import { KERNELS } from './scenarios.js';
import { eventually, settledUsedBytes, usedBytes } from './cluster-waits.js';

export const FAULTY_KERNELS = fileURLToPath(new URL('../../test/fixtures/faulty-kernels.ts', import.meta.url));

export interface FaultTarget {
  cluster(): Cluster;
  /** Another client of the same cluster (cancel comes from anyone who knows the job id). */
  otherClient(): Cluster;
  agentCount: number;
  threads: number;
  /** The agents' threadHeapMb. */
  threadHeapMb: number;
}

/** Short, so that stopping a kernel that never returns takes little of the test's time. */
const SPIN_TIMEOUT_MS = 1500;
/** Generous: a job after a fault must finish, on a loaded 2-core machine. */
const NEXT_JOB_TIMEOUT_MS = 60_000;
const ROWS = 100_000;
const COLS = 2;
/** Values 0..9: sum and count above 4.5 are easy to check. */
const DATA = Float64Array.from({ length: ROWS * COLS }, (_, i) => i % 10);
const EXPECTED_SUM = (ROWS * COLS * 45) / 10;
const EXPECTED_ABOVE = (ROWS * COLS) / 2;

export function registerKernelFaultScenarios(target: FaultTarget): void {
  let data: ArrayRef;
  let partitionsBefore: Map<string, number>;

  before(async () => {
    // One partition per thread of the cluster (1.6 MB: built-in reductions run on the threads
    // too), so a kernel that never returns holds every thread: if one were not terminated, the
    // next job would wait behind it until its own timeout and the test would fail.
    const partitions = target.agentCount * target.threads;
    data = await target.cluster().put(DATA, { shape: [ROWS, COLS], name: 'fault-data', partitions });
    // Agents report their partitions (every copy) with each heartbeat: wait until they have.
    const copies = data.placement.reduce((n, p) => n + 1 + (p.replicas?.length ?? 0), 0);
    assert.equal(copies, partitions * Math.min(2, target.agentCount));
    assert.ok(await eventually(async () => sum(await partitionCounts(target.cluster())) === copies), 'agents report the partitions');
    partitionsBefore = await partitionCounts(target.cluster());
  });

  /** What a user checks after a fault: right answers, every agent alive, its partitions there. */
  async function assertStillServing(): Promise<void> {
    const cluster = target.cluster();
    assert.equal(await cluster.reduce(data, 'sum', { timeoutMs: NEXT_JOB_TIMEOUT_MS }), EXPECTED_SUM);
    const above = await cluster.reduce(data, { module: KERNELS, partial: 'countAbove', combine: 'add', params: { threshold: 4.5 } }, { timeoutMs: NEXT_JOB_TIMEOUT_MS });
    assert.equal(above, EXPECTED_ABOVE);
    const nodes = await cluster.nodes();
    assert.equal(nodes.length, target.agentCount);
    assert.ok(nodes.every((n) => n.state === 'alive'), JSON.stringify(nodes));
    assert.deepEqual(await partitionCounts(cluster), partitionsBefore);
    assert.deepEqual(await data.toArray(), DATA);
  }

  const failsWith = (pattern: RegExp, errorClass: typeof KernelError | typeof TimeoutError | typeof CancelledError) => (error: Error) => {
    assert.ok(error instanceof errorClass, `expected ${errorClass.name}, got ${error.name}: ${error.message}`);
    assert.match(error.message, pattern);
    return true;
  };

  it('fails the job with the kernel\'s message, stack and partition when a kernel throws', async () => {
    await assert.rejects(target.cluster().reduce(data, { module: KERNELS, partial: 'throwsOnSecondHalf', combine: 'add' }), (error: Error) => {
      failsWith(/partition \d+ of array .*bad value near row/, KernelError)(error);
      assert.match(error.stack ?? '', /RangeError: bad value near row[\s\S]*kernels\.ts:\d+/);
      assert.equal(typeof (error as KernelError).details.partition, 'number');
      return true;
    });
    await assertStillServing();
  });

  it('stops a kernel that never returns at the job timeout, terminating its threads, and keeps serving', async () => {
    await assert.rejects(
      target.cluster().reduce(data, { module: FAULTY_KERNELS, partial: 'spinForever', combine: 'add' }, { timeoutMs: SPIN_TIMEOUT_MS }),
      failsWith(new RegExp(`did not finish within ${SPIN_TIMEOUT_MS} ms`), TimeoutError),
    );
    await assertStillServing();
  });

  it('stops a map that never returns at its timeout and frees its output', async () => {
    const before = await settledUsedBytes(target.cluster());
    await assert.rejects(
      target.cluster().map(data, { module: FAULTY_KERNELS, kernel: 'spinForeverMap' }, { name: 'spin-output', timeoutMs: SPIN_TIMEOUT_MS }),
      TimeoutError,
    );
    assert.ok(!(await target.cluster().list()).some((a) => a.name === 'spin-output'), 'the output is not listed');
    assert.ok(await eventually(async () => (await usedBytes(target.cluster())) === before), 'the output was freed');
    await assertStillServing();
  });

  it('fails a kernel that exhausts its thread\'s heap with "out of memory", naming the partition, and keeps serving', async () => {
    await assert.rejects(
      target.cluster().reduce(data, { module: FAULTY_KERNELS, partial: 'exhaustHeap', combine: 'add' }, { timeoutMs: NEXT_JOB_TIMEOUT_MS }),
      (error: Error) => {
        failsWith(new RegExp(`partition \\d+ of array .*exhaustHeap ran out of memory.*heap limit of ${target.threadHeapMb} MiB.*thread was replaced`), KernelError)(error);
        assert.equal((error as KernelError).details.reason, 'out-of-memory');
        return true;
      },
    );
    await assertStillServing();
  });

  it('fails a kernel that calls process.exit with "worker exited", naming the partition, and keeps serving', async () => {
    await assert.rejects(
      target.cluster().reduce(data, { module: FAULTY_KERNELS, partial: 'exitThread', combine: 'add', params: { code: 3 } }),
      failsWith(/partition \d+ of array .*exitThread ended its worker thread: the worker exited with code 3/, KernelError),
    );
    await assertStillServing();
  });

  it('cancels a running map by its job id from another client: its caller gets CancelledError and the output is freed', async () => {
    const before = await settledUsedBytes(target.cluster());
    const job = target.cluster().map(data, { module: FAULTY_KERNELS, kernel: 'spinForeverMap' }, { name: 'cancel-output' });
    job.catch(() => undefined);
    const other = target.otherClient();
    let running: Awaited<ReturnType<Cluster['runningJobs']>> = [];
    for (let i = 0; i < 200 && running.length === 0; i++) {
      running = (await other.runningJobs()).filter((j) => j.kind === 'map' && j.array === 'fault-data');
      if (running.length === 0) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(running.length, 1, 'the map shows in runningJobs()');
    await other.cancel(running[0]!.jobId);
    await assert.rejects(job, failsWith(new RegExp(`job ${running[0]!.jobId} was cancelled`), CancelledError));
    assert.deepEqual(await other.runningJobs(), []);
    assert.ok(!(await other.list()).some((a) => a.name === 'cancel-output'), 'the output is not listed');
    assert.ok(await eventually(async () => (await usedBytes(target.cluster())) === before), 'the output was freed');
    await assertStillServing();
  });

  it('refuses to cancel a job id that is not running, saying so', async () => {
    await assert.rejects(target.cluster().cancel('0123456789abcdef01234567'), (error: Error) => {
      assert.ok(error instanceof JobNotFoundError, `${error.name}: ${error.message}`);
      assert.match(error.message, /no running job has id 0123456789abcdef01234567/);
      return true;
    });
    await assert.rejects(target.cluster().cancel('not a job id'), InvalidArgumentError);
  });
}

function sum(counts: Map<string, number>): number {
  return [...counts.values()].reduce((a, b) => a + b, 0);
}

async function partitionCounts(cluster: Cluster): Promise<Map<string, number>> {
  return new Map((await cluster.nodes()).map((n) => [n.id, n.partitions]));
}
