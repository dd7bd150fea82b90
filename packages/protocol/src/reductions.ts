import type { BuiltinReduction } from './builtin-names.js';

/**
 * How the built-in reductions merge their partial results. Agents compute one partial per
 * block of rows (in float64, so float32 data loses nothing to accumulation); partials are then
 * merged left to right in row order, so the result does not depend on thread count or placement.
 *
 * Partials: `sum`, `sumsq`, `count` → number; `min`, `max` → number (±Infinity when empty, NaN
 * if any element is NaN, as numpy does); `mean` → [sum, count].
 */
export type BuiltinPartial = number | [number, number];

export function identityOf(op: BuiltinReduction): BuiltinPartial {
  switch (op) {
    case 'sum':
    case 'sumsq':
    case 'count':
      return 0;
    case 'min':
      return Infinity;
    case 'max':
      return -Infinity;
    case 'mean':
      return [0, 0];
  }
}

export function combineBuiltin(op: BuiltinReduction, a: BuiltinPartial, b: BuiltinPartial): BuiltinPartial {
  switch (op) {
    case 'sum':
    case 'sumsq':
    case 'count':
      return (a as number) + (b as number);
    case 'min':
      return Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a as number, b as number);
    case 'max':
      return Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a as number, b as number);
    case 'mean': {
      const [sa, ca] = a as [number, number];
      const [sb, cb] = b as [number, number];
      return [sa + sb, ca + cb];
    }
  }
}

/** The user-facing value of a fully combined partial. */
export function finishBuiltin(op: BuiltinReduction, partial: BuiltinPartial): number {
  if (op === 'mean') {
    const [sum, count] = partial as [number, number];
    return count === 0 ? NaN : sum / count;
  }
  return partial as number;
}
