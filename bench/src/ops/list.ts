import type { ArrayRef, Cluster } from '@sharc/sdk';

/**
 * Benchmark "ops": every built-in operation over 1 GiB, by sharc and by two baselines measured
 * in the same run (C/OpenMP and numpy in 2 processes, bench/baselines/). One entry per row of
 * the table; C and numpy run every entry, sharc the entries that say how to call it.
 *
 * Adding an operation sharc gained is one `sharc:` line on its entry, e.g.
 *   sharc: (c, { a }) => a.argmin()
 * An entry without `sharc` is measured for the baselines only and shows sharc as "—".
 */

export type OpDtype = 'float64' | 'float32';

/**
 * The arrays an op reads, all made of the one bench dataset (bench/src/data.ts, the same formula
 * in C and numpy), 1 GiB of the entry's dtype:
 * - `whole`: the dataset as one 1-D array (float32: 2^28 values, also 1 GiB);
 * - `halves`: a = its first half, b = its second half (2 × 512 MiB), for binary ops;
 * - `rows16` / `rows256`: the float64 dataset as a 2-D array [N / 16, 16] / [N / 256, 256].
 */
export type OpDataset = 'whole' | 'halves' | 'rows16' | 'rows256';

export interface OpInputs {
  a: ArrayRef;
  /** The second operand of binary ops (dataset `halves`). */
  b?: ArrayRef;
}

/** What a sharc call gives back: a scalar, a vector (histogram counts, column means), or a new stored array. */
export type OpResult = number | ArrayLike<number> | ArrayRef;

/**
 * The targets of issue 10: whole-array built-ins ≥ 0.9× C and ≥ 1.0× numpy; axis-0 mean and
 * astype ≥ 0.8× C; `none` rows are reported (and checked) without a target.
 */
export type OpTarget = 'whole-array' | 'axis0-astype' | 'none';

export interface OpEntry {
  /** The op name C and numpy know (bench/baselines/ops.c, numpy_ops.py). */
  op: string;
  dtype: OpDtype;
  /** What the table shows, e.g. "mean(axis=0) [N,16]". */
  label: string;
  dataset: OpDataset;
  /**
   * Bytes read plus bytes written by one run, as a multiple of the dataset's bytes (1 GiB in the
   * bench): 1 for a reduction, 1.5 for add (2 × ½ read, ½ written) and astype (1 read, ½ written).
   */
  traffic: number;
  target: OpTarget;
  /** Largest relative difference allowed between sharc's and C's result (0: equal). */
  tolerance: number;
  /** The same between numpy's and C's (numpy accumulates float32 in float32). */
  numpyTolerance: number;
  /** Why these tolerances, for the report. */
  why: string;
  /** How sharc runs it; absent while sharc cannot. */
  sharc?: (cluster: Cluster, inputs: OpInputs) => Promise<OpResult>;
}

export const HISTOGRAM_BINS = 64;
export const HISTOGRAM_RANGE: readonly [number, number] = [-0.5, 0.5];

const SUM_TOLERANCE = 1e-8;
const SUM_WHY = 'rounding: the sums run in a different order';
const NUMPY_FLOAT32 = 1e-3;
const NUMPY_FLOAT32_WHY = 'numpy accumulates float32 in float32 (its float32 np.dot loses most digits over 2^27 values: reported, not counted)';

function wholeArray(op: string, dtype: OpDtype, exact: boolean, sharc?: OpEntry['sharc']): OpEntry {
  return {
    op,
    dtype,
    label: op,
    dataset: 'whole',
    traffic: 1,
    target: 'whole-array',
    tolerance: exact ? 0 : SUM_TOLERANCE,
    numpyTolerance: exact ? 0 : dtype === 'float32' ? NUMPY_FLOAT32 : SUM_TOLERANCE,
    why: exact ? 'exact' : dtype === 'float32' ? `${SUM_WHY}; ${NUMPY_FLOAT32_WHY}` : SUM_WHY,
    ...(sharc === undefined ? {} : { sharc }),
  };
}

function forDtype(dtype: OpDtype): OpEntry[] {
  return [
    wholeArray('sum', dtype, false, (c, { a }) => c.reduce(a, 'sum') as Promise<number>),
    wholeArray('sumsq', dtype, false, (c, { a }) => c.reduce(a, 'sumsq') as Promise<number>),
    wholeArray('mean', dtype, false, (c, { a }) => c.reduce(a, 'mean') as Promise<number>),
    wholeArray('min', dtype, true, (c, { a }) => c.reduce(a, 'min') as Promise<number>),
    wholeArray('max', dtype, true, (c, { a }) => c.reduce(a, 'max') as Promise<number>),
    wholeArray('argmin', dtype, true, (c, { a }) => a.argmin()),
    wholeArray('argmax', dtype, true, (c, { a }) => a.argmax()),
    wholeArray('var', dtype, false, (c, { a }) => a.var()),
    wholeArray('std', dtype, false, (c, { a }) => a.std()),
    wholeArray('norm', dtype, false, (c, { a }) => a.norm()),
    {
      ...wholeArray('histogram', dtype, true, (c, { a }) => a.histogram({ bins: HISTOGRAM_BINS, range: HISTOGRAM_RANGE }).then((h) => h.counts)),
      label: `histogram (${HISTOGRAM_BINS} bins)`,
      why: 'counts equal (no value lies within rounding of a bin edge)',
    },
    {
      ...wholeArray('dot', dtype, false, (c, { a, b }) => c.dot(a, b!)),
      label: 'dot(a, b)',
      dataset: 'halves',
    },
  ];
}

/** The bench's op list; float64 first, then float32, so C and numpy fill each dataset once. */
export const OPS: readonly OpEntry[] = [
  ...forDtype('float64'),
  {
    op: 'add',
    dtype: 'float64',
    label: 'add(a, b)',
    dataset: 'halves',
    traffic: 1.5,
    target: 'none',
    tolerance: SUM_TOLERANCE,
    numpyTolerance: SUM_TOLERANCE,
    why: 'checksum: the sum of the output',
    sharc: (c, { a, b }) => c.add(a, b!),
  },
  {
    op: 'astype',
    dtype: 'float64',
    label: 'astype(float32)',
    dataset: 'whole',
    traffic: 1.5,
    target: 'axis0-astype',
    tolerance: SUM_TOLERANCE,
    numpyTolerance: SUM_TOLERANCE,
    why: 'checksum: the sum of the output, in float64',
    sharc: (c, { a }) => a.astype('float32'),
  },
  {
    op: 'astype-fresh',
    dtype: 'float64',
    label: 'astype(float32), fresh output pages',
    dataset: 'whole',
    traffic: 1.5,
    target: 'none',
    tolerance: SUM_TOLERANCE,
    numpyTolerance: SUM_TOLERANCE,
    why: 'checksum: the sum of the output, in float64; baselines only (sharc\'s astype row is the same call)',
  },
  ...[16, 256].map(
    (cols): OpEntry => ({
      op: `mean-axis0-${cols}`,
      dtype: 'float64',
      label: `mean(axis=0) [N,${cols}]`,
      dataset: cols === 16 ? 'rows16' : 'rows256',
      traffic: 1,
      target: 'axis0-astype',
      tolerance: SUM_TOLERANCE,
      numpyTolerance: SUM_TOLERANCE,
      why: `${SUM_WHY}; every column compared`,
      sharc: (c, { a }) => a.mean({ axis: 0 }),
    }),
  ),
  ...forDtype('float32'),
];

export function opKey(entry: Pick<OpEntry, 'op' | 'dtype'>): string {
  return `${entry.op}:${entry.dtype}`;
}
