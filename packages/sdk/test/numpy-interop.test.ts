/**
 * `.npy` files against numpy itself: what `save` writes, numpy.load reads exactly; what numpy
 * writes, `fromFile` loads exactly; built-in reductions of int64, uint64 and bool arrays equal
 * numpy's own (exact where numpy wraps); 0-d and zero-column arrays keep their shape. Runs
 * Debian's /usr/bin/python3 with python3-numpy, which scripts/ensure-deps.sh installs.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FileFormatError, InvalidArgumentError, connect, type ArrayRef, type Cluster } from '../src/index.js';

const DTYPE_KERNELS = fileURLToPath(new URL('../../test/fixtures/dtype-kernels.ts', import.meta.url));

const PYTHON = '/usr/bin/python3';

function python(code: string): string {
  return execFileSync(PYTHON, ['-c', code], { encoding: 'utf8' }).trim();
}

describe('.npy interop with numpy', () => {
  let cluster: Cluster;
  let dir: string;
  before(async () => {
    cluster = await connect({ embedded: { agents: 2, threads: 1, memoryBytes: 64 * 1024 * 1024 } });
    dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-numpy-'));
  });
  after(async () => {
    await cluster.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('writes files numpy.load reads exactly, for 1-D and 2-D arrays of several dtypes', async () => {
    const cases = [
      { data: Float64Array.from({ length: 12 }, (_, i) => i * 1.5 - 3), shape: [4, 3], dtype: 'float64' },
      { data: Float32Array.from({ length: 10 }, (_, i) => i / 3), shape: [10], dtype: 'float32' },
      { data: Int16Array.from({ length: 6 }, (_, i) => (i - 3) * 1000), shape: [2, 3], dtype: 'int16' },
      { data: Uint8Array.from({ length: 8 }, (_, i) => 250 + i - 5), shape: [8], dtype: 'uint8' },
    ] as const;
    for (const { data, shape, dtype } of cases) {
      const ref = await cluster.put(data, { shape, partitions: 2 });
      const file = path.join(dir, `${dtype}.npy`);
      await ref.save(file);
      const seen = JSON.parse(
        python(`import numpy, json; a = numpy.load(${JSON.stringify(file)}); print(json.dumps([str(a.dtype), list(a.shape), a.ravel().tolist()]))`),
      ) as [string, number[], number[]];
      assert.equal(seen[0], dtype);
      assert.deepEqual(seen[1], shape);
      assert.deepEqual(seen[2], Array.from(data));
      await ref.delete();
    }
  });

  it('loads files numpy.save wrote', async () => {
    const file = path.join(dir, 'from-numpy.npy');
    python(`import numpy; numpy.save(${JSON.stringify(file)}, (numpy.arange(35, dtype=numpy.int32) * 3 - 7).reshape(7, 5))`);
    const ref = await cluster.fromFile(file, { partitions: 3 });
    assert.equal(ref.dtype, 'int32');
    assert.deepEqual(ref.shape, [7, 5]);
    assert.deepEqual(await ref.toArray(), Int32Array.from({ length: 35 }, (_, i) => i * 3 - 7));
    assert.equal(await cluster.reduce(ref, 'sum'), Array.from({ length: 35 }, (_, i) => i * 3 - 7).reduce((a, b) => a + b, 0));
  });

  /**
   * numpy's view of `file`: dtype, shape, and every reduction as text. For integers and bools
   * the text is exact (Python ints do not round; numpy's own int64 sum wraps at 2^63, so the
   * exact sum is Python's sum of ints, given beside numpy's; numpy's int mean accumulates in
   * float64 and can be off in the 4th digit near 2^62, so the mean is Python's exact sum / size).
   */
  function numpyFacts(file: string): { dtype: string; shape: number[]; numpySum: string; sum: string; min: string; max: string; mean: number; sumsq: string; count: number } {
    return JSON.parse(
      python(`
import numpy as np, json
a = np.load(${JSON.stringify(file)})
exact = a.dtype.kind in 'iub'
values = a.ravel().tolist()
def text(v): return str(int(v)) if exact else repr(float(v))
print(json.dumps({'dtype': str(a.dtype), 'shape': list(a.shape), 'numpySum': text(a.sum()),
  'sum': str(sum(int(x) for x in values)) if exact else text(a.sum()),
  'sumsq': str(sum(int(x) * int(x) for x in values)) if exact else text((a.astype(np.float64) ** 2).sum()),
  'min': text(a.min()) if a.size else '', 'max': text(a.max()) if a.size else '', 'mean': (sum(int(x) for x in values) / a.size if exact else float(a.mean())) if a.size else None,
  'count': int(a.size)}))`),
    ) as ReturnType<typeof numpyFacts>;
  }

  /** Whether numpy reads `saved` back equal to `original`: same dtype, shape and elements. */
  function numpyEqual(original: string, saved: string): boolean {
    return (
      python(
        `import numpy as np; a = np.load(${JSON.stringify(original)}); b = np.load(${JSON.stringify(saved)}); ` +
          'print(a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b))',
      ) === 'True'
    );
  }

  /** Every built-in reduction of `ref` equals numpy's of `file`: exactly for integers and bools. */
  async function assertReductions(ref: ArrayRef, file: string): Promise<void> {
    const facts = numpyFacts(file);
    assert.equal(ref.dtype, facts.dtype);
    assert.deepEqual(ref.shape, facts.shape);
    const exact = !ref.dtype.startsWith('float');
    const same = async (op: 'sum' | 'min' | 'max' | 'sumsq', expected: string) => {
      const got = await cluster.reduce(ref, op);
      if (exact) assert.equal(String(got), expected, op);
      else assert.ok(Math.abs(Number(got) - Number(expected)) <= Math.abs(Number(expected)) * 1e-12, `${op} ${got}, numpy ${expected}`);
    };
    await same('sum', facts.sum);
    await same('min', facts.min);
    await same('max', facts.max);
    await same('sumsq', facts.sumsq);
    assert.equal(await cluster.reduce(ref, 'count'), facts.count);
    const mean = await cluster.reduce(ref, 'mean');
    assert.ok(Math.abs(mean - facts.mean) <= Math.abs(facts.mean) * 1e-12, `mean ${mean}, numpy ${facts.mean}`);
  }

  it('loads int64 near 2^62 (fromFile and putFile), reduces exactly as numpy, and saves back equal', async () => {
    const file = path.join(dir, 'int64.npy');
    // 100 000 elements: 400 kB partitions, reduced on worker threads. The sum fits in int64, so
    // numpy's (wrapping) sum is exact too, but a float64 accumulation would not be.
    python(`import numpy as np
a = np.array([(2**62 + i) if i % 2 else -(2**62) + 3 * i for i in range(100000)], dtype=np.int64)
a[7] = np.iinfo(np.int64).min + 5; a[8] = np.iinfo(np.int64).max - 5
np.save(${JSON.stringify(file)}, a.reshape(50000, 2))`);
    const facts = numpyFacts(file);
    assert.equal(facts.numpySum, facts.sum, 'numpy does not wrap on this data');
    const floatSum = python(`import numpy as np; print(int(np.load(${JSON.stringify(file)}).astype(np.float64).sum()))`);
    assert.notEqual(floatSum, facts.sum, 'a float64 sum of this data is wrong');
    for (const ref of [await cluster.fromFile(file, { partitions: 2 }), await cluster.putFile(file, { partitions: 3 })]) {
      assert.equal(ref.dtype, 'int64');
      assert.equal(typeof (await cluster.reduce(ref, 'sum')), 'bigint');
      await assertReductions(ref, file);
      const back = await ref.toArray();
      assert.ok(back instanceof BigInt64Array);
      assert.equal(back[7], -(2n ** 63n) + 5n);
      const saved = path.join(dir, 'int64-back.npy');
      await ref.save(saved);
      assert.ok(numpyEqual(file, saved), 'numpy reads the saved int64 array back equal');
      await ref.delete();
    }
  });

  it('returns the exact int64 sum past 2^63 where numpy wraps around', async () => {
    const file = path.join(dir, 'int64-big.npy');
    python(`import numpy as np; np.save(${JSON.stringify(file)}, np.full(1000, 2**62 + 12345, dtype=np.int64))`);
    const facts = numpyFacts(file);
    assert.notEqual(facts.numpySum, facts.sum, "numpy's int64 sum wrapped");
    const ref = await cluster.fromFile(file, { partitions: 2 });
    assert.equal(await cluster.reduce(ref, 'sum'), 1000n * (2n ** 62n + 12345n));
    assert.equal(String(await cluster.reduce(ref, 'sum')), facts.sum);
    await ref.delete();
  });

  it('loads uint64 up to 2^64 - 1, reduces exactly, and saves back equal', async () => {
    const file = path.join(dir, 'uint64.npy');
    python(`import numpy as np
a = (np.arange(3000, dtype=np.uint64) * np.uint64(6148914691236517)) + np.uint64(2**63)
a[0] = np.iinfo(np.uint64).max; a[1] = 0
np.save(${JSON.stringify(file)}, a)`);
    const ref = await cluster.fromFile(file, { partitions: 2 });
    assert.equal(ref.dtype, 'uint64');
    await assertReductions(ref, file);
    const back = await ref.toArray();
    assert.ok(back instanceof BigUint64Array);
    assert.equal(back[0], 2n ** 64n - 1n);
    const saved = path.join(dir, 'uint64-back.npy');
    await ref.save(saved);
    assert.ok(numpyEqual(file, saved));
    await ref.delete();
  });

  it('loads bool as a Uint8Array of 0/1 whose sum counts the trues, and saves it back as bool', async () => {
    const file = path.join(dir, 'bool.npy');
    python(`import numpy as np; np.save(${JSON.stringify(file)}, (np.arange(60000) % 7 < 3).reshape(20000, 3))`);
    for (const ref of [await cluster.fromFile(file, { partitions: 2 }), await cluster.putFile(file)]) {
      assert.equal(ref.dtype, 'bool');
      await assertReductions(ref, file);
      const back = await ref.toArray();
      assert.ok(back instanceof Uint8Array);
      assert.deepEqual([...new Set(back)].sort(), [0, 1]);
      const saved = path.join(dir, 'bool-back.npy');
      await ref.save(saved);
      assert.ok(numpyEqual(file, saved), 'numpy reads the saved file back as the same bool array');
      await ref.delete();
    }
  });

  it('puts BigInt64Array and bool data that numpy reads back with the same values', async () => {
    const values = BigInt64Array.from({ length: 10 }, (_, i) => (i % 2 ? 1n : -1n) * (2n ** 62n + BigInt(i)));
    const ints = await cluster.put(values, { shape: [5, 2], partitions: 2 });
    assert.equal(ints.dtype, 'int64');
    const intsFile = path.join(dir, 'put-int64.npy');
    await ints.save(intsFile);
    assert.equal(python(`import numpy as np; a = np.load(${JSON.stringify(intsFile)}); print(a.dtype, a.shape, ' '.join(map(str, a.ravel().tolist())))`), `int64 (5, 2) ${Array.from(values).join(' ')}`);
    const mapped = await cluster.map(ints, { module: DTYPE_KERNELS, kernel: 'negate' });
    assert.deepEqual(await mapped.toArray(), values.map((v) => -v));

    const flags = await cluster.put(Uint8Array.of(1, 0, 0, 1, 1), { dtype: 'bool' });
    assert.equal(flags.dtype, 'bool');
    assert.equal(await cluster.reduce(flags, 'sum'), 3);
    const flagsFile = path.join(dir, 'put-bool.npy');
    await flags.save(flagsFile);
    assert.equal(python(`import numpy as np; a = np.load(${JSON.stringify(flagsFile)}); print(a.dtype, a.tolist())`), 'bool [True, False, False, True, True]');
    const positive = await cluster.map(await cluster.put(Float64Array.of(-1, 2, 0, 3)), { module: DTYPE_KERNELS, kernel: 'isPositive' }, { dtype: 'bool' });
    assert.equal(positive.dtype, 'bool');
    assert.deepEqual(await positive.toArray(), Uint8Array.of(0, 1, 0, 1));
    for (const ref of [ints, mapped, flags, positive]) await ref.delete();
  });

  it('refuses bool data that is not 0 or 1, and a dtype that is not the typed array\'s', async () => {
    await assert.rejects(cluster.put(Uint8Array.of(0, 1, 2), { dtype: 'bool' }), (error: Error) => {
      assert.ok(error instanceof InvalidArgumentError);
      assert.match(error.message, /element 2 is 2/);
      return true;
    });
    await assert.rejects(cluster.put(new Float64Array(2), { dtype: 'int64' } as never), /this Float64Array is float64, not int64; pass int64 data \(BigInt64Array\.from\(data\)\)/);
  });

  it('keeps a 0-d array 0-d: shape () loads as [], reduces, maps and saves back as ()', async () => {
    for (const [expression, dtype] of [['np.float64(3.5)', 'float64'], ['np.int64(-2**62 - 7)', 'int64']] as const) {
      const file = path.join(dir, `scalar-${dtype}.npy`);
      python(`import numpy as np; np.save(${JSON.stringify(file)}, ${expression})`);
      for (const ref of [await cluster.fromFile(file), await cluster.putFile(file)]) {
        assert.equal(ref.dtype, dtype);
        assert.deepEqual(ref.shape, []);
        const back = await ref.toArray();
        assert.equal(back.length, 1);
        await assertReductions(ref, file);
        const mapped = await cluster.map(ref, { module: DTYPE_KERNELS, kernel: dtype === 'int64' ? 'negate' : 'copy' });
        assert.deepEqual(mapped.shape, []);
        const saved = path.join(dir, `scalar-${dtype}-back.npy`);
        await ref.save(saved);
        assert.ok(numpyEqual(file, saved), 'numpy reads back a 0-d array equal to the original');
        for (const r of [ref, mapped]) await r.delete();
      }
    }
    const put = await cluster.put(Float64Array.of(2.5), { shape: [] });
    assert.deepEqual(put.shape, []);
    assert.equal(await cluster.reduce(put, 'max'), 2.5);
    await put.delete();
  });

  it('maps arrays of zero columns or zero rows to outputs of the same shape; min of them raises as numpy', async () => {
    for (const shape of [[5, 0], [0, 3], [0]]) {
      const file = path.join(dir, `empty-${shape.join('x')}.npy`);
      python(`import numpy as np; np.save(${JSON.stringify(file)}, np.zeros((${shape.join(', ')},)))`);
      const ref = await cluster.fromFile(file);
      assert.deepEqual(ref.shape, shape);
      const mapped = await cluster.map(ref, { module: DTYPE_KERNELS, kernel: 'copy' });
      assert.deepEqual(mapped.shape, shape);
      const saved = path.join(dir, `empty-${shape.join('x')}-back.npy`);
      await mapped.save(saved);
      assert.ok(numpyEqual(file, saved), `numpy reads back the (${shape.join(', ')}) map output`);
      assert.equal(await cluster.reduce(ref, 'sum'), 0);
      assert.equal(await cluster.reduce(ref, 'count'), 0);
      assert.ok(Number.isNaN(await cluster.reduce(ref, 'mean')), 'mean of nothing is NaN, as numpy');
      for (const op of ['min', 'max'] as const) {
        await assert.rejects(cluster.reduce(ref, op), (error: Error) => {
          assert.ok(error instanceof InvalidArgumentError, `${error.name}: ${error.message}`);
          assert.match(error.message, /zero-size array to reduction operation (minimum|maximum) which has no identity/);
          return true;
        });
      }
      for (const r of [ref, mapped]) await r.delete();
    }
  });

  it('refuses a structured dtype naming its fields and the fix', async () => {
    const file = path.join(dir, 'structured.npy');
    python(`import numpy as np; np.save(${JSON.stringify(file)}, np.zeros(4, dtype=[('x', '<f8'), ('count', '<i4')]))`);
    for (const load of [() => cluster.fromFile(file), () => cluster.putFile(file)]) {
      await assert.rejects(load(), (error: Error) => {
        assert.ok(error instanceof FileFormatError, `${error.name}: ${error.message}`);
        assert.match(error.message, /structured dtypes \(fields x, count\) are not supported: save each field as its own array/);
        return true;
      });
    }
  });

  it('refuses a numpy file described as something else, through putFile and fromFile, storing nothing', async () => {
    const npy = path.join(dir, 'small.npy');
    const raw = path.join(dir, 'thousand.f32');
    python(
      `import numpy; numpy.save(${JSON.stringify(npy)}, numpy.arange(12.0).reshape(3, 4)); ` +
        `numpy.arange(1000, dtype=numpy.float32).tofile(${JSON.stringify(raw)})`,
    );
    const before = (await cluster.list()).map((a) => a.name).sort();
    const cases = [
      // The header would be read as data: 128 bytes of text as 16 float64.
      [npy, { format: 'raw' as const, dtype: 'float64' as const, shape: [3, 4] }, /small\.npy is a \.npy file of float64 \[3, 4\] \(its header\), not raw bytes: drop format: 'raw'/],
      [npy, { dtype: 'float32' as const, shape: [6, 4] }, /small\.npy is a \.npy file of float64 \[3, 4\] \(its header\), but dtype float32 and shape \[6, 4\] were given/],
      [npy, { byteOffset: 64 }, /small\.npy is a \.npy file of float64 \[3, 4\]: its header says where the data starts \(byte 128\)/],
      // One float short: the last element would be dropped without a word.
      [raw, { dtype: 'float32' as const, shape: [999] }, /thousand\.f32 has 4000 bytes, but shape \[999\] of float32 needs 3996: give the shape that covers it \(\[1000\]\)/],
      [raw, { dtype: 'float64' as const, shape: [1000] }, /thousand\.f32 has 4000 bytes, but shape \[1000\] of float64 needs 8000: give the shape that covers it \(\[500\]\)/],
      [raw, {}, /thousand\.f32 \(4000 bytes\) is not a \.npy file/],
    ] as const;
    for (const [file, options, message] of cases) {
      for (const call of ['putFile', 'fromFile'] as const) {
        await assert.rejects(cluster[call](file, { ...options, name: 'wrong' }), (error: unknown) => {
          const expected = Object.keys(options).length === 0 ? FileFormatError : InvalidArgumentError;
          assert.ok(error instanceof expected, `${call} ${JSON.stringify(options)}: ${String(error)}`);
          assert.match(error.message, message);
          return true;
        });
      }
    }
    assert.deepEqual((await cluster.list()).map((a) => a.name).sort(), before, 'nothing was stored');

    // What does fit is read exactly: the header's own dtype/shape, the whole raw file, a stated range.
    for (const call of ['putFile', 'fromFile'] as const) {
      const same = await cluster[call](npy, { dtype: 'float64', shape: [3, 4] });
      assert.deepEqual(await same.toArray(), Float64Array.from({ length: 12 }, (_, i) => i));
      const whole = await cluster[call](raw, { dtype: 'float32', shape: [250, 4], partitions: 3 });
      assert.deepEqual(await whole.toArray(), Float32Array.from({ length: 1000 }, (_, i) => i));
      const range = await cluster[call](raw, { dtype: 'float32', shape: [999], byteOffset: 4, partitions: 2 });
      assert.deepEqual(await range.toArray(), Float32Array.from({ length: 999 }, (_, i) => i + 1));
      for (const ref of [same, whole, range]) await ref.delete();
    }
  });
});
