/**
 * argmin, argmax, var, std, norm, histogram and the axis-0 reductions against numpy, on every
 * dtype with NaN, ±Inf, empty and one-row edge cases (statistics-scenarios.ts): in an embedded
 * cluster and on real agent processes (2 agents, 3 partitions, so partials merge across
 * partitions and agents), plus partitions big enough to run on worker threads; and the option
 * checks a user meets.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import { InvalidArgumentError, connect, type Cluster } from '../src/index.js';
import { STATISTICS_CASES, checkAgainstNumpy } from './statistics-scenarios.js';

describe('statistics against numpy, embedded', () => {
  let cluster: Cluster;
  let dir: string;
  before(async () => {
    cluster = await connect({ embedded: { agents: 2, threads: 2, memoryBytes: 256 * 1024 * 1024 } });
    dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-statistics-'));
  });
  after(async () => {
    await cluster.close();
    await rm(dir, { recursive: true, force: true });
  });

  for (const testCase of STATISTICS_CASES) {
    it(`${testCase.label} equals numpy`, async () => {
      await checkAgainstNumpy(cluster, dir, testCase, 11, 3);
    });
  }

  it('partitions run on worker threads (over 256 KiB each) and in WebAssembly memories (over 1 MiB) equal numpy', async () => {
    await checkAgainstNumpy(cluster, dir, { label: 'big float64', dtype: 'float64', shape: [200_000, 4], special: 'nan' }, 5, 3);
    await checkAgainstNumpy(cluster, dir, { label: 'big float64 plain', dtype: 'float64', shape: [150_000, 3] }, 8, 3);
    await checkAgainstNumpy(cluster, dir, { label: 'big int64', dtype: 'int64', shape: [50_000, 2] }, 6, 3);
    await checkAgainstNumpy(cluster, dir, { label: 'big float32', dtype: 'float32', shape: [1_000_000] }, 7, 3);
  });

  it('along axis 1, sum, mean, min, max and std give a new stored array of one value per row (the named output options apply)', async () => {
    const rows = [[1, 2, 3], [4, -5, 6], [NaN, 0, 1], [7, 8, 9]];
    const matrix = await cluster.put(Float64Array.from(rows.flat()), { shape: [4, 3], partitions: 2 });
    const mean = (row: number[]) => row.reduce((a, b) => a + b, 0) / row.length;
    const expected = {
      sum: rows.map((row) => row.reduce((a, b) => a + b, 0)),
      mean: rows.map(mean),
      min: rows.map((row) => (row.some(Number.isNaN) ? NaN : Math.min(...row))),
      max: rows.map((row) => (row.some(Number.isNaN) ? NaN : Math.max(...row))),
      std: rows.map((row) => Math.sqrt(row.reduce((a, v) => a + (v - mean(row)) ** 2, 0) / (row.length - 1))),
    };
    for (const op of ['sum', 'mean', 'min', 'max', 'std'] as const) {
      const out = op === 'std' ? await matrix.std({ axis: 1, ddof: 1, name: 'row-std' }) : await matrix[op]({ axis: 1 });
      assert.deepEqual(out.shape, [4]);
      const values = [...(await out.toArray())] as number[];
      values.forEach((v, i) => assert.ok(Number.isNaN(expected[op][i]!) ? Number.isNaN(v) : Math.abs(v - expected[op][i]!) < 1e-12, `${op} row ${i}: ${v}`));
      if (op === 'std') assert.equal(out.name, 'row-std');
      await out.delete();
    }
  });

  it('refuses bad options with errors that name the fix', async () => {
    const matrix = await cluster.put(Float64Array.from({ length: 12 }, (_, i) => i), { shape: [4, 3] });
    const vector = await cluster.put(Float64Array.from({ length: 5 }, (_, i) => i));
    const refused = async (call: Promise<unknown>, pattern: RegExp) =>
      assert.rejects(call, (error: unknown) => error instanceof InvalidArgumentError && pattern.test(error.message));
    await refused(vector.sum({ axis: 0 }), /needs a 2-D array.*shape \[5\]/);
    await refused(vector.max({ axis: 1 } as never), /max along axis 1 needs a 2-D array.*shape \[5\]/);
    await refused(matrix.sum({ axis: 2 as 0 }), /axis must be 0 .* or 1 .*got 2/);
    await refused(matrix.var({ axis: 1 } as never), /var along axis 1 is not built in: sum, mean, min, max and std are/);
    await refused(matrix.mean({ axis: 1, bins: 3 } as never), /unknown option 'bins' of mean/);
    await refused(matrix.var({ ddof: -1 }), /ddof must be a non-negative integer/);
    await refused(matrix.std({ ddof: 1.5 }), /ddof must be a non-negative integer/);
    await refused(matrix.histogram({ bins: 0 }), /bins: a positive integer/);
    await refused(matrix.histogram({ range: [3, 1] }), /lo < hi/);
    await refused(matrix.histogram({ range: [0, Infinity] }), /finite/);
    await refused(matrix.var({ dof: 1 } as never), /unknown option 'dof' of var: did you mean 'ddof'/);
    await refused(matrix.argmin({ axis: 0 } as never), /unknown option 'axis' of argmin/);
    await refused(cluster.reduce(matrix, 'histogram' as never), /histogram takes bins and range/);
    await refused(cluster.reduce(matrix, 'mean', { axis: 0 } as never), /'axis' is an option of the array's method, array\.mean\(\{ axis: … \}\)/);
    const withNaN = await cluster.put(Float64Array.from([1, NaN, 3]));
    await refused(withNaN.histogram(), /autodetected range of \[NaN, NaN\] is not finite/);
    assert.deepEqual(Array.from((await withNaN.histogram({ bins: 2, range: [0, 4] })).counts), [1, 1]);
  });

  it('cluster.reduce runs the parameterless statistics by name', async () => {
    const ref = await cluster.put(Float64Array.from([2, 9, -4, 9, 1]), { partitions: 2 });
    assert.equal(await cluster.reduce(ref, 'argmax'), 1);
    assert.equal(await cluster.reduce(ref, 'argmin'), 2);
    assert.equal(await cluster.reduce(ref, 'norm'), Math.sqrt(4 + 81 + 16 + 81 + 1));
    assert.equal(await cluster.reduce(ref, 'sum'), 17);
  });
});

describe('statistics against numpy, on agent processes', () => {
  let processes: ProcessCluster;
  let cluster: Cluster;
  let dir: string;
  before(async () => {
    processes = await startProcessCluster({ agents: 2, threads: 1, memory: '256MiB' });
    cluster = await connect({ servers: processes.url });
    dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-statistics-'));
  });
  after(async () => {
    await cluster?.close();
    await processes?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('every case equals numpy with partials merged across partitions and agents', async () => {
    for (const testCase of STATISTICS_CASES) await checkAgainstNumpy(cluster, dir, testCase, 23, 3);
    // Partitions over 1 MiB: held in WebAssembly memories, reduced by the SIMD loops.
    await checkAgainstNumpy(cluster, dir, { label: 'big float64 agents', dtype: 'float64', shape: [200_000, 3], special: 'inf' }, 9, 4);
    await checkAgainstNumpy(cluster, dir, { label: 'big float32 agents', dtype: 'float32', shape: [400_000, 2] }, 10, 2);
  });
});
