/**
 * How worker threads run custom kernels: requests of one partition share its blocks (each block
 * runs once, on whichever thread takes it, and its partial comes back at its index), a kernel
 * may return a value or a promise, and each thread keeps one copy of a module per view dtype,
 * so a kernel run over several dtypes sees one typed-array class in each copy.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLogger, viewOf, type DType } from '@sharc/protocol';
import { WorkerPool } from '../src/workers/pool.js';
import type { Block, ResidentView, WorkerRequest } from '../src/workers/worker-protocol.js';

/** A request that has not met its sibling by then fails the test instead of hanging it. */
const MEET_MS = 20_000;

const KERNEL_MODULE = `
let lastParams;
/** The block's first value; a promise on odd rows. The first block of each request waits for the other request's first. */
export function firstValue(block, ctx) {
  if (ctx.params !== lastParams) {
    lastParams = ctx.params;
    const arrived = ctx.params.arrived;
    Atomics.add(arrived, 0, 1);
    Atomics.notify(arrived, 0);
    const until = Date.now() + ${MEET_MS};
    for (let seen = Atomics.load(arrived, 0); seen < ctx.params.requests; seen = Atomics.load(arrived, 0)) {
      if (Date.now() > until) throw new Error('the sibling request never took a block');
      Atomics.wait(arrived, 0, seen, 100);
    }
  }
  return ctx.rowStart % 2 === 1 ? new Promise((resolve) => setTimeout(() => resolve(block[0]), 1)) : block[0];
}
/** The block's first value, as is; and a combine that keeps the order visible. */
export function head(block) {
  return block[0];
}
export function concat(a, b) {
  return \`\${a},\${b}\`;
}
/** Returns once the test opens params.gate (a request that holds its thread until then). */
export function waitForGate(_block, ctx) {
  const until = Date.now() + ${MEET_MS};
  while (Atomics.load(ctx.params.gate, 0) === 0) {
    if (Date.now() > until) throw new Error('the gate never opened');
    Atomics.wait(ctx.params.gate, 0, 0, 100);
  }
  return 0;
}
const seen = new Set();
/** Every typed-array class this copy of the module has been given. */
export function classesSeen(block) {
  seen.add(block.constructor.name);
  return [...seen].sort();
}
/** Doubles each value; a promise, as an async map kernel returns. */
export async function double(input, output) {
  await new Promise((resolve) => setTimeout(resolve, 1));
  for (let i = 0; i < input.length; i++) output[i] = input[i] * 2;
}
`;

function partition(values: Float64Array | Int32Array | Float32Array | Uint8Array, dtype: DType): ResidentView {
  const buffer = new SharedArrayBuffer(values.byteLength);
  viewOf(dtype, buffer, 0, values.length).set(values as never);
  return { buffer, dtype, rowStart: 0, cols: 1 };
}

const oneRowBlocks = (rows: number): Block[] => Array.from({ length: rows }, (_, rowStart) => ({ rowStart, rowCount: 1 }));
const newClaims = () => new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));

describe('custom kernels on worker threads', () => {
  let dir: string;
  let file: string;
  let pool: WorkerPool;
  let oneThread: WorkerPool;

  const kernel = (exportName: string, dtypes: DType[]) => ({ kind: 'module' as const, path: file, exportName, label: `kernels.mjs#${exportName}`, dtypes });

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-kernels-'));
    file = path.join(dir, 'kernels.mjs');
    await writeFile(file, KERNEL_MODULE);
    pool = new WorkerPool({ threads: 2, threadHeapMb: 64, logger: createLogger('kernels test') });
    oneThread = new WorkerPool({ threads: 1, threadHeapMb: 64, logger: createLogger('kernels test') });
  });
  after(async () => {
    await pool?.close();
    await oneThread?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs each shared block once, on both threads, and returns every partial at its block index', async () => {
    const rows = 64;
    const values = Float64Array.from({ length: rows }, (_, i) => 1000 + i);
    const claims = newClaims();
    const params = { arrived: new Int32Array(new SharedArrayBuffer(4)), requests: 2 };
    const request: WorkerRequest = {
      kind: 'reduce',
      kernel: kernel('firstValue', ['float64']),
      input: partition(values, 'float64'),
      blocks: oneRowBlocks(rows),
      claims,
      shape: [rows],
      params,
    };
    const signal = AbortSignal.timeout(MEET_MS + 10_000);
    const results = await Promise.all([pool.run(request, signal), pool.run(request, signal)]);
    const byBlock = new Array<unknown>(rows);
    for (const { partials, blockIndexes } of results) {
      assert.ok(blockIndexes !== undefined && blockIndexes.length > 0, 'each request ran blocks');
      assert.equal(partials.length, blockIndexes.length);
      blockIndexes.forEach((index, k) => {
        assert.equal(byBlock[index], undefined, `block ${index} ran twice`);
        byBlock[index] = partials[k];
      });
    }
    assert.deepEqual(byBlock, Array.from(values));
  });

  it('returns at once, with nothing, a request whose siblings took every block', async () => {
    const claims = newClaims();
    claims[0] = 8;
    const result = await pool.run({
      kind: 'reduce',
      kernel: kernel('classesSeen', ['float64']),
      input: partition(new Float64Array(8), 'float64'),
      blocks: oneRowBlocks(8),
      claims,
      shape: [8],
      params: undefined,
    });
    assert.deepEqual(result, { partials: [], blockIndexes: [] });
  });

  it('folds its partials left to right with combine, in a request that runs every block', async () => {
    const values = Float64Array.from({ length: 5 }, (_, i) => 10 + i);
    const result = await pool.run({
      kind: 'reduce',
      kernel: kernel('head', ['float64']),
      input: partition(values, 'float64'),
      blocks: oneRowBlocks(5),
      combine: 'concat',
      shape: [5],
      params: undefined,
    });
    assert.deepEqual(result.partials, ['10,11,12,13,14']);
  });

  it('shares a partition between the idle threads of the pool, partials back in block order', async () => {
    const rows = 32;
    const values = Float64Array.from({ length: rows }, (_, i) => 2000 + i);
    const input = partition(values, 'float64');
    const params = { arrived: new Int32Array(new SharedArrayBuffer(4)), requests: 2 };
    const results = await pool.runShared(
      rows,
      (claims) => ({ kind: 'reduce', kernel: kernel('firstValue', ['float64']), input, blocks: oneRowBlocks(rows), claims, shape: [rows], params }),
      AbortSignal.timeout(MEET_MS + 10_000),
    );
    assert.equal(results.length, 2);
    const byBlock = new Array<unknown>(rows);
    for (const { partials, blockIndexes } of results) {
      assert.ok(blockIndexes !== undefined && blockIndexes.length > 0, 'both threads ran blocks');
      blockIndexes.forEach((index, k) => (byBlock[index] = partials[k]));
    }
    assert.deepEqual(byBlock, Array.from(values));
  });

  it('lends a thread that frees up to a partition that still has blocks left', async () => {
    // One thread is held by another request; the partition starts on the other, whose first
    // block waits for a second request to join. Only a thread lent once the gate opens can.
    const gate = new Int32Array(new SharedArrayBuffer(4));
    const signal = AbortSignal.timeout(MEET_MS + 10_000);
    const held = pool.run(
      { kind: 'reduce', kernel: kernel('waitForGate', ['float64']), input: partition(new Float64Array(1), 'float64'), blocks: oneRowBlocks(1), shape: [1], params: { gate } },
      signal,
    );
    const rows = 16;
    const input = partition(Float64Array.from({ length: rows }, (_, i) => i), 'float64');
    const params = { arrived: new Int32Array(new SharedArrayBuffer(4)), requests: 2 };
    const shared = pool.runShared(
      rows,
      (claims) => ({ kind: 'reduce', kernel: kernel('firstValue', ['float64']), input, blocks: oneRowBlocks(rows), claims, shape: [rows], params }),
      signal,
    );
    Atomics.store(gate, 0, 1);
    Atomics.notify(gate, 0);
    assert.deepEqual((await held).partials, [0]);
    const results = await shared;
    assert.equal(results.length, 2);
    assert.deepEqual(results.flatMap((r) => r.blockIndexes ?? []).sort((a, b) => a - b), Array.from({ length: rows }, (_, i) => i));
  });

  it('folds in the one request that ran every block when it carries a combine', async () => {
    const values = Float64Array.from({ length: 6 }, (_, i) => 20 + i);
    const input = partition(values, 'float64');
    const results = await oneThread.runShared(6, (claims) => ({
      kind: 'reduce',
      kernel: kernel('head', ['float64']),
      input,
      blocks: oneRowBlocks(6),
      claims,
      combine: 'concat',
      shape: [6],
      params: undefined,
    }));
    assert.deepEqual(results, [{ partials: ['20,21,22,23,24,25'] }]);
  });

  it('awaits a map kernel that returns a promise before the request ends', async () => {
    const values = Float64Array.from({ length: 16 }, (_, i) => i - 3.5);
    const output = partition(new Float64Array(16), 'float64');
    const result = await pool.run({
      kind: 'map',
      kernel: kernel('double', ['float64', 'float64']),
      input: partition(values, 'float64'),
      output,
      blocks: oneRowBlocks(16),
      claims: newClaims(),
      shape: [16],
      params: undefined,
    });
    assert.equal(result.blockIndexes?.length, 16);
    assert.deepEqual(new Float64Array(output.buffer), values.map((v) => v * 2));
  });

  it('gives one thread a copy of the module per view dtype: each copy sees one typed-array class', async () => {
    const inputs = [
      ['float64', 'Float64Array', new Float64Array([1.5, 2])],
      ['int32', 'Int32Array', new Int32Array([-3, 4])],
      ['float32', 'Float32Array', new Float32Array([0.5, 6])],
      ['uint8', 'Uint8Array', new Uint8Array([7, 8])],
    ] as const;
    // Twice round, on one thread: the second float64 job comes after three other dtypes.
    for (let round = 0; round < 2; round++) {
      for (const [dtype, className, values] of inputs) {
        const result = await oneThread.run({
          kind: 'reduce',
          kernel: kernel('classesSeen', [dtype]),
          input: partition(values, dtype),
          blocks: oneRowBlocks(2),
          shape: [2],
          params: undefined,
        });
        assert.deepEqual(result.partials, [[className], [className]], `${dtype}, round ${round}`);
      }
    }
  });
});
