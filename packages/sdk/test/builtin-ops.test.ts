/**
 * The built-in operations that make new arrays (astype, scale, clip, abs, sqrt, add, sub, mul,
 * div, row statistics along axis 1, matvec, slice) and dot, against numpy itself on random
 * data with NaN, ±Inf, -0, huge values and integer extremes, for every dtype, on 2-D arrays of
 * 37 rows, one row and none, and on 1-D arrays; embedded, with 2 agents, arrays in several
 * partitions, and second arrays partitioned differently from the first (their rows move).
 * numpy's answer is computed by fixtures/builtin_ops_numpy.py from the same .npy files.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DTYPES, InvalidArgumentError, connect, type ArrayRef, type Cluster, type DType } from '../src/index.js';
import { NumpyCheck, makeNumpyInputs } from './numpy-check.js';

const SHAPES = ['37x4', '1x4', '0x4', '23'] as const;
/** Partitions of this one are past the agent's inline size: their blocks run on worker threads. */
const LARGE = '60000x8';

describe('built-in ops making new arrays, against numpy', () => {
  let cluster: Cluster;
  let dir: string;
  let check: NumpyCheck;
  const loaded = new Map<string, ArrayRef>();
  /** An input of the numpy side, loaded once (a in 3 partitions, b in 2: their rows do not line up). */
  const input = async (dtype: DType, shape: string, which: 'a' | 'b' = 'a'): Promise<ArrayRef> => {
    const file = check.file(dtype, shape, which);
    let ref = loaded.get(file);
    if (ref === undefined) {
      ref = await cluster.fromFile(file, { partitions: which === 'a' ? 3 : 2 });
      loaded.set(file, ref);
    }
    return ref;
  };

  before(async () => {
    cluster = await connect({ embedded: { agents: 2, threads: 1, memoryBytes: 256 * 1024 * 1024 } });
    dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-ops-'));
    check = new NumpyCheck(dir);
    makeNumpyInputs(dir, [...SHAPES, LARGE]);
  });
  after(async () => {
    await cluster.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('astype between every pair of dtypes equals numpy (float → integer: truncated, saturated, NaN → 0)', async () => {
    for (const from of DTYPES) {
      for (const to of DTYPES) {
        for (const shape of from === 'float64' || from === 'int64' ? SHAPES : (['37x4'] as const)) {
          const a = await input(from, shape);
          const made = await a.astype(to);
          assert.equal(made.dtype, to);
          await check.output(`astype ${from} → ${to} [${shape}]`, 'astype', { dtype: to }, check.file(from, shape), made);
        }
      }
    }
    assert.deepEqual(await check.problems(), []);
  });

  it('scale, clip, abs and sqrt of every dtype equal numpy, on every shape', async () => {
    for (const dtype of DTYPES) {
      for (const shape of SHAPES) {
        const a = await input(dtype, shape);
        const file = check.file(dtype, shape);
        await check.output(`scale ${dtype} [${shape}]`, 'scale', { factor: 2.5, offset: -1.25 }, file, await a.scale(2.5, { offset: -1.25 }));
        await check.output(`scale without offset ${dtype} [${shape}]`, 'scale', { factor: -3, offset: 0 }, file, await a.scale(-3));
        if (dtype !== 'bool') {
          const [lo, hi] = dtype.startsWith('uint') ? [20, 200] : [-50, 60];
          const clipped = await a.clip(lo, hi);
          assert.equal(clipped.dtype, dtype);
          await check.output(`clip ${dtype} [${shape}]`, 'clip', { lo, hi }, file, clipped);
          await check.output(`clip lo only ${dtype} [${shape}]`, 'clip', { lo }, file, await a.clip(lo, undefined));
        }
        await check.output(`abs ${dtype} [${shape}]`, 'abs', undefined, file, await a.abs());
        await check.output(`sqrt ${dtype} [${shape}]`, 'sqrt', undefined, file, await a.sqrt());
      }
    }
    assert.deepEqual(await check.problems(), []);
  });

  it('add, sub, mul, div of two arrays partitioned differently equal numpy, dtypes promoted as numpy does', async () => {
    const pairs: Array<[DType, DType]> = [
      ['float64', 'float64'],
      ['float32', 'float32'],
      ['float32', 'int16'],
      ['float32', 'int32'],
      ['int8', 'uint8'],
      ['int32', 'uint32'],
      ['int32', 'int32'],
      ['uint32', 'uint32'],
      ['int64', 'int64'],
      ['int64', 'uint64'],
      ['uint64', 'uint64'],
      ['int16', 'float64'],
      ['bool', 'bool'],
      ['bool', 'int32'],
      ['uint8', 'int64'],
    ];
    for (const shape of SHAPES) {
      for (const [ta, tb] of pairs) {
        const a = await input(ta, shape);
        const b = await input(tb, shape, 'b');
        for (const op of ['add', 'sub', 'mul', 'div'] as const) {
          if (op === 'sub' && ta === 'bool' && tb === 'bool') {
            await assert.rejects(cluster.sub(a, b), (error: Error) => error instanceof InvalidArgumentError && /bool/.test(error.message));
            continue;
          }
          const made = await cluster[op](a, b);
          await check.output(`${op} ${ta} ${tb} [${shape}]`, op, undefined, check.file(ta, shape), made, check.file(tb, shape, 'b'));
        }
      }
    }
    assert.deepEqual(await check.problems(), []);
  });

  it('row statistics along axis 1 and matvec equal numpy (NaN and ±Inf propagate), as new arrays of shape [rows]', async () => {
    for (const dtype of DTYPES) {
      for (const shape of ['37x4', '1x4', '0x4'] as const) {
        const a = await input(dtype, shape);
        const file = check.file(dtype, shape);
        for (const name of ['sum', 'mean', 'min', 'max'] as const) {
          const made = await cluster.rowStatistic(a, name);
          assert.deepEqual(made.shape, [a.shape[0]]);
          await check.output(`${name} axis 1 ${dtype} [${shape}]`, `row${name}`, undefined, file, made);
        }
        for (const ddof of [0, 1]) {
          await check.output(`std axis 1 ddof ${ddof} ${dtype} [${shape}]`, 'rowstd', { ddof }, file, await cluster.rowStatistic(a, 'std', { ddof }));
        }
        const v = Float64Array.from([0.5, -2, 3.25, 1e-3]);
        const product = await a.matvec(v);
        assert.equal(product.dtype, 'float64');
        await check.output(`matvec ${dtype} [${shape}]`, 'matvec', { v }, file, product);
      }
    }
    assert.deepEqual(await check.problems(), []);
  });

  it('slice takes rows as numpy does: negative bounds from the end, out of range clamped, empty when end ≤ start', async () => {
    const bounds: Array<[number | undefined, number | undefined]> = [
      [5, 20],
      [-10, undefined],
      [undefined, -30],
      [12, 13],
      [30, 100],
      [-100, 3],
      [20, 5],
      [0, 0],
      [undefined, undefined],
    ];
    for (const dtype of ['float64', 'int64', 'bool', 'uint16'] as const) {
      for (const shape of SHAPES) {
        const a = await input(dtype, shape);
        const rows = a.shape[0]!;
        for (const [start, end] of bounds) {
          const made = await a.slice(start, end);
          // numpy's own reading of the bounds, for the numpy side.
          const from = start === undefined ? 0 : start < 0 ? Math.max(0, rows + start) : Math.min(rows, start);
          const to = end === undefined ? rows : end < 0 ? Math.max(0, rows + end) : Math.min(rows, end);
          await check.output(`slice ${start}:${end} ${dtype} [${shape}]`, 'slice', { start: from, end: Math.max(from, to) }, check.file(dtype, shape), made);
        }
      }
    }
    assert.deepEqual(await check.problems(), []);
  });

  it('dot of two arrays partitioned differently equals numpy, for several dtypes; 0 for arrays without elements', async () => {
    for (const shape of SHAPES) {
      for (const [ta, tb] of [['float64', 'float64'], ['float32', 'float32'], ['int32', 'int8'], ['int64', 'float64'], ['bool', 'bool'], ['uint8', 'float32']] as const) {
        const value = await cluster.dot(await input(ta, shape), await input(tb, shape, 'b'));
        assert.equal(typeof value, 'number');
        check.entries.push({ label: `dot ${ta} ${tb} [${shape}]`, op: 'dot', a: check.file(ta, shape), b: check.file(tb, shape, 'b'), value: String(value) });
      }
    }
    assert.equal(await cluster.dot(await input('float64', '0x4'), await input('float64', '0x4', 'b')), 0);
    assert.deepEqual(await check.problems(), []);
  });

  it('equal numpy on arrays whose partitions run on worker threads', async () => {
    for (const [ta, tb] of [['float64', 'float64'], ['float32', 'float32'], ['int32', 'int64']] as const) {
      const [a, b] = [await input(ta, LARGE), await input(tb, LARGE, 'b')];
      const [fa, fb] = [check.file(ta, LARGE), check.file(tb, LARGE, 'b')];
      await check.output(`astype ${ta} → float32 (large)`, 'astype', { dtype: 'float32' }, fa, await a.astype('float32'));
      await check.output(`astype ${ta} → int16 (large)`, 'astype', { dtype: 'int16' }, fa, await a.astype('int16'));
      await check.output(`scale ${ta} (large)`, 'scale', { factor: 1.5, offset: 2 }, fa, await a.scale(1.5, { offset: 2 }));
      await check.output(`add ${ta} ${tb} (large)`, 'add', undefined, fa, await cluster.add(a, b), fb);
      await check.output(`div ${ta} ${tb} (large)`, 'div', undefined, fa, await cluster.div(a, b), fb);
      await check.output(`sum axis 1 ${ta} (large)`, 'rowsum', undefined, fa, await cluster.rowStatistic(a, 'sum'));
      await check.output(`std axis 1 ${ta} (large)`, 'rowstd', { ddof: 1 }, fa, await cluster.rowStatistic(a, 'std', { ddof: 1 }));
      await check.output(`min axis 1 ${ta} (large)`, 'rowmin', undefined, fa, await cluster.rowStatistic(a, 'min'));
      const v = Float64Array.from({ length: 8 }, (_, i) => 1 / (i + 1));
      await check.output(`matvec ${ta} (large)`, 'matvec', { v }, fa, await a.matvec(v));
      await check.output(`slice ${ta} (large)`, 'slice', { start: 12345, end: 54321 }, fa, await a.slice(12345, 54321));
      check.entries.push({ label: `dot ${ta} ${tb} (large)`, op: 'dot', a: fa, b: fb, value: String(await cluster.dot(a, b)) });
    }
    assert.deepEqual(await check.problems(), []);
  });

  it('clips 64-bit integers with bigint bounds past 2^53, and adds an array to itself', async () => {
    const big = 2n ** 60n;
    const data = BigInt64Array.from([-(2n ** 63n), -big - 1n, -5n, 0n, 7n, big + 1n, 2n ** 63n - 1n]);
    const a = await cluster.put(data, { partitions: 3 });
    assert.deepEqual(await (await a.clip(-big, big)).toArray(), BigInt64Array.from([-big, -big, -5n, 0n, 7n, big, big]));
    const unsigned = await cluster.put(BigUint64Array.from([0n, 2n ** 64n - 1n, 2n ** 63n]), { partitions: 2 });
    assert.deepEqual(await (await unsigned.clip(1n, 2n ** 64n - 2n)).toArray(), BigUint64Array.from([1n, 2n ** 64n - 2n, 2n ** 63n]));
    // int64 sums wrap as numpy's do.
    assert.deepEqual(await (await cluster.add(a, a)).toArray(), data.map((v) => BigInt.asIntN(64, 2n * v)));
  });

  it('places an array like a stored one with the same rows, so that their rows meet on one agent', async () => {
    const a = await cluster.put(new Float64Array(3000), { shape: [1000, 3], partitions: 3, copies: 1 });
    const b = await cluster.put(new Int8Array(1000), { shape: [1000], partitions: 3, copies: 1 });
    assert.deepEqual(b.placement.map((p) => p.agentId), a.placement.map((p) => p.agentId));
    assert.equal(new Set(a.placement.map((p) => p.agentId)).size, 2);
    await a.delete();
    await b.delete();
  });

  it('refuses what numpy refuses or sharc cannot do, naming the problem', async () => {
    const matrix = await input('float64', '37x4');
    const vector = await input('float64', '23');
    const expect = async (call: Promise<unknown>, pattern: RegExp) =>
      assert.rejects(call, (error: Error) => error instanceof InvalidArgumentError && pattern.test(error.message));
    await expect(cluster.add(matrix, vector), /same shape.*\[37, 4\] and \[23\]/);
    await expect(cluster.dot(matrix, vector), /dot needs two arrays of the same shape/);
    await expect(cluster.rowStatistic(vector, 'sum'), /needs a 2-D array, got shape \[23\]/);
    await expect(vector.matvec([1, 2]), /needs a 2-D array/);
    await expect(matrix.matvec([1, 2, 3]), /v of length 4.*got 3/);
    await expect(matrix.astype('float16' as DType), /astype to unknown dtype "float16": use one of float64/);
    await expect((await input('bool', '37x4')).clip(0, 1), /clip of a bool array/);
    await expect(matrix.clip(undefined, undefined), /clip needs lo or hi/);
    await expect(matrix.abs({ nmae: 'x' } as never), /unknown option 'nmae' of abs: did you mean 'name'\?/);
    await expect(cluster.rowStatistic(matrix, 'sum', { ddof: 1 }), /ddof is for std/);
    await expect(cluster.rowStatistic(await input('float64', '1x4'), 'min').then(() => cluster.rowStatistic(matrix, 'var' as never)), /no statistic 'var' along axis 1/);
    const zeroCols = await cluster.put(new Float64Array(0), { shape: [3, 0] });
    await expect(cluster.rowStatistic(zeroCols, 'max'), /max along axis 1 of an array with no columns/);
  });

  it('keeps a binary op\'s output readable after both inputs are deleted (both are its lineage)', async () => {
    const a = await cluster.put(Float64Array.from({ length: 40 }, (_, i) => i), { shape: [10, 4], partitions: 3 });
    const b = await cluster.put(Int32Array.from({ length: 40 }, (_, i) => 2 * i), { shape: [10, 4], partitions: 2 });
    const sum = await cluster.add(a, b, { name: 'a-plus-b' });
    await a.delete();
    await b.delete();
    assert.deepEqual(await sum.toArray(), Float64Array.from({ length: 40 }, (_, i) => 3 * i));
    assert.deepEqual((await cluster.list()).map((r) => r.name).filter((name) => name === 'a-plus-b'), ['a-plus-b']);
    await sum.delete();
  });
});
