/**
 * The sum of squares written as a user kernel: the same loop as sharc's built-in 'sumsq', but
 * shipped to the agents as a module, so the compute benchmark shows what a custom kernel costs
 * next to the built-in. Used as `cluster.reduce(array, { module: 'bench/kernels/sumsq.ts' })`.
 *
 * The runtime calls `partial(block, ctx)`; this kernel needs only the block.
 */
export function partial(block: Float64Array): number {
  const n = block.length;
  let s = 0;
  for (let i = 0; i < n; i++) {
    const v = block[i]!;
    s += v * v;
  }
  return s;
}

export function combine(a: number, b: number): number {
  return a + b;
}
