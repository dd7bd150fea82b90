// Kernels of the e2e scenario, bundled by sharc with esbuild and run on the agents' worker threads.
// The client checks their results against its own plain loops (dataset.ts), not against these.
import type { KernelContext } from '@sharc/sdk';

/** Per-column sums and the row count of a block of a 2-D array: a partial that is an object. */
export interface ColumnSums {
  rows: number;
  sums: number[];
}

export function columnSums(block: Float64Array, ctx: KernelContext): ColumnSums {
  const sums = new Array<number>(ctx.cols).fill(0);
  for (let r = 0; r < ctx.rowCount; r++) {
    for (let c = 0; c < ctx.cols; c++) sums[c]! += block[r * ctx.cols + c]!;
  }
  return { rows: ctx.rowCount, sums };
}

export function mergeColumnSums(a: ColumnSums, b: ColumnSums): ColumnSums {
  return { rows: a.rows + b.rows, sums: a.sums.map((v, c) => v + b.sums[c]!) };
}

/**
 * One output row of 3 columns per input row: its global row index (proves ctx.rowStart is
 * global on every agent), its sum times params.scale, and its largest value.
 */
export function rowSummary(input: Float64Array, output: Float64Array, ctx: KernelContext<{ scale: number }>): void {
  for (let r = 0; r < ctx.rowCount; r++) {
    let sum = 0;
    let max = -Infinity;
    for (let c = 0; c < ctx.cols; c++) {
      const v = input[r * ctx.cols + c]!;
      sum += v;
      if (v > max) max = v;
    }
    output[r * 3] = ctx.rowStart + r;
    output[r * 3 + 1] = sum * ctx.params.scale;
    output[r * 3 + 2] = max;
  }
}
