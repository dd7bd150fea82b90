/**
 * The worker pool after kernel faults: a thread whose kernel never returns is terminated when
 * its task is aborted, one that exhausts its heap or exits fails with a KernelError saying so,
 * and in every case the pool is back to its full count of working threads. "Every thread works"
 * is proven by a rendezvous: one request per thread, each waiting for all the others.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CancelledError, KernelError, createLogger } from '@sharc/protocol';
import { WorkerPool } from '../src/workers/pool.js';
import type { WorkerRequest } from '../src/workers/worker-protocol.js';

const THREADS = 2;
const HEAP_MB = 32;
/** A rendezvous that is not complete by then has a thread missing: the test fails, it does not hang. */
const RENDEZVOUS_MS = 20_000;

const KERNEL_MODULE = `
export function rendezvous(_block, ctx) {
  const arrived = ctx.params.arrived;
  Atomics.add(arrived, 0, 1);
  Atomics.notify(arrived, 0);
  const until = Date.now() + ${RENDEZVOUS_MS};
  for (let seen = Atomics.load(arrived, 0); seen < ctx.params.threads; seen = Atomics.load(arrived, 0)) {
    if (Date.now() > until) return false;
    Atomics.wait(arrived, 0, seen, 100);
  }
  return true;
}
export function spin() { for (;;) {} }
export function hog() { const hoard = []; for (;;) hoard.push(new Array(100000).fill(Math.random())); }
export function exit() { process.exit(3); }
`;

describe('worker pool: kernel faults take down only their thread, which is replaced', () => {
  let dir: string;
  let pool: WorkerPool;
  const input = new SharedArrayBuffer(8);

  const request = (exportName: string, params: unknown): WorkerRequest => ({
    kind: 'reduce',
    kernel: { kind: 'module', path: path.join(dir, 'kernels.mjs'), exportName, label: `kernels.mjs#${exportName}`, dtypes: ['float64'] },
    input: { buffer: input, dtype: 'float64', rowStart: 0, cols: 1 },
    blocks: [{ rowStart: 0, rowCount: 1 }],
    shape: [1],
    params,
  });

  /** One request per thread, each of which returns only once all have started. */
  async function assertEveryThreadWorks(): Promise<void> {
    const arrived = new Int32Array(new SharedArrayBuffer(4));
    const signal = AbortSignal.timeout(RENDEZVOUS_MS + 10_000);
    const results = await Promise.all(
      Array.from({ length: THREADS }, () => pool.run(request('rendezvous', { arrived, threads: THREADS }), signal)),
    );
    assert.deepEqual(results.map((r) => r.partials), Array.from({ length: THREADS }, () => [true]));
  }

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-pool-'));
    await writeFile(path.join(dir, 'kernels.mjs'), KERNEL_MODULE);
    pool = new WorkerPool({ threads: THREADS, threadHeapMb: HEAP_MB, logger: createLogger('pool test') });
  });
  after(async () => {
    await pool?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('has every thread working to begin with', assertEveryThreadWorks);

  it('terminates threads whose kernels never return when their tasks are aborted', async () => {
    const controller = new AbortController();
    const spins = Array.from({ length: THREADS }, () => pool.run(request('spin', undefined), controller.signal));
    setTimeout(() => controller.abort(), 300);
    for (const spin of spins) await assert.rejects(spin, CancelledError);
    await assertEveryThreadWorks();
  });

  it('fails a kernel that exhausts its heap with a KernelError saying "out of memory"', async () => {
    await assert.rejects(pool.run(request('hog', undefined)), (error: Error) => {
      assert.ok(error instanceof KernelError, `${error.name}: ${error.message}`);
      assert.match(error.message, new RegExp(`kernels\\.mjs#hog ran out of memory.*heap limit of ${HEAP_MB} MiB.*thread was replaced`));
      assert.equal(error.details.reason, 'out-of-memory');
      return true;
    });
    await assertEveryThreadWorks();
  });

  it('fails a kernel that calls process.exit with a KernelError saying the worker exited', async () => {
    await assert.rejects(pool.run(request('exit', undefined)), (error: Error) => {
      assert.ok(error instanceof KernelError, `${error.name}: ${error.message}`);
      assert.match(error.message, /kernels\.mjs#exit ended its worker thread: the worker exited with code 3/);
      assert.equal(error.details.reason, 'worker-exited');
      return true;
    });
    await assertEveryThreadWorks();
  });
});
