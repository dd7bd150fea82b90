/**
 * The histogram block loops, WebAssembly for float64/float32 up to 4096 bins (wasm-histogram.ts)
 * and JS (ops/histogram.ts: two alternating tables of counts, an int32 bin estimate), against the plain reference loop it replaced, written out here, and against the
 * edges themselves (binary search, numpy's rule): the same counts for
 * every element on an edge, at lo and hi, outside the range, NaN and ±Inf, odd and even
 * lengths, few and many bins (one table past 16384), float64/float32/integer/bool/int64 data.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { histogramEdges, type DType, type TypedArray } from '@sharc/protocol';
import { histogramBlockOp, jsHistogramBlockOp } from '../src/workers/ops/histogram.js';

/**
 * numpy's rule by binary search over the edges: bin k holds edges[k] <= x < edges[k + 1], the
 * last bin also x == edges[bins].
 */
function byEdges(values: ArrayLike<number | bigint>, e: Float64Array): Float64Array {
  const bins = e.length - 1;
  const counts = new Float64Array(bins);
  for (let i = 0; i < values.length; i++) {
    const x = Number(values[i]!);
    if (!(x >= e[0]! && x <= e[bins]!)) continue;
    let low = 0;
    let high = bins - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if (e[mid]! <= x) low = mid;
      else high = mid - 1;
    }
    counts[low]!++;
  }
  return counts;
}

/**
 * The loop before it was unrolled, element by element. It lost x == lo when the range is so
 * narrow that bins / (hi - lo) is Infinity (0 · Infinity is NaN, a NaN bin is no bin); the
 * new loop counts it, as the edges say: that one range is checked against byEdges only.
 */
function reference(values: ArrayLike<number | bigint>, e: Float64Array): Float64Array {
  const bins = e.length - 1;
  const last = bins - 1;
  const lo = e[0]!;
  const hi = e[bins]!;
  const scale = bins / (hi - lo);
  const counts = new Float64Array(bins);
  for (let i = 0; i < values.length; i++) {
    const x = Number(values[i]!);
    if (x >= lo && x <= hi) {
      let k = Math.floor((x - lo) * scale);
      if (k > last) k = last;
      else if (k < 0) k = 0;
      while (k > 0 && x < e[k]!) k--;
      while (k < last && x >= e[k + 1]!) k++;
      counts[k]!++;
    }
  }
  return counts;
}

function rng(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function arrayOf(dtype: DType, length: number): TypedArray {
  switch (dtype) {
    case 'float64':
      return new Float64Array(length);
    case 'float32':
      return new Float32Array(length);
    case 'int16':
      return new Int16Array(length);
    case 'int64':
      return new BigInt64Array(length);
    default:
      return new Uint8Array(length);
  }
}

describe('histogram block loop equals the reference loop', () => {
  const ranges: Array<[number, number]> = [
    [-3, 250],
    [0, 1],
    [-1e-300, 1e-300],
    [0, 5e-324],
    [-1e308, 1e308],
  ];
  for (const dtype of ['float64', 'float32', 'int16', 'uint8', 'bool', 'int64'] as const) {
    it(`${dtype}: same counts for every range, bin count and length`, () => {
      const random = rng(dtype.length * 31);
      for (const [lo, hi] of ranges) {
        for (const bins of [1, 3, 64, 4096, 4097, 20_000]) {
          const edges = histogramEdges(lo, hi, bins, dtype);
          // Past 2048 float64 / 4096 float32 elements: the WebAssembly loop's 16 KiB chunks.
          for (const length of [0, 1, 2, 7, 10_000, 10_001]) {
            const values = arrayOf(dtype, length);
            for (let i = 0; i < length; i++) {
              const r = random();
              const pick = Math.floor(random() * 10);
              let x: number;
              if (pick === 0) x = edges[Math.floor(r * edges.length)]!;
              else if (pick === 1) x = r < 0.5 ? lo : hi;
              else if (pick === 2) x = r < 0.3 ? NaN : r < 0.6 ? Infinity : -Infinity;
              else if (pick === 3) x = (r - 0.5) * 1000;
              else x = lo + r * (hi - lo);
              if (dtype === 'int64') (values as BigInt64Array)[i] = BigInt(Number.isFinite(x) ? Math.round(Math.max(-1e15, Math.min(1e15, x))) : 0);
              else if (dtype === 'bool') (values as Uint8Array)[i] = r < 0.5 ? 0 : 1;
              else (values as Float64Array)[i] = x;
            }
            const what = `${dtype} [${lo}, ${hi}] ${bins} bins, length ${length}`;
            const expected = byEdges(values as ArrayLike<number | bigint>, edges);
            for (const [loop, counts] of [
              ['picked', histogramBlockOp(dtype)(values, edges)],
              ['JS', jsHistogramBlockOp(dtype)(values, edges)],
            ] as const) {
              if (Number.isFinite(bins / (edges[bins]! - edges[0]!))) assert.deepEqual(counts, reference(values as ArrayLike<number | bigint>, edges), `${loop} loop: ${what}`);
              assert.deepEqual(counts, expected, `${loop} loop: ${what}`);
            }
          }
        }
      }
    });
  }
});
