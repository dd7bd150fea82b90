/** The test data every benchmark shares: 1 GiB of float64 in one SharedArrayBuffer. */

export const GIB = 1024 ** 3;
export const MIB = 1024 ** 2;
/** 134217728 float64 values. */
export const ELEMENTS_PER_GIB = GIB / Float64Array.BYTES_PER_ELEMENT;

/**
 * `elements` float64 values in a SharedArrayBuffer (so baseline threads can read it in place),
 * deterministic and not all equal, so a wrong partition order or a lost block changes the sums.
 */
export function sharedTestData(elements: number): Float64Array {
  const data = new Float64Array(new SharedArrayBuffer(elements * Float64Array.BYTES_PER_ELEMENT));
  for (let i = 0; i < elements; i++) data[i] = ((i * 7919) % 1000) / 1000 - 0.5;
  return data;
}

/**
 * The same values rounded to float32 (the float32 dataset of the ops benchmark: 2 × the float64
 * element count is also 1 GiB). C and numpy fill theirs with the same formula.
 */
export function testData32(elements: number): Float32Array {
  const data = new Float32Array(elements);
  for (let i = 0; i < elements; i++) data[i] = ((i * 7919) % 1000) / 1000 - 0.5;
  return data;
}

/** Relative difference of two results that sum in a different order. */
export function relativeDifference(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), Number.MIN_VALUE);
}
