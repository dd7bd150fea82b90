/**
 * The statistics built-ins against numpy, shared by the embedded and the process-cluster tests:
 * each case is put with several partitions, saved as .npy, and numpy's answers (computed by
 * /usr/bin/python3) are compared with sharc's: argmin/argmax and histogram counts and edges
 * exactly, var/std/norm/means to 1e-9 relative (two-pass blocks merged by Chan's formula are
 * not summed in numpy's order), integer axis-0 sums exactly, axis-0 min/max exactly in the array's dtype.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { InvalidArgumentError, type ArrayRef, type Cluster, type DType, type TypedArray } from '../src/index.js';

const PYTHON = '/usr/bin/python3';
const BINS = 7;

/** Everything numpy says about one array, as text (repr of floats: NaN and ±Infinity survive JSON). */
const NUMPY_SCRIPT = `
import numpy as np, json, sys
a = np.load(sys.argv[1])
given_range = json.loads(sys.argv[2])
f64 = np.float64
def text(v):
    if isinstance(v, (np.integer, int, np.bool_, bool)): return str(int(v))
    return repr(float(v))
def attempt(fn):
    try: return fn()
    except ValueError as e: return {'error': str(e)}
flat = a.ravel()
out = {}
out['argmin'] = attempt(lambda: int(np.argmin(flat)))
out['argmax'] = attempt(lambda: int(np.argmax(flat)))
with np.errstate(all='ignore'):
    import warnings
    warnings.simplefilter('ignore')
    for ddof in (0, 1):
        out['var%d' % ddof] = text(np.var(flat, dtype=f64, ddof=ddof))
        out['std%d' % ddof] = text(np.std(flat, dtype=f64, ddof=ddof))
    out['norm'] = text(np.linalg.norm(flat.astype(f64)))
    def hist(r):
        counts, edges = np.histogram(flat, bins=${BINS}, range=r)
        return {'counts': [int(c) for c in counts], 'edges': [text(e) for e in edges]}
    out['histogram'] = attempt(lambda: hist(None))
    if given_range is not None: out['histogramRange'] = hist(tuple(given_range))
    if a.ndim == 2:
        cols = a.T
        out['sum0'] = [text(float(sum(int(x) for x in col))) if a.dtype.kind in 'iub' else text(np.sum(col, dtype=f64)) for col in cols]
        out['mean0'] = [text(v) for v in np.mean(a, axis=0, dtype=f64)]
        out['min0'] = attempt(lambda: [text(v) for v in np.min(a, axis=0)])
        out['max0'] = attempt(lambda: [text(v) for v in np.max(a, axis=0)])
        out['axisStd'] = [text(v) for v in np.std(a, axis=0, dtype=f64, ddof=1)]
        out['axisVar'] = [text(v) for v in np.var(a, axis=0, dtype=f64)]
print(json.dumps(out))
`;

type Failure = { error: string };
interface NumpyFacts {
  argmin: number | Failure;
  argmax: number | Failure;
  var0: string;
  var1: string;
  std0: string;
  std1: string;
  norm: string;
  histogram: { counts: number[]; edges: string[] } | Failure;
  histogramRange?: { counts: number[]; edges: string[] };
  sum0?: string[];
  mean0?: string[];
  min0?: string[] | Failure;
  max0?: string[] | Failure;
  axisStd?: string[];
  axisVar?: string[];
}

export interface StatisticsCase {
  label: string;
  dtype: DType;
  shape: [number] | [number, number];
  /** Special values mixed in (float dtypes), or every value moved far from 0 (`offset`: + 1e9). */
  special?: 'nan' | 'inf' | 'offset';
}

/** A small deterministic generator (the same data on every run). */
function generator(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 2 ** 32;
  };
}

export function dataFor(testCase: StatisticsCase, seed: number): TypedArray {
  const random = generator(seed);
  const n = testCase.shape.reduce((a, b) => a * b, 1);
  const special = (v: number): number => {
    if (testCase.special === 'nan' && random() < 0.01) return NaN;
    if (testCase.special === 'inf' && random() < 0.01) return random() < 0.5 ? Infinity : -Infinity;
    return testCase.special === 'offset' ? v + 1e9 : v;
  };
  switch (testCase.dtype) {
    case 'float64':
      return Float64Array.from({ length: n }, () => special((random() - 0.3) * 1000));
    case 'float32':
      return Float32Array.from({ length: n }, () => special((random() - 0.3) * 1000));
    case 'int64':
      // Mostly small, some near ±2^62: exact sums past 2^53, float64 conversions that round.
      return BigInt64Array.from({ length: n }, () => (random() < 0.05 ? BigInt(Math.floor((random() - 0.5) * 2 ** 30)) * 2n ** 32n : BigInt(Math.floor((random() - 0.5) * 2e6))));
    case 'uint64':
      return BigUint64Array.from({ length: n }, () => (random() < 0.05 ? BigInt(Math.floor(random() * 2 ** 31)) * 2n ** 32n : BigInt(Math.floor(random() * 2e6))));
    case 'int32':
      return Int32Array.from({ length: n }, () => Math.floor((random() - 0.5) * 2 ** 31));
    case 'uint32':
      return Uint32Array.from({ length: n }, () => Math.floor(random() * 2 ** 32));
    case 'int16':
      return Int16Array.from({ length: n }, () => Math.floor((random() - 0.5) * 65536));
    case 'uint16':
      return Uint16Array.from({ length: n }, () => Math.floor(random() * 65536));
    case 'int8':
      return Int8Array.from({ length: n }, () => Math.floor((random() - 0.5) * 256));
    case 'uint8':
    case 'bool':
      return Uint8Array.from({ length: n }, () => Math.floor(random() * (testCase.dtype === 'bool' ? 2 : 256)));
  }
}

function number(text: string): number {
  if (text === 'nan') return NaN;
  if (text === 'inf') return Infinity;
  if (text === '-inf') return -Infinity;
  return Number(text);
}

function assertClose(actual: number, expected: number, what: string): void {
  if (Number.isNaN(expected) || !Number.isFinite(expected)) {
    assert.ok(Object.is(actual, expected) || (Number.isNaN(actual) && Number.isNaN(expected)), `${what}: got ${actual}, numpy ${expected}`);
    return;
  }
  const tolerance = 1e-9 * Math.max(1, Math.abs(expected));
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: got ${actual}, numpy ${expected}`);
}

function assertAllClose(actual: ArrayLike<number>, expected: string[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) assertClose(actual[i]!, number(expected[i]!), `${what}[${i}]`);
}

async function assertRefused(call: Promise<unknown>, numpyError: Failure, what: string): Promise<void> {
  await assert.rejects(call, (error: unknown) => {
    assert.ok(error instanceof InvalidArgumentError, `${what}: expected InvalidArgumentError, got ${String(error)}`);
    return true;
  }, `${what}: numpy raises "${numpyError.error}"`);
}

function isFailure(value: unknown): value is Failure {
  return typeof value === 'object' && value !== null && 'error' in value;
}

/** Puts `testCase`'s data, asks numpy about it, and checks every statistic of sharc against it. */
export async function checkAgainstNumpy(cluster: Cluster, dir: string, testCase: StatisticsCase, seed: number, partitions: number): Promise<void> {
  const data = dataFor(testCase, seed);
  const ref: ArrayRef = await cluster.put(data as Float64Array, { shape: testCase.shape, partitions, ...(testCase.dtype === 'bool' ? { dtype: 'bool' as const } : {}) });
  try {
    const file = path.join(dir, `${testCase.label.replace(/[^a-z0-9]+/gi, '-')}-${seed}.npy`);
    await ref.save(file);
    const range: [number, number] = [-250.5, 600];
    const facts = JSON.parse(execFileSync(PYTHON, ['-c', NUMPY_SCRIPT, file, JSON.stringify(range)], { encoding: 'utf8' })) as NumpyFacts;
    const label = testCase.label;

    for (const op of ['argmin', 'argmax'] as const) {
      const expected = facts[op];
      if (isFailure(expected)) await assertRefused(ref[op](), expected, `${label} ${op}`);
      else assert.equal(await ref[op](), expected, `${label} ${op}`);
    }
    assertClose(await ref.var(), number(facts.var0), `${label} var`);
    assertClose(await ref.var({ ddof: 1 }), number(facts.var1), `${label} var ddof 1`);
    assertClose(await ref.std(), number(facts.std0), `${label} std`);
    assertClose(await ref.std({ ddof: 1 }), number(facts.std1), `${label} std ddof 1`);
    assertClose(await ref.norm(), number(facts.norm), `${label} norm`);
    assertClose((await cluster.reduce(ref, 'std')) as number, number(facts.std0), `${label} reduce std`);

    if (isFailure(facts.histogram)) {
      await assertRefused(ref.histogram({ bins: BINS }), facts.histogram, `${label} histogram`);
    } else {
      const histogram = await ref.histogram({ bins: BINS });
      assert.deepEqual(Array.from(histogram.counts), facts.histogram.counts, `${label} histogram counts`);
      assert.deepEqual(Array.from(histogram.edges), facts.histogram.edges.map(number), `${label} histogram edges`);
    }
    const ranged = await ref.histogram({ bins: BINS, range });
    assert.deepEqual(Array.from(ranged.counts), facts.histogramRange!.counts, `${label} histogram with range`);
    assert.deepEqual(Array.from(ranged.edges), facts.histogramRange!.edges.map(number), `${label} histogram edges with range`);

    if (testCase.shape.length === 2) {
      const sums = await ref.sum({ axis: 0 });
      assert.ok(sums instanceof Float64Array);
      // Integer sums are exact (numpy's are, below 2^63); float sums are added in another order.
      if (testCase.dtype.startsWith('float')) assertAllClose(sums, facts.sum0!, `${label} sum axis 0`);
      else assert.deepEqual(Array.from(sums), facts.sum0!.map(number), `${label} sum axis 0`);
      assertAllClose(await ref.mean({ axis: 0 }), facts.mean0!, `${label} mean axis 0`);
      assertAllClose(await ref.std({ axis: 0, ddof: 1 }), facts.axisStd!, `${label} std axis 0 ddof 1`);
      assertAllClose(await ref.var({ axis: 0 }), facts.axisVar!, `${label} var axis 0`);
      for (const op of ['min', 'max'] as const) {
        const expected = facts[`${op}0`]!;
        if (isFailure(expected)) {
          await assertRefused(ref[op]({ axis: 0 }), expected, `${label} ${op} axis 0`);
          continue;
        }
        const values = await ref[op]({ axis: 0 });
        const ctor = testCase.dtype === 'bool' ? Uint8Array : (data.constructor as new (n: number) => TypedArray);
        assert.ok(values instanceof ctor, `${label} ${op} axis 0 keeps the dtype (${ctor.name}), got ${values.constructor.name}`);
        assert.deepEqual(
          Array.from(values as ArrayLike<number | bigint>, (v) => (typeof v === 'bigint' ? v.toString() : v)),
          expected.map((text) => (typeof (values as ArrayLike<unknown>)[0] === 'bigint' ? text : number(text))),
          `${label} ${op} axis 0`,
        );
      }
    }
  } finally {
    await ref.delete();
  }
}

/** Every dtype, with NaN and ±Inf for floats, 1-D and 2-D, empty, one row. */
export const STATISTICS_CASES: StatisticsCase[] = [
  { label: 'float64 2-D', dtype: 'float64', shape: [301, 7] },
  { label: 'float64 with NaN', dtype: 'float64', shape: [400, 5], special: 'nan' },
  { label: 'float64 with inf', dtype: 'float64', shape: [400, 5], special: 'inf' },
  { label: 'float64 far from 0 (var of data near 1e9)', dtype: 'float64', shape: [900, 2], special: 'offset' },
  { label: 'float32 2-D', dtype: 'float32', shape: [257, 6] },
  { label: 'float32 with NaN 1-D', dtype: 'float32', shape: [999], special: 'nan' },
  { label: 'int64 2-D', dtype: 'int64', shape: [333, 4] },
  { label: 'uint64 2-D', dtype: 'uint64', shape: [100, 3] },
  { label: 'int32 2-D', dtype: 'int32', shape: [120, 5] },
  { label: 'uint32 1-D', dtype: 'uint32', shape: [500] },
  { label: 'int16 2-D', dtype: 'int16', shape: [90, 4] },
  { label: 'uint16 2-D', dtype: 'uint16', shape: [70, 3] },
  { label: 'int8 2-D', dtype: 'int8', shape: [64, 9] },
  { label: 'uint8 1-D', dtype: 'uint8', shape: [777] },
  { label: 'bool 2-D', dtype: 'bool', shape: [150, 4] },
  { label: 'float64 one row', dtype: 'float64', shape: [1, 5] },
  { label: 'int64 one row', dtype: 'int64', shape: [1, 3] },
  { label: 'float64 empty 2-D', dtype: 'float64', shape: [0, 3] },
  { label: 'int64 empty 1-D', dtype: 'int64', shape: [0] },
];
