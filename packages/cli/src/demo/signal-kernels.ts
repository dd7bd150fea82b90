// Custom kernels for the demo: ordinary TypeScript, bundled and shipped to the agents by sharc.
import type { KernelContext } from '@sharc/sdk';

export interface Stats {
  count: number;
  above: number;
  peak: number;
}

/** Per block: how many samples exceed params.threshold, and the largest absolute value. */
export function partial(block: Float64Array, ctx: KernelContext<{ threshold: number }>): Stats {
  let above = 0;
  let peak = 0;
  for (let i = 0; i < block.length; i++) {
    const v = block[i]!;
    if (v > ctx.params.threshold) above++;
    const a = v < 0 ? -v : v;
    if (a > peak) peak = a;
  }
  return { count: block.length, above, peak };
}

export function combine(a: Stats, b: Stats): Stats {
  return { count: a.count + b.count, above: a.above + b.above, peak: Math.max(a.peak, b.peak) };
}

/** Per row of `cols` samples: RMS energy, written as one float32 column. */
export function rms(input: Float64Array, output: Float32Array, ctx: KernelContext): void {
  for (let r = 0; r < ctx.rowCount; r++) {
    let s = 0;
    const base = r * ctx.cols;
    for (let c = 0; c < ctx.cols; c++) {
      const v = input[base + c]!;
      s += v * v;
    }
    output[r] = Math.sqrt(s / ctx.cols);
  }
}
