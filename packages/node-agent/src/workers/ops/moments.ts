import type { DType, MomentsPartial, TypedArray } from '@sharc/protocol/core';
import { highWordsOf, TWO_32, wordsOf, type BigIntArray } from './int64-words.js';

/**
 * var / std over one block: `[count, mean, m2, correction]` in float64, by the corrected
 * two-pass algorithm: the mean, then the deviations d from it, m2 = Σd² − (Σd)²/n and the
 * mean's correction Σd/n (what rounding left in the mean); blocks are then merged with Chan's
 * formula (statistics.ts). Every element counts as its float64 value (int64: rounded to
 * float64 first, as numpy converts it; bool: 0 or 1).
 */
export type MomentsBlockOp = (values: TypedArray) => MomentsPartial;

const FINISH = 'return [n, mean, m2 - (sd * sd) / n, sd / n];';
const NUMBER_BODY =
  'if (n === 0) return [0, 0, 0, 0]; let s = 0; for (let i = 0; i < n; i++) s += a[i]; const mean = s / n; ' +
  `let m2 = 0; let sd = 0; for (let i = 0; i < n; i++) { const d = a[i] - mean; sd += d; m2 += d * d; } ${FINISH}`;
const BOOL_BODY =
  'if (n === 0) return [0, 0, 0, 0]; let s = 0; for (let i = 0; i < n; i++) if (a[i] !== 0) s++; const mean = s / n; ' +
  `let m2 = 0; let sd = 0; for (let i = 0; i < n; i++) { const d = (a[i] !== 0 ? 1 : 0) - mean; sd += d; m2 += d * d; } ${FINISH}`;

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
  if (n === 0) return [0, 0, 0, 0];
  const lo = wordsOf(values);
  const hi = highWordsOf(values);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += hi[2 * i + 1]! * TWO_32 + lo[2 * i]!;
  const mean = sum / n;
  let m2 = 0;
  let sd = 0;
  for (let i = 0; i < n; i++) {
    const d = hi[2 * i + 1]! * TWO_32 + lo[2 * i]! - mean;
    sd += d;
    m2 += d * d;
  }
  return [n, mean, m2 - (sd * sd) / n, sd / n];
}
