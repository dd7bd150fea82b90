import {
  InvalidArgumentError,
  checkBuiltinKernel,
  checkKeys,
  elementCount,
  emptyOpError,
  emptyReductionError,
  finishOp,
  histogramEdges,
  keysOf,
  type ArrayMeta,
  type BuiltinKernel,
  type BuiltinOp,
  type BuiltinParams,
  type Histogram,
  type OpPartial,
} from '@sharc/protocol';
import { JOB_OPTION_KEYS, type JobOptions } from './jobs/run-job.js';
import type { ArrayRef } from './array-ref.js';
import type { RowStatisticName, RowStatisticOptions } from './ops/builtin-ops.js';

/**
 * The reductions of ArrayRef (`a.sum()`, `a.std({ ddof: 1 })`, `a.mean({ axis: 0 })`,
 * `a.histogram({ bins, range })`) and of `cluster.reduce(a, name)`: options checked here, in
 * one place, then run as one `reduce` job with a built-in kernel `{ op, params }` (two more, min
 * and max, for a histogram without a range), and the merged partial turned into numpy's value.
 */

/** Options of the reductions that run whole-array or along an axis. */
export interface AxisOptions extends JobOptions {
  /**
   * 0: one value per column of a 2-D array, returned as a typed array (Float64Array; min and
   * max keep the array's dtype). 1: one value per row, a new stored array (see `axisOne`).
   * @default every element
   */
  axis?: 0 | 1;
}
export const AXIS_OPTION_KEYS = keysOf<AxisOptions>()([...JOB_OPTION_KEYS, 'axis']);

/** Options of var and std. */
export interface VarianceOptions extends AxisOptions {
  /** Delta degrees of freedom: the divisor is `n - ddof` (1 for the sample variance). @default 0 */
  ddof?: number;
}
export const VARIANCE_OPTION_KEYS = keysOf<VarianceOptions>()([...AXIS_OPTION_KEYS, 'ddof']);

/** Options of histogram (numpy.histogram with an integer `bins`). */
export interface HistogramOptions extends JobOptions {
  /** Number of equal-width bins. @default 10 (as numpy) */
  bins?: number;
  /**
   * Outer edges `[lo, hi]`, lo < hi, both finite: elements outside are not counted, the last
   * bin includes `hi`. @default [min, max] of the data (two more passes, min and max, run
   * together; data holding NaN or ±Infinity then has no range, as in numpy)
   */
  range?: readonly [number, number];
}
export const HISTOGRAM_OPTION_KEYS = keysOf<HistogramOptions>()([...JOB_OPTION_KEYS, 'bins', 'range']);

/** numpy.histogram's default number of bins. */
const DEFAULT_BINS = 10;

const KEYS_OF: Record<BuiltinOp, readonly string[]> = {
  sum: AXIS_OPTION_KEYS,
  mean: AXIS_OPTION_KEYS,
  min: AXIS_OPTION_KEYS,
  max: AXIS_OPTION_KEYS,
  var: VARIANCE_OPTION_KEYS,
  std: VARIANCE_OPTION_KEYS,
  histogram: HISTOGRAM_OPTION_KEYS,
  sumsq: JOB_OPTION_KEYS,
  count: JOB_OPTION_KEYS,
  argmin: JOB_OPTION_KEYS,
  argmax: JOB_OPTION_KEYS,
  norm: JOB_OPTION_KEYS,
};

/** What ArrayRef needs to run a built-in: one reduce job, its partials merged in row order. */
export interface BuiltinRunner {
  runBuiltin(meta: ArrayMeta, kernel: BuiltinKernel, options: JobOptions): Promise<OpPartial>;
  /** A statistic along axis 1: one value per row, a new stored array (a builtin-map job). */
  rowStatisticOf(meta: ArrayMeta, name: RowStatisticName, options: RowStatisticOptions): Promise<ArrayRef>;
}

/**
 * Runs built-in `op` over `meta`'s array with `options` (its own keys and the job options),
 * and returns numpy's value: a number (bigint for int64/uint64 sums, min, max), a typed array
 * along axis 0, `{ counts, edges }` for a histogram.
 */
export async function reduceArray(runner: BuiltinRunner, meta: ArrayMeta, op: BuiltinOp, options: object = {}): Promise<unknown> {
  if ((options as AxisOptions).axis === 1) {
    if (meta.shape.length !== 2) {
      throw new InvalidArgumentError(`${op} along axis 1 needs a 2-D array, this one has shape [${meta.shape.join(', ')}]: leave axis out to reduce every element`, {
        details: { op, shape: [...meta.shape] },
      });
    }
    const rest: Record<string, unknown> = { ...options };
    delete rest.axis;
    return axisOne(runner, meta, op, rest);
  }
  const { kernel, jobOptions } = builtinKernelOf(meta, op, options, KEYS_OF[op]);
  if (op === 'histogram') return histogram(runner, meta, kernel, jobOptions);
  return finishOp(kernel, await runner.runBuiltin(meta, kernel, jobOptions), meta.dtype);
}

/**
 * Built-in `op`'s kernel (its params from `options`: axis 0, ddof, bins, range) over `meta`'s
 * array, checked as numpy would (`keys`: the options the call takes), and the job options left.
 * Along axis 1 is not one reduce: the caller dispatches it first.
 */
export function builtinKernelOf(meta: ArrayMeta, op: BuiltinOp, options: object, keys: readonly string[]): { kernel: BuiltinKernel; jobOptions: JobOptions } {
  checkKeys(options, { of: op, keys });
  const { axis, ddof, bins, range, ...jobOptions } = options as AxisOptions & VarianceOptions & HistogramOptions;
  if (axis !== undefined && axis !== 0) {
    throw new InvalidArgumentError(`axis must be 0 (one value per column) or 1 (one value per row), got ${JSON.stringify(axis)}; leave it out to reduce every element`, {
      details: { op },
    });
  }
  const params: BuiltinParams = {
    ...(axis === 0 ? { axis } : {}),
    ...(ddof === undefined ? {} : { ddof }),
    ...(op === 'histogram' ? { bins: bins ?? DEFAULT_BINS } : {}),
    ...(range === undefined ? {} : { range: [...range] as [number, number] }),
  };
  const kernel: BuiltinKernel = Object.keys(params).length === 0 ? { op } : { op, params };
  checkBuiltinKernel(kernel, meta.shape, false);
  const empty = elementCount(meta.shape) === 0 && axis === undefined && (op === 'min' || op === 'max') ? emptyReductionError(op, meta.shape) : emptyOpError(kernel, meta.shape);
  if (empty !== undefined) throw empty;
  return { kernel, jobOptions };
}

/** The options of each built-in besides the job's (a detached job's submit takes these with its own). */
export const BUILTIN_OWN_KEYS: Record<BuiltinOp, readonly string[]> = {
  sum: ['axis'],
  mean: ['axis'],
  min: ['axis'],
  max: ['axis'],
  var: ['axis', 'ddof'],
  std: ['axis', 'ddof'],
  histogram: ['bins', 'range'],
  sumsq: [],
  count: [],
  argmin: [],
  argmax: [],
  norm: [],
};

/**
 * The one place where reductions along axis 1 are dispatched: one value per row, a new stored
 * array made by a `builtin-map` job (numpy's `a.sum(axis=1)`), with the output's options
 * (`name`, `replace`, `detached`) besides the job's and `ddof` for std.
 */
function axisOne(runner: BuiltinRunner, meta: ArrayMeta, op: BuiltinOp, options: object): Promise<ArrayRef> {
  if (op !== 'sum' && op !== 'mean' && op !== 'min' && op !== 'max' && op !== 'std') {
    throw new InvalidArgumentError(`${op} along axis 1 is not built in: sum, mean, min, max and std are (one value per row, a new stored array)`, {
      details: { op, shape: [...meta.shape] },
    });
  }
  return runner.rowStatisticOf(meta, op, options as RowStatisticOptions);
}

async function histogram(runner: BuiltinRunner, meta: ArrayMeta, kernel: BuiltinKernel, options: JobOptions): Promise<Histogram> {
  const bins = kernel.params?.bins ?? DEFAULT_BINS;
  const started = Date.now();
  const [lo, hi] = kernel.params?.range ?? (await dataRange(runner, meta, options));
  // timeoutMs bounds the whole call: the counting pass gets what the range passes left of it.
  const { timeoutMs } = options;
  const remaining = timeoutMs === undefined ? options : { ...options, timeoutMs: Math.max(1, timeoutMs - (Date.now() - started)) };
  const counts = (await runner.runBuiltin(meta, { op: 'histogram', params: { bins, range: [lo, hi] } }, remaining)) as Float64Array;
  return { counts, edges: histogramEdges(lo, hi, bins, meta.dtype) };
}

/**
 * numpy's default histogram range: [min, max] of the data ([0, 1] without elements), widened
 * by 0.5 on each side when they are equal; data holding NaN or ±Infinity has none.
 */
async function dataRange(runner: BuiltinRunner, meta: ArrayMeta, options: JobOptions): Promise<[number, number]> {
  if (elementCount(meta.shape) === 0) return [0, 1];
  // Progress is reported by the histogram pass only: these two are its preparation.
  const quiet = { ...options };
  delete quiet.onProgress;
  const [min, max] = (await Promise.all([runner.runBuiltin(meta, { op: 'min' }, quiet), runner.runBuiltin(meta, { op: 'max' }, quiet)])).map(Number) as [number, number];
  if (!Number.isFinite(min) || !Number.isFinite(max)) {
    throw new InvalidArgumentError(
      `histogram: autodetected range of [${min}, ${max}] is not finite (the data holds NaN or ±Infinity, as numpy says): give range: [lo, hi] (sharc reduce --range lo,hi)`,
      { details: { op: 'histogram', min, max } },
    );
  }
  return min === max ? [min - 0.5, max + 0.5] : [min, max];
}
