// Kernels of the dashboard scenario, bundled by sharc and run on the agents' worker threads.
import type { KernelContext } from '@sharc/sdk';

/**
 * Takes params.ms per block, then writes 2 × input: a map long enough to watch its progress
 * bar move. It sleeps (Atomics.wait) instead of spinning: the agents, the test and a browser
 * share two cores, and a sleeping thread is just as busy as far as progress is concerned.
 */
export function slowDouble(input: Float64Array, output: Float64Array, ctx: KernelContext<{ ms: number }>): void {
  if (ctx.params.ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ctx.params.ms);
  for (let i = 0; i < input.length; i++) output[i] = 2 * input[i]!;
}

/** A map that fails on its first block: a failed job for the dashboard's lists. */
export function failingMap(_input: Float64Array, _output: Float64Array, ctx: KernelContext): void {
  throw new Error(`bad value at row ${ctx.rowStart}`);
}
