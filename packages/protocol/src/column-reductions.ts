import type { BuiltinOp } from './builtin-ops.js';
import { isBigIntDType, typedArrayConstructor, type DType } from './dtypes.js';

/**
 * Reductions along axis 0 of a 2-D array: one value per column. A block's partial is a column
 * vector (or a few), merged with the next block's column by column, left to right in row order.
 *
 * Partials (cols = the array's columns):
 * - sum: a Float64Array of column sums; for int64/uint64 an array of exact bigints;
 * - mean: `[sums, rows]`, sums as for sum;
 * - min, max: a Float64Array of column extremes (±Infinity: no row yet; NaN propagates), for
 *   int64/uint64 an array of bigints (or ±Infinity for no row yet);
 * - var, std: `[rows, means, m2s, corrections]`, Float64Arrays, merged column by column with
 *   Chan's formula (as the whole-array moments in statistics.ts).
 */
export type ColumnSums = Float64Array | bigint[];
export type ColumnExtremes = Float64Array | (bigint | number)[];
export type ColumnMoments = [rows: number, means: Float64Array, m2s: Float64Array, corrections: Float64Array];
export type ColumnPartial = ColumnSums | [ColumnSums, number] | ColumnExtremes | ColumnMoments;

export function columnIdentity(op: BuiltinOp, dtype: DType, cols: number): ColumnPartial {
  const big = isBigIntDType(dtype);
  switch (op) {
    case 'sum':
      return big ? new Array<bigint>(cols).fill(0n) : new Float64Array(cols);
    case 'mean':
      return [big ? new Array<bigint>(cols).fill(0n) : new Float64Array(cols), 0];
    case 'min':
    case 'max': {
      const none = op === 'min' ? Infinity : -Infinity;
      return big ? new Array<number>(cols).fill(none) : new Float64Array(cols).fill(none);
    }
    case 'var':
    case 'std':
      return [0, new Float64Array(cols), new Float64Array(cols), new Float64Array(cols)];
    default:
      throw new TypeError(`${op} has no axis-0 form`);
  }
}

export function combineColumns(op: BuiltinOp, a: ColumnPartial, b: ColumnPartial): ColumnPartial {
  switch (op) {
    case 'sum':
      return addSums(a as ColumnSums, b as ColumnSums);
    case 'mean': {
      const [sa, ra] = a as [ColumnSums, number];
      const [sb, rb] = b as [ColumnSums, number];
      return [addSums(sa, sb), ra + rb];
    }
    case 'min':
    case 'max':
      return mergeExtremes(a as ColumnExtremes, b as ColumnExtremes, op === 'max');
    case 'var':
    case 'std':
      return mergeMoments(a as ColumnMoments, b as ColumnMoments);
    default:
      throw new TypeError(`${op} has no axis-0 form`);
  }
}

/**
 * The column values: a Float64Array for sum, mean, var, std (int64 sums rounded to float64
 * once, from the exact sum); min and max keep the array's dtype (BigInt64Array for int64,
 * Uint8Array of 0/1 for bool).
 */
export function finishColumns(op: BuiltinOp, partial: ColumnPartial, dtype: DType, ddof: number): Float64Array | ArrayBufferView {
  switch (op) {
    case 'sum':
      return toFloat64(partial as ColumnSums);
    case 'mean': {
      const [sums, rows] = partial as [ColumnSums, number];
      const means = toFloat64(sums);
      for (let c = 0; c < means.length; c++) means[c] = rows === 0 ? NaN : means[c]! / rows;
      return means;
    }
    case 'min':
    case 'max': {
      const values = partial as ColumnExtremes;
      const result = new (typedArrayConstructor(dtype))(values.length) as unknown as { [i: number]: number | bigint };
      for (let c = 0; c < values.length; c++) result[c] = values[c]!;
      return result as unknown as ArrayBufferView;
    }
    case 'var':
    case 'std': {
      const [rows, , m2s] = partial as ColumnMoments;
      const result = new Float64Array(m2s.length);
      const divisor = Math.max(rows - ddof, 0);
      for (let c = 0; c < result.length; c++) {
        const variance = rows === 0 ? NaN : m2s[c]! / divisor;
        result[c] = op === 'std' ? Math.sqrt(variance) : variance;
      }
      return result;
    }
    default:
      throw new TypeError(`${op} has no axis-0 form`);
  }
}

function toFloat64(sums: ColumnSums): Float64Array {
  if (sums instanceof Float64Array) return Float64Array.from(sums);
  return Float64Array.from(sums, (sum) => Number(sum));
}

function addSums(a: ColumnSums, b: ColumnSums): ColumnSums {
  if (a instanceof Float64Array && b instanceof Float64Array) {
    const sum = new Float64Array(a.length);
    for (let c = 0; c < a.length; c++) sum[c] = a[c]! + b[c]!;
    return sum;
  }
  const ba = a as bigint[];
  const bb = b as bigint[];
  return ba.map((value, c) => value + bb[c]!);
}

function mergeExtremes(a: ColumnExtremes, b: ColumnExtremes, greatest: boolean): ColumnExtremes {
  if (a instanceof Float64Array && b instanceof Float64Array) {
    const merged = new Float64Array(a.length);
    for (let c = 0; c < a.length; c++) {
      const x = a[c]!;
      const y = b[c]!;
      merged[c] = x !== x || y !== y ? NaN : greatest ? (y > x ? y : x) : y < x ? y : x;
    }
    return merged;
  }
  // bigint columns: ±Infinity stands for "no row yet".
  return (a as (bigint | number)[]).map((x, c) => {
    const y = (b as (bigint | number)[])[c]!;
    if (typeof x === 'number') return y;
    if (typeof y === 'number') return x;
    return greatest ? (y > x ? y : x) : y < x ? y : x;
  });
}

function mergeMoments(a: ColumnMoments, b: ColumnMoments): ColumnMoments {
  const [na, meansA, m2A, correctionsA] = a;
  const [nb, meansB, m2B, correctionsB] = b;
  if (na === 0) return b;
  if (nb === 0) return a;
  const n = na + nb;
  const means = new Float64Array(meansA.length);
  const m2s = new Float64Array(meansA.length);
  const corrections = new Float64Array(meansA.length);
  for (let c = 0; c < means.length; c++) {
    const delta = meansB[c]! - meansA[c]! + (correctionsB[c]! - correctionsA[c]!);
    // TwoSum of the mean and its step: the rounding goes into the correction.
    const step = (delta * nb) / n;
    const mean = meansA[c]! + step;
    const stepPart = mean - meansA[c]!;
    means[c] = mean;
    corrections[c] = meansA[c]! - (mean - stepPart) + (step - stepPart) + correctionsA[c]!;
    m2s[c] = m2A[c]! + m2B[c]! + ((delta * delta * na) / n) * nb;
  }
  return [n, means, m2s, corrections];
}
