import type { DType, MomentsPartial, TypedArray } from '@sharc/protocol/core';
import { highWordsOf, TWO_32, wordsOf, type BigIntArray } from './int64-words.js';

/**
 * var / std over one block: `[count, mean, m2]` in float64, in two passes over the block (its
 * mean, then the squared deviations from it), as numpy computes a variance; blocks are then
 * merged with Chan's formula (statistics.ts). Every element counts as its float64 value
 * (int64: rounded to float64 first, as numpy converts it; bool: 0 or 1).
 */
export type MomentsBlockOp = (values: TypedArray) => MomentsPartial;

const NUMBER_BODY =
  'if (n === 0) return [0, 0, 0]; let s = 0; for (let i = 0; i < n; i++) s += a[i]; const mean = s / n; ' +
  'let m2 = 0; for (let i = 0; i < n; i++) { const d = a[i] - mean; m2 += d * d; } return [n, mean, m2];';
const BOOL_BODY =
  'if (n === 0) return [0, 0, 0]; let s = 0; for (let i = 0; i < n; i++) if (a[i] !== 0) s++; const mean = s / n; ' +
  'let m2 = 0; for (let i = 0; i < n; i++) { const d = (a[i] !== 0 ? 1 : 0) - mean; m2 += d * d; } return [n, mean, m2];';

const compiled = new Map<DType, MomentsBlockOp>();

export function momentsBlockOp(dtype: DType): MomentsBlockOp {
  let loop = compiled.get(dtype);
  if (loop === undefined) {
    if (dtype === 'int64' || dtype === 'uint64') loop = (values) => bigIntMoments(values as BigIntArray);
    // Generated from the fixed bodies above, never from input.
    else loop = new Function('a', `const n = a.length; ${dtype === 'bool' ? BOOL_BODY : NUMBER_BODY}`) as MomentsBlockOp;
    compiled.set(dtype, loop);
  }
  return loop;
}

function bigIntMoments(values: BigIntArray): MomentsPartial {
  const n = values.length;
  if (n === 0) return [0, 0, 0];
  const lo = wordsOf(values);
  const hi = highWordsOf(values);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += hi[2 * i + 1]! * TWO_32 + lo[2 * i]!;
  const mean = sum / n;
  let m2 = 0;
  for (let i = 0; i < n; i++) {
    const d = hi[2 * i + 1]! * TWO_32 + lo[2 * i]! - mean;
    m2 += d * d;
  }
  return [n, mean, m2];
}
