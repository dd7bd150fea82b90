import type { DType, TypedArray } from '@sharc/protocol/core';
import { highWordsOf, TWO_32, wordsOf, type BigIntArray } from './int64-words.js';

/**
 * histogram over one block: a Float64Array of counts per bin, numpy.histogram's rule: an
 * element x lands in bin i when edges[i] <= x < edges[i+1], the last bin also takes
 * x == edges[bins]; elements outside [edges[0], edges[bins]] and NaN are not counted. The bin
 * is first estimated from (x - lo) · bins / (hi - lo) and then corrected against the edges
 * themselves (as numpy does), so rounding in the estimate never moves an element.
 */
export type HistogramBlockOp = (values: TypedArray, edges: Float64Array) => Float64Array;

const COUNT =
  'if (x >= lo && x <= hi) { let k = Math.floor((x - lo) * scale); if (k > last) k = last; else if (k < 0) k = 0; ' +
  'while (k > 0 && x < e[k]) k--; while (k < last && x >= e[k + 1]) k++; counts[k]++; }';
const PROLOGUE =
  'const n = a.length; const bins = e.length - 1; const last = bins - 1; const lo = e[0]; const hi = e[bins]; ' +
  'const scale = bins / (hi - lo); const counts = new Float64Array(bins);';
const NUMBER_BODY = `${PROLOGUE} for (let i = 0; i < n; i++) { const x = a[i]; ${COUNT} } return counts;`;
const BIGINT_BODY = `${PROLOGUE} for (let i = 0; i < n; i++) { const x = h[2 * i + 1] * ${TWO_32} + w[2 * i]; ${COUNT} } return counts;`;

const compiled = new Map<DType, HistogramBlockOp>();

export function histogramBlockOp(dtype: DType): HistogramBlockOp {
  let loop = compiled.get(dtype);
  if (loop === undefined) {
    if (dtype === 'int64' || dtype === 'uint64') {
      // Generated from the fixed bodies above, never from input.
      const words = new Function('a', 'w', 'h', 'e', BIGINT_BODY) as (a: TypedArray, w: Uint32Array, h: Int32Array | Uint32Array, e: Float64Array) => Float64Array;
      loop = (values, edges) => words(values, wordsOf(values as BigIntArray), highWordsOf(values as BigIntArray), edges);
    } else {
      // bool is a Uint8Array of 0/1: numpy histograms it as uint8.
      loop = new Function('a', 'e', NUMBER_BODY) as HistogramBlockOp;
    }
    compiled.set(dtype, loop);
  }
  return loop;
}
