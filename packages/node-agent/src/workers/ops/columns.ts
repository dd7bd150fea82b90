import type { AxisOp, ColumnPartial, DType, TypedArray } from '@sharc/protocol/core';
import { highWordsOf, TWO_32, wordsOf, type BigIntArray } from './int64-words.js';

/**
 * Reductions along axis 0 over one block of whole rows: column vectors (column-reductions.ts
 * in @sharc/protocol says what each partial holds and how they merge). Loops walk the block
 * row-major, in memory order, each element adding into its column's accumulator.
 */
export type ColumnBlockOp = (values: TypedArray, cols: number) => ColumnPartial;

/**
 * `v` is the element at `a[k]` (bool: 0 or 1 whatever the byte; int64/uint64: its float64
 * value, from its words `w` and high words `h`). `n` is the block's element count.
 */
const ELEMENT = {
  number: 'const v = a[k];',
  bool: 'const v = a[k] !== 0 ? 1 : 0;',
  words: `const v = h[2 * k + 1] * ${TWO_32} + w[2 * k];`,
};
const ROWS = 'const rows = cols === 0 ? 0 : n / cols;';
const EACH = (body: string) => `for (let r = 0, k = 0; r < rows; r++) for (let c = 0; c < cols; c++, k++) { ${body} }`;

function bodyOf(op: AxisOp, element: string): string {
  switch (op) {
    case 'sum':
      return `${ROWS} const s = new Float64Array(cols); ${EACH(`${element} s[c] += v;`)} return s;`;
    case 'mean':
      return `${ROWS} const s = new Float64Array(cols); ${EACH(`${element} s[c] += v;`)} return [s, rows];`;
    case 'min':
      return `${ROWS} const m = new Float64Array(cols).fill(Infinity); ${EACH(`${element} if (v < m[c]) m[c] = v; else if (v !== v) m[c] = NaN;`)} return m;`;
    case 'max':
      return `${ROWS} const m = new Float64Array(cols).fill(-Infinity); ${EACH(`${element} if (v > m[c]) m[c] = v; else if (v !== v) m[c] = NaN;`)} return m;`;
    case 'var':
    case 'std':
      // The corrected two-pass algorithm per column, as moments.ts does for a whole block.
      return (
        `${ROWS} const means = new Float64Array(cols); const m2s = new Float64Array(cols); const sds = new Float64Array(cols); ` +
        `if (rows === 0) return [0, means, m2s, sds]; ` +
        `${EACH(`${element} means[c] += v;`)} for (let c = 0; c < cols; c++) means[c] /= rows; ` +
        `${EACH(`${element} const d = v - means[c]; sds[c] += d; m2s[c] += d * d;`)} ` +
        'for (let c = 0; c < cols; c++) { m2s[c] -= (sds[c] * sds[c]) / rows; sds[c] /= rows; } return [rows, means, m2s, sds];'
      );
  }
}

const compiled = new Map<string, ColumnBlockOp>();

export function columnBlockOp(op: AxisOp, dtype: DType): ColumnBlockOp {
  const key = `${op}:${dtype}`;
  let loop = compiled.get(key);
  if (loop === undefined) {
    if (dtype === 'int64' || dtype === 'uint64') loop = bigIntColumnOp(op);
    // Generated from the fixed bodies above, never from input.
    else loop = new Function('a', 'cols', `const n = a.length; ${bodyOf(op, dtype === 'bool' ? ELEMENT.bool : ELEMENT.number)}`) as ColumnBlockOp;
    compiled.set(key, loop);
  }
  return loop;
}

/** 2^20 rows: a column's sum of that many 32-bit words stays below 2^52, where float64 is exact. */
const ROWS_CHUNK = 1 << 20;

function bigIntColumnOp(op: AxisOp): ColumnBlockOp {
  switch (op) {
    case 'sum':
      return (values, cols) => exactColumnSums(values as BigIntArray, cols);
    case 'mean':
      return (values, cols) => [exactColumnSums(values as BigIntArray, cols), cols === 0 ? 0 : values.length / cols];
    case 'min':
    case 'max':
      return (values, cols) => bigIntColumnExtremes(values as BigIntArray, cols, op === 'max');
    case 'var':
    case 'std': {
      // Moments of the float64 values, as numpy converts int64 for a variance.
      const loop = new Function('w', 'h', 'n', 'cols', bodyOf(op, ELEMENT.words)) as (w: Uint32Array, h: Int32Array | Uint32Array, n: number, cols: number) => ColumnPartial;
      return (values, cols) => loop(wordsOf(values as BigIntArray), highWordsOf(values as BigIntArray), values.length, cols);
    }
  }
}

/**
 * Exact column sums as bigints. Each element is read as unsigned words (hi · 2^32 + lo) added
 * in float64 per column, exact for ROWS_CHUNK rows; a negative int64 element was read as itself
 * + 2^64, so 2^64 is taken off once per element whose top bit is set.
 */
function exactColumnSums(values: BigIntArray, cols: number): bigint[] {
  const totals = new Array<bigint>(cols).fill(0n);
  if (cols === 0) return totals;
  const words = wordsOf(values);
  const signed = values instanceof BigInt64Array;
  const rows = values.length / cols;
  const lo = new Float64Array(cols);
  const hi = new Float64Array(cols);
  const negatives = new Float64Array(cols);
  for (let start = 0; start < rows; start += ROWS_CHUNK) {
    const end = Math.min(rows, start + ROWS_CHUNK);
    lo.fill(0);
    hi.fill(0);
    negatives.fill(0);
    for (let r = start, k = start * cols; r < end; r++) {
      for (let c = 0; c < cols; c++, k++) {
        const high = words[2 * k + 1]!;
        lo[c] = lo[c]! + words[2 * k]!;
        hi[c] = hi[c]! + high;
        negatives[c] = negatives[c]! + (high >>> 31);
      }
    }
    for (let c = 0; c < cols; c++) {
      let total = (BigInt(hi[c]!) << 32n) + BigInt(lo[c]!);
      if (signed) total -= BigInt(negatives[c]!) << 64n;
      totals[c] = totals[c]! + total;
    }
  }
  return totals;
}

/** Column extremes as bigints (±Infinity for a block with no rows). Reads bigints: a reference loop. */
function bigIntColumnExtremes(values: BigIntArray, cols: number, greatest: boolean): (bigint | number)[] {
  const rows = cols === 0 ? 0 : values.length / cols;
  const best: (bigint | number)[] = new Array<number>(cols).fill(greatest ? -Infinity : Infinity);
  if (rows === 0) return best;
  for (let c = 0; c < cols; c++) best[c] = values[c]!;
  for (let r = 1, k = cols; r < rows; r++) {
    for (let c = 0; c < cols; c++, k++) {
      const v = values[k]!;
      if (greatest ? v > (best[c] as bigint) : v < (best[c] as bigint)) best[c] = v;
    }
  }
  return best;
}
