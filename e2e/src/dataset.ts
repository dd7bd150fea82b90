/**
 * The e2e scenario's array and the plain-JS computations its cluster results are checked
 * against. Values are multiples of 1/8 in [-125, 125], so every sum the scenario takes is exact
 * in float64 whatever order the cluster adds in, and results compare with strict equality.
 */

/** 2,000,000 float64 values (16 MB) as 250,000 rows of 8 columns. */
export const ROWS = 250_000;
export const COLS = 8;
export const SEED = 20240611;
/** params.scale of the map kernel. */
export const MAP_SCALE = 0.5;
/** Columns of the map kernel's output. */
export const SUMMARY_COLS = 3;

/** The deterministic array, from a linear congruential generator seeded with `seed`. */
export function scenarioData(seed = SEED, length = ROWS * COLS): Float64Array {
  const data = new Float64Array(length);
  let state = seed >>> 0;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    data[i] = ((state >>> 8) % 2001) / 8 - 125;
  }
  return data;
}

export interface LocalReductions {
  sum: number;
  min: number;
  max: number;
  sumsq: number;
}

export function localReductions(data: Float64Array): LocalReductions {
  let sum = 0;
  let sumsq = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const v of data) {
    sum += v;
    sumsq += v * v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { sum, min, max, sumsq };
}

/** What the `columnSums` kernel should find. */
export function localColumnSums(data: Float64Array, cols = COLS): { rows: number; sums: number[] } {
  const sums = new Array<number>(cols).fill(0);
  for (let i = 0; i < data.length; i++) sums[i % cols]! += data[i]!;
  return { rows: data.length / cols, sums };
}

/** What the `rowSummary` map should produce. */
export function localRowSummary(data: Float64Array, cols = COLS, scale = MAP_SCALE): Float64Array {
  const rows = data.length / cols;
  const out = new Float64Array(rows * SUMMARY_COLS);
  for (let r = 0; r < rows; r++) {
    const row = data.subarray(r * cols, (r + 1) * cols);
    out[r * SUMMARY_COLS] = r;
    out[r * SUMMARY_COLS + 1] = row.reduce((a, b) => a + b, 0) * scale;
    out[r * SUMMARY_COLS + 2] = Math.max(...row);
  }
  return out;
}
