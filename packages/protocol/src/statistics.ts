import type { BuiltinKernel, BuiltinOp } from './builtin-ops.js';
import type { BuiltinReduction } from './builtin-names.js';
import type { DType } from './dtypes.js';
import { InvalidArgumentError } from './errors.js';
import { columnIdentity, combineColumns, finishColumns, type ColumnPartial } from './column-reductions.js';
import { combineBuiltin, finishBuiltin, identityOf, type BuiltinPartial } from './reductions.js';

/**
 * How every built-in op's partials merge, whole array or along axis 0. Agents compute one
 * partial per block of rows; partials are merged left to right in row order, on the agent for
 * a partition and on the client across partitions, so results do not depend on placement.
 *
 * Partials of the statistics:
 * - argmin, argmax: `[flatIndex, value]` of the first extreme in the block (`value` a bigint
 *   for int64/uint64), `[-1, 0]` for a block with no elements. NaN wins, first one first, as
 *   numpy's argmin/argmax return the first NaN's index.
 * - var, std: `[count, mean, m2, correction]` in float64: the block's mean, the sum of squared
 *   deviations from it (the corrected two-pass algorithm), and what the mean is off by
 *   (mean + correction is the mean to twice float64's precision), merged with Chan et al.'s
 *   parallel formula. Without the correction, the merge of blocks whose means agree to many
 *   digits (data far from 0) would lose those digits in the difference of the means.
 * - norm: the `sumsq` partial; the result is sqrt of it in float64 (no rescaling against
 *   overflow: a sum of squares past 1.8e308 is Infinity).
 * - histogram: a Float64Array of counts per bin, added.
 * - along axis 0: see column-reductions.ts.
 */
export type ArgPartial = [index: number, value: number | bigint];
export type MomentsPartial = [count: number, mean: number, m2: number, correction: number];
export type OpPartial = BuiltinPartial | ArgPartial | MomentsPartial | Float64Array | ColumnPartial;

/** What a finished histogram is: numpy.histogram's `(counts, edges)`. */
export interface Histogram {
  /** Elements per bin (numbers, exact up to 2^53). */
  counts: Float64Array;
  /** The `bins + 1` bin edges; the last bin includes its right edge. */
  edges: Float64Array;
}

/** The partial standing for "no rows yet" of `kernel` on an array of `dtype` with `cols` columns. */
export function opIdentity(kernel: BuiltinKernel, dtype: DType, cols: number): OpPartial {
  if (kernel.params?.axis === 0) return columnIdentity(kernel.op, dtype, cols);
  switch (kernel.op) {
    case 'argmin':
    case 'argmax':
      return [-1, 0];
    case 'var':
    case 'std':
      return [0, 0, 0, 0];
    case 'norm':
      return identityOf('sumsq', dtype);
    case 'histogram':
      return new Float64Array(kernel.params?.bins ?? 0);
    default:
      return identityOf(kernel.op, dtype);
  }
}

/** Merges two partials of `kernel`, `a` from rows before `b`'s. */
export function combineOp(kernel: BuiltinKernel, a: OpPartial, b: OpPartial): OpPartial {
  if (kernel.params?.axis === 0) return combineColumns(kernel.op, a as ColumnPartial, b as ColumnPartial);
  switch (kernel.op) {
    case 'argmin':
      return combineArg(a as ArgPartial, b as ArgPartial, false);
    case 'argmax':
      return combineArg(a as ArgPartial, b as ArgPartial, true);
    case 'var':
    case 'std':
      return combineMoments(a as MomentsPartial, b as MomentsPartial);
    case 'norm':
      return combineBuiltin('sumsq', a as BuiltinPartial, b as BuiltinPartial);
    case 'histogram':
      return addCounts(a as Float64Array, b as Float64Array);
    default:
      return combineBuiltin(kernel.op, a as BuiltinPartial, b as BuiltinPartial);
  }
}

/** Folds partials left to right from the identity. */
export function foldOp(kernel: BuiltinKernel, dtype: DType, cols: number, partials: readonly unknown[]): OpPartial {
  let acc = opIdentity(kernel, dtype, cols);
  for (const partial of partials) acc = combineOp(kernel, acc, partial as OpPartial);
  return acc;
}

/**
 * The user-facing value of a fully merged partial: a number or bigint for the six first
 * reductions (as `finishBuiltin`), a number for argmin/argmax/var/std/norm, counts for a
 * histogram (the caller adds the edges), a typed array along axis 0.
 */
export function finishOp(kernel: BuiltinKernel, partial: OpPartial, dtype: DType): number | bigint | Float64Array | ArrayBufferView {
  if (kernel.params?.axis === 0) return finishColumns(kernel.op, partial as ColumnPartial, dtype, kernel.params.ddof ?? 0);
  switch (kernel.op) {
    case 'argmin':
    case 'argmax':
      return (partial as ArgPartial)[0];
    case 'var':
    case 'std': {
      const variance = varianceOf(partial as MomentsPartial, kernel.params?.ddof ?? 0);
      return kernel.op === 'std' ? Math.sqrt(variance) : variance;
    }
    case 'norm':
      return Math.sqrt(Number(partial as number | bigint));
    case 'histogram':
      return partial as Float64Array;
    default:
      return finishBuiltin(kernel.op, partial as BuiltinPartial);
  }
}

/**
 * numpy's variance from merged moments: m2 / max(n - ddof, 0), so NaN for no elements, and
 * NaN or Infinity when ddof leaves no degrees of freedom (numpy warns and returns the same).
 */
export function varianceOf([count, , m2]: readonly [number, number, number, ...number[]], ddof: number): number {
  if (count === 0) return NaN;
  return m2 / Math.max(count - ddof, 0);
}

/**
 * The error for an op that has no value on an array with no elements (or, along axis 0, with
 * no rows but some columns), worded after numpy's, or undefined when the op has a value there.
 */
export function emptyOpError(kernel: BuiltinKernel, shape: readonly number[]): InvalidArgumentError | undefined {
  const op = kernel.op;
  const noElements = shape.reduce((n, d) => n * d, 1) === 0;
  if (kernel.params?.axis === 0) {
    const [rows = 0, cols = 0] = shape;
    if (rows > 0 || cols === 0 || (op !== 'min' && op !== 'max')) return undefined;
    const numpyName = op === 'min' ? 'minimum' : 'maximum';
    return new InvalidArgumentError(
      `${op} along axis 0 of an array with no rows (shape [${shape.join(', ')}]) has no value: ` +
        `numpy raises "zero-size array to reduction operation ${numpyName} which has no identity"; check the size first`,
      { details: { op, shape: [...shape] } },
    );
  }
  if (!noElements || (op !== 'argmin' && op !== 'argmax')) return undefined;
  return new InvalidArgumentError(
    `${op} of an array with no elements (shape [${shape.join(', ')}]) has no value: numpy raises "attempt to get ${op} of an empty sequence"; check the size first`,
    { details: { op, shape: [...shape] } },
  );
}

/** Whether the op's partials are those of one of the six first reductions (its value too). */
export function isPlainReduction(kernel: BuiltinKernel): kernel is { op: BuiltinReduction; params?: undefined } {
  return kernel.params?.axis === undefined && !isStatistic(kernel.op);
}

function isStatistic(op: BuiltinOp): boolean {
  return op === 'argmin' || op === 'argmax' || op === 'var' || op === 'std' || op === 'norm' || op === 'histogram';
}

function combineArg(a: ArgPartial, b: ArgPartial, greatest: boolean): ArgPartial {
  if (a[0] < 0) return b;
  if (b[0] < 0) return a;
  const [, va] = a;
  const [, vb] = b;
  if (typeof va === 'number' && Number.isNaN(va)) return a;
  if (typeof vb === 'number' && Number.isNaN(vb)) return b;
  // Ties keep a: the first occurrence, as numpy.
  return (greatest ? vb > va : vb < va) ? b : a;
}

/**
 * Chan, Golub and LeVeque's pairwise update: exact in exact arithmetic, and numerically sound
 * in float64 because each side's m2 was computed around its own mean, and the difference of the
 * means is taken with their corrections.
 */
function combineMoments(a: MomentsPartial, b: MomentsPartial): MomentsPartial {
  const [na, meanA, m2a, correctionA] = a;
  const [nb, meanB, m2b, correctionB] = b;
  if (na === 0) return b;
  if (nb === 0) return a;
  const n = na + nb;
  const delta = meanB - meanA + (correctionB - correctionA);
  const [mean, rounding] = twoSum(meanA, (delta * nb) / n);
  return [n, mean, m2a + m2b + ((delta * delta * na) / n) * nb, rounding + correctionA];
}

/** a + b as the float64 sum and its rounding error (Knuth's TwoSum): sum + error == a + b exactly. */
function twoSum(a: number, b: number): [number, number] {
  const sum = a + b;
  const bPart = sum - a;
  return [sum, a - (sum - bPart) + (b - bPart)];
}

function addCounts(a: Float64Array, b: Float64Array): Float64Array {
  if (a.length !== b.length) throw new InvalidArgumentError(`histogram partials of ${a.length} and ${b.length} bins cannot be merged`);
  const sum = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) sum[i] = a[i]! + b[i]!;
  return sum;
}
