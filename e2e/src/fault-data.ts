/**
 * Arrays of the fault scenarios and the checks their results go through. Values are integers
 * from 1 to 100: every sum is exact in any order, and a partition counted twice (or not at
 * all) always changes it.
 */
import { fileURLToPath } from 'node:url';
import type { BlockReport } from './kernels/fault-kernels.js';

/** The fault kernels' source, bundled by the SDK (from dist/src back to src/kernels). */
export const FAULT_KERNELS = fileURLToPath(new URL('../../src/kernels/fault-kernels.ts', import.meta.url));

/** A deterministic array of `length` integers in [1, 100], from a linear congruential generator. */
export function faultData(seed: number, length: number): Float64Array {
  const data = new Float64Array(length);
  let state = seed >>> 0;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    data[i] = 1 + ((state >>> 8) % 100);
  }
  return data;
}

export function localSum(data: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < data.length; i++) sum += data[i]!;
  return sum;
}

/** What the slowAffine map must produce. */
export function localAffine(data: Float64Array): Float64Array {
  return data.map((v) => 2 * v + 1);
}

/** The first index where two arrays differ, as a sentence; undefined when they are equal. */
export function firstDifference(got: ArrayLike<number | bigint>, expected: ArrayLike<number>): string | undefined {
  if (!(got instanceof Float64Array)) return `expected a Float64Array, got ${Object.prototype.toString.call(got)}`;
  if (got.length !== expected.length) return `length ${got.length}, expected ${expected.length}`;
  for (let i = 0; i < got.length; i++) {
    if (!Object.is(got[i], expected[i])) return `element ${i} is ${got[i]}, expected ${expected[i]}`;
  }
  return undefined;
}

/**
 * Checks that block reports cover rows [0, rows) exactly once: sorted by first row, each block
 * starts where the one before ended. Returns what is wrong, or undefined.
 */
export function coverageProblem(reports: readonly BlockReport[], rows: number, cols: number): string | undefined {
  const sorted = [...reports].sort((a, b) => a.rowStart - b.rowStart);
  let next = 0;
  for (const report of sorted) {
    if (report.rowStart < next) return `rows from ${report.rowStart} counted twice (the block before ended at row ${next})`;
    if (report.rowStart > next) return `rows ${next}..${report.rowStart - 1} not counted`;
    next = report.rowStart + report.elements / cols;
  }
  return next === rows ? undefined : `rows ${next}..${rows - 1} not counted`;
}
