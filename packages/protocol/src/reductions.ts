import type { BuiltinReduction } from './builtin-names.js';
import type { NamedReduction } from './builtin-ops.js';
import { isBigIntDType, type BigIntDType, type DType } from './dtypes.js';
import { InvalidArgumentError } from './errors.js';

/**
 * How the built-in reductions merge their partial results. Agents compute one partial per
 * block of rows; partials are then merged left to right in row order, so the result does not
 * depend on thread count or placement.
 *
 * Partials by dtype:
 * - float and 8–32-bit integer dtypes: numbers accumulated in float64 (float32 data loses
 *   nothing to accumulation; integer sums are exact while they stay below 2^53);
 * - int64, uint64: `sum`, `sumsq` and the sum of `mean` are bigints holding the exact value,
 *   whatever its size (no wrap-around at 2^63, unlike numpy); `min`, `max` are bigints;
 * - bool: numbers; a sum counts the trues (as numpy's sum of a bool array does).
 * `count` is a number; `min`, `max` of a block with no elements are ±Infinity (for every
 * dtype: "nothing seen yet"), NaN if any element is NaN, as numpy does; `mean` is [sum, count].
 */
export type BuiltinPartial = number | bigint | [number | bigint, number];

/**
 * What `reduce(array, op)` returns for an array of dtype `D`: a bigint for the sums, min and
 * max of int64/uint64 arrays (exact), a number otherwise (`mean`, `count` and the statistics
 * argmin, argmax, var, std, norm always).
 */
export type BuiltinResult<D extends DType, O extends BuiltinReduction | NamedReduction> = D extends BigIntDType
  ? O extends 'mean' | 'count' | 'argmin' | 'argmax' | 'var' | 'std' | 'norm'
    ? number
    : bigint
  : number;

export function identityOf(op: BuiltinReduction, dtype: DType): BuiltinPartial {
  const zero = isBigIntDType(dtype) ? 0n : 0;
  switch (op) {
    case 'sum':
    case 'sumsq':
      return zero;
    case 'count':
      return 0;
    case 'min':
      return Infinity;
    case 'max':
      return -Infinity;
    case 'mean':
      return [zero, 0];
  }
}

export function combineBuiltin(op: BuiltinReduction, a: BuiltinPartial, b: BuiltinPartial): BuiltinPartial {
  switch (op) {
    case 'sum':
    case 'sumsq':
    case 'count':
      return add(a as number | bigint, b as number | bigint);
    case 'min':
      return lesser(a as number | bigint, b as number | bigint);
    case 'max':
      return greater(a as number | bigint, b as number | bigint);
    case 'mean': {
      const [sa, ca] = a as [number | bigint, number];
      const [sb, cb] = b as [number | bigint, number];
      return [add(sa, sb), ca + cb];
    }
  }
}

/** The user-facing value of a fully combined partial. */
export function finishBuiltin(op: BuiltinReduction, partial: BuiltinPartial): number | bigint {
  if (op === 'mean') {
    // int64 means divide the exact sum, rounded to float64 once, by the count.
    const [sum, count] = partial as [number | bigint, number];
    return count === 0 ? NaN : Number(sum) / count;
  }
  return partial as number | bigint;
}

/**
 * The error for a reduction that has no value on an array without elements (numpy raises
 * "zero-size array to reduction operation minimum which has no identity"), or undefined.
 * `sum`, `sumsq`, `count` of an empty array are 0 and its `mean` is NaN, as in numpy.
 */
export function emptyReductionError(op: BuiltinReduction, shape: readonly number[]): InvalidArgumentError | undefined {
  if (op !== 'min' && op !== 'max') return undefined;
  const numpyName = op === 'min' ? 'minimum' : 'maximum';
  return new InvalidArgumentError(
    `${op} of an array with no elements (shape [${shape.join(', ')}]) has no value: ` +
      `numpy raises "zero-size array to reduction operation ${numpyName} which has no identity"; check the size first`,
    { details: { op, shape: [...shape] } },
  );
}

/** Sums two partials of the same kind: both numbers, or both bigints (int64/uint64). */
function add(a: number | bigint, b: number | bigint): number | bigint {
  if (typeof a === 'bigint' && typeof b === 'bigint') return a + b;
  return (a as number) + (b as number);
}

/** ±Infinity stands for "no element" in bigint partials too; a NaN anywhere wins. */
function lesser(a: number | bigint, b: number | bigint): number | bigint {
  if (typeof a === 'number' && typeof b === 'number') return Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b);
  return a === Infinity ? b : b === Infinity ? a : b < a ? b : a;
}

function greater(a: number | bigint, b: number | bigint): number | bigint {
  if (typeof a === 'number' && typeof b === 'number') return Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b);
  return a === -Infinity ? b : b === -Infinity ? a : b > a ? b : a;
}
