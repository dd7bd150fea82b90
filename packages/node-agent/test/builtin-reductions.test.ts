/**
 * The built-in reductions over one block, per dtype family: int64 and uint64 exact in bigints
 * (checked against a plain bigint fold, across the 2^20-element chunks the fast loop adds in
 * float64, and at the int64 extremes), bool as numpy (sum counts trues), and the same loops
 * on real worker threads, with partials that cross the thread as bigints and map kernels that
 * see BigInt64Array views.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BUILTIN_REDUCTIONS, combineBuiltin, createLogger, finishBuiltin, identityOf, type BuiltinPartial, type BuiltinReduction, type DType } from '@sharc/protocol';
import { builtinReducer } from '../src/workers/builtin-kernels.js';
import { WorkerPool } from '../src/workers/pool.js';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

/** The obvious bigint fold, element by element: what the fast loops must equal. */
function reference(op: BuiltinReduction, values: BigInt64Array | BigUint64Array): BuiltinPartial {
  const all = Array.from(values);
  const sum = all.reduce((a, b) => a + b, 0n);
  switch (op) {
    case 'sum':
      return sum;
    case 'sumsq':
      return all.reduce((a, b) => a + b * b, 0n);
    case 'count':
      return all.length;
    case 'mean':
      return [sum, all.length];
    case 'min':
      return all.length === 0 ? Infinity : all.reduce((a, b) => (b < a ? b : a));
    case 'max':
      return all.length === 0 ? -Infinity : all.reduce((a, b) => (b > a ? b : a));
  }
}

/** Deterministic values of every size: tiny, around ±2^26 and ±2^32, near ±2^62, the extremes. */
function mixedInt64(length: number, seed = 7): BigInt64Array {
  let state = seed;
  const next = () => (state = (state * 1103515245 + 12345) % 2 ** 31);
  const pool = [0n, 1n, -1n, 2n ** 26n - 1n, -(2n ** 26n) + 1n, 2n ** 26n, -(2n ** 26n), 2n ** 32n - 1n, -(2n ** 32n), 2n ** 62n + 1n, -(2n ** 62n) - 3n, INT64_MIN, INT64_MAX];
  return BigInt64Array.from({ length }, () => {
    const pick = next() % (pool.length + 2);
    if (pick < pool.length) return pool[pick]!;
    return BigInt(next() - 2 ** 30) * BigInt(next()) * (pick === pool.length ? 1n : 4096n);
  });
}

describe('int64 and uint64 block reductions', () => {
  for (const dtype of ['int64', 'uint64'] as const) {
    const values = dtype === 'int64' ? mixedInt64(5000) : new BigUint64Array(mixedInt64(5000).buffer);
    for (const op of BUILTIN_REDUCTIONS) {
      it(`${dtype} ${op} equals the plain bigint fold`, () => {
        assert.deepEqual(builtinReducer(op, dtype)(values), reference(op, values));
      });
    }
  }

  it('sums int64 values near 2^62 exactly where a float64 sum is wrong', () => {
    const values = BigInt64Array.from({ length: 1001 }, (_, i) => 2n ** 62n + BigInt(i));
    const exact = 1001n * 2n ** 62n + 500_500n;
    assert.equal(builtinReducer('sum', 'int64')(values), exact);
    const float = Array.from(values).reduce((a, b) => a + Number(b), 0);
    assert.notEqual(BigInt(float), exact, 'a float64 accumulation loses the low digits');
  });

  it('sums past the 2^20-element chunks of the word loop without losing a carry', () => {
    const length = 2 ** 20 + 3;
    const max = new BigInt64Array(length).fill(INT64_MAX);
    assert.equal(builtinReducer('sum', 'int64')(max), BigInt(length) * INT64_MAX, 'a sum past 2^63 is exact, not wrapped');
    const min = new BigInt64Array(length).fill(INT64_MIN);
    assert.equal(builtinReducer('sum', 'int64')(min), BigInt(length) * INT64_MIN);
    const unsigned = new BigUint64Array(length).fill(UINT64_MAX);
    assert.equal(builtinReducer('sum', 'uint64')(unsigned), BigInt(length) * UINT64_MAX);
  });

  it('sums squares exactly when small and mid-sized squares add up past 2^53', () => {
    for (const magnitude of [2n ** 22n - 1n, 2n ** 26n - 1n, 2n ** 44n + 3n]) {
      const values = new BigInt64Array(3 * 2 ** 10).fill(magnitude);
      values[7] = -magnitude;
      assert.equal(builtinReducer('sumsq', 'int64')(values), BigInt(values.length) * magnitude ** 2n, String(magnitude));
    }
    const extremes = BigInt64Array.of(INT64_MIN, INT64_MAX, INT64_MIN, -1n, 1n);
    assert.equal(builtinReducer('sumsq', 'int64')(extremes), 2n * INT64_MIN ** 2n + INT64_MAX ** 2n + 2n);
    const top = new BigUint64Array(300).fill(UINT64_MAX);
    assert.equal(builtinReducer('sumsq', 'uint64')(top), 300n * UINT64_MAX ** 2n);
  });

  it('finds min and max at the int64 and uint64 extremes, first occurrence kept', () => {
    const signed = BigInt64Array.of(5n, INT64_MAX, -1n, INT64_MIN, 0n, INT64_MIN);
    assert.equal(builtinReducer('min', 'int64')(signed), INT64_MIN);
    assert.equal(builtinReducer('max', 'int64')(signed), INT64_MAX);
    const unsigned = BigUint64Array.of(5n, UINT64_MAX, 2n ** 63n, 0n);
    assert.equal(builtinReducer('min', 'uint64')(unsigned), 0n);
    assert.equal(builtinReducer('max', 'uint64')(unsigned), UINT64_MAX);
  });

  it('gives the empty partials for a block without elements', () => {
    const empty = new BigInt64Array(0);
    assert.equal(builtinReducer('sum', 'int64')(empty), 0n);
    assert.equal(builtinReducer('min', 'int64')(empty), Infinity);
    assert.equal(builtinReducer('max', 'int64')(empty), -Infinity);
    assert.deepEqual(builtinReducer('mean', 'int64')(empty), [0n, 0]);
  });
});

describe('bool block reductions', () => {
  const bools = Uint8Array.of(1, 0, 1, 1, 0);
  it('sum and sumsq count the trues; mean is their share; count counts all', () => {
    assert.equal(builtinReducer('sum', 'bool')(bools), 3);
    assert.equal(builtinReducer('sumsq', 'bool')(bools), 3);
    assert.deepEqual(builtinReducer('mean', 'bool')(bools), [3, 5]);
    assert.equal(builtinReducer('count', 'bool')(bools), 5);
  });

  it('min is 0 when any is false, max is 1 when any is true', () => {
    assert.equal(builtinReducer('min', 'bool')(bools), 0);
    assert.equal(builtinReducer('max', 'bool')(bools), 1);
    assert.equal(builtinReducer('min', 'bool')(Uint8Array.of(1, 1)), 1);
    assert.equal(builtinReducer('max', 'bool')(Uint8Array.of(0, 0)), 0);
    assert.equal(builtinReducer('min', 'bool')(new Uint8Array(0)), Infinity);
  });

  it('reads any byte that is not 0 as true (a raw file may hold other bytes), unlike uint8', () => {
    const bytes = Uint8Array.of(0, 2, 255);
    assert.equal(builtinReducer('sum', 'bool')(bytes), 2);
    assert.equal(builtinReducer('sum', 'uint8')(bytes), 257);
  });
});

describe('built-in reductions and maps on worker threads', () => {
  let dir: string;
  let pool: WorkerPool;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-builtin-'));
    await writeFile(
      path.join(dir, 'kernels.mjs'),
      `export function negate(input, output) {
        if (!(input instanceof BigInt64Array) || !(output instanceof BigInt64Array)) throw new TypeError('not BigInt64Array views: ' + input.constructor.name);
        for (let i = 0; i < input.length; i++) output[i] = -input[i];
      }`,
    );
    pool = new WorkerPool({ threads: 2, threadHeapMb: 64, logger: createLogger('builtin test') });
  });
  after(async () => {
    await pool?.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** An int64 partition of `rows` × 2 in a SharedArrayBuffer, as the agent holds it. */
  function partition(values: BigInt64Array) {
    const buffer = new SharedArrayBuffer(values.byteLength);
    new BigInt64Array(buffer).set(values);
    return { buffer, dtype: 'int64' as DType, rowStart: 0, cols: 2 };
  }

  it('returns exact bigint partials per block that combine to the exact total', async () => {
    const values = mixedInt64(4000, 11);
    const input = partition(values);
    const blocks = [
      { rowStart: 0, rowCount: 700 },
      { rowStart: 700, rowCount: 1300 },
    ];
    for (const op of BUILTIN_REDUCTIONS) {
      const { partials } = await pool.run({ kind: 'reduce', kernel: { kind: 'builtin', op }, input, blocks, shape: [2000, 2], params: undefined });
      assert.equal(partials.length, 2);
      const total = finishBuiltin(op, (partials as BuiltinPartial[]).reduce((a, p) => combineBuiltin(op, a, p), identityOf(op, 'int64')));
      assert.deepEqual(total, finishBuiltin(op, reference(op, values)), op);
    }
  });

  it('hands map kernels BigInt64Array views of int64 input and output', async () => {
    const values = mixedInt64(64, 3).map((v) => (v === INT64_MIN ? 0n : v));
    const input = partition(values);
    const output = partition(new BigInt64Array(values.length));
    await pool.run({
      kind: 'map',
      kernel: { kind: 'module', path: path.join(dir, 'kernels.mjs'), exportName: 'negate', label: 'kernels.mjs#negate', dtypes: ['int64', 'int64'] },
      input,
      output,
      blocks: [{ rowStart: 0, rowCount: 32 }],
      shape: [32, 2],
      params: undefined,
    });
    assert.deepEqual(new BigInt64Array(output.buffer), values.map((v) => -v));
  });
});
