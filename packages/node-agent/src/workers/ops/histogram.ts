import type { DType, TypedArray } from '@sharc/protocol/core';
import { highWordsOf, TWO_32, wordsOf, type BigIntArray } from './int64-words.js';
import { WASM_HISTOGRAM_MAX_BINS, WASM_HISTOGRAM_MAX_ELEMENTS, wasmHistogram } from './wasm-histogram.js';

/**
 * histogram over one block: a Float64Array of counts per bin, numpy.histogram's rule: an
 * element x lands in bin i when edges[i] <= x < edges[i+1], the last bin also takes
 * x == edges[bins]; elements outside [edges[0], edges[bins]] and NaN are not counted. The bin
 * is first estimated from (x - lo) · bins / (hi - lo) and then corrected against the edges
 * themselves (as numpy does), so rounding in the estimate never moves an element.
 */
export type HistogramBlockOp = (values: TypedArray, edges: Float64Array) => Float64Array;

/**
 * Counts x into `counts`. The estimate is truncated with `| 0` (x >= lo, so it is floor) to an
 * int32 index; any estimate (even one that wrapped, from a range so narrow that the scale is
 * huge) is clamped and then walked to the edges' own bin, so the count is numpy's either way.
 */
const count = (counts: string, x: string) =>
  `if (${x} >= lo && ${x} <= hi) { let k = ((${x} - lo) * scale) | 0; if (k > last) k = last; else if (k < 0) k = 0; ` +
  `while (k > 0 && ${x} < e[k]) k--; while (k < last && ${x} >= e[k + 1]) k++; ${counts}[k]++; }`;
/**
 * Above this many bins one table of counts (two would no longer sit in L1/L2); below, elements
 * alternate between two tables, so a run of equal bins does not chain each increment on the
 * store before it.
 */
const SPLIT_MAX_BINS = 16_384;
const PROLOGUE =
  'const n = a.length; const bins = e.length - 1; const last = bins - 1; const lo = e[0]; const hi = e[bins]; ' +
  `const scale = bins / (hi - lo); const c0 = new Float64Array(bins); const c1 = bins <= ${SPLIT_MAX_BINS} ? new Float64Array(bins) : c0;`;
const EPILOGUE = 'if (c1 !== c0) for (let k = 0; k < bins; k++) c0[k] += c1[k]; return c0;';
const NUMBER_BODY =
  `${PROLOGUE} let i = 0; for (; i + 1 < n; i += 2) { const x = a[i]; ${count('c0', 'x')} const y = a[i + 1]; ${count('c1', 'y')} } ` +
  `if (i < n) { const x = a[i]; ${count('c0', 'x')} } ${EPILOGUE}`;
const BIGINT_BODY = `${PROLOGUE} for (let i = 0; i < n; i++) { const x = h[2 * i + 1] * ${TWO_32} + w[2 * i]; ${count('c0', 'x')} } ${EPILOGUE}`;

const compiled = new Map<DType, HistogramBlockOp>();

/** The histogram loop of `dtype`: WebAssembly for float64/float32 up to its bins and length, else the JS loop. */
export function histogramBlockOp(dtype: DType): HistogramBlockOp {
  const js = jsHistogramBlockOp(dtype);
  if (dtype !== 'float64' && dtype !== 'float32') return js;
  return (values, edges) =>
    edges.length - 1 <= WASM_HISTOGRAM_MAX_BINS && values.length <= WASM_HISTOGRAM_MAX_ELEMENTS ? wasmHistogram(values as Float64Array | Float32Array, edges) : js(values, edges);
}

/** The JS loop of `dtype` (the reference the WebAssembly loop is tested against). */
export function jsHistogramBlockOp(dtype: DType): HistogramBlockOp {
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
