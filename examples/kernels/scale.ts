// Kernels for the quick start and the CLI walkthrough: ordinary TypeScript modules that sharc
// bundles with esbuild and ships to the agents by content hash.
import type { KernelContext } from '@sharc/sdk';

/** map: output = input * params.factor (default 2), block by block on every agent's threads. */
export function scale(input: Float64Array, output: Float64Array, ctx: KernelContext<{ factor?: number } | undefined>): void {
  const factor = ctx.params?.factor ?? 2;
  for (let i = 0; i < input.length; i++) output[i] = input[i]! * factor;
}

/** reduce: how many values exceed params.threshold (default 0) in this block of rows... */
export function partial(block: Float64Array, ctx: KernelContext<{ threshold?: number } | undefined>): number {
  const threshold = ctx.params?.threshold ?? 0;
  let count = 0;
  for (let i = 0; i < block.length; i++) if (block[i]! > threshold) count++;
  return count;
}

/** ...and how two blocks' counts merge. */
export function combine(a: number, b: number): number {
  return a + b;
}
