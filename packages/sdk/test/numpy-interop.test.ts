/**
 * `.npy` files against numpy itself: what `save` writes, numpy.load reads exactly; what numpy
 * writes, `fromFile` loads exactly. Runs Debian's /usr/bin/python3 with python3-numpy, which
 * scripts/ensure-deps.sh installs.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, FileFormatError, InvalidArgumentError, type Cluster } from '../src/index.js';

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
