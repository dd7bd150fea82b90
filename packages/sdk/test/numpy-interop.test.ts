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
import { connect, type Cluster } from '../src/index.js';

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
});
