// Kernels of the e2e fault scenarios, bundled by sharc and run on the agents' worker threads.
// The slow ones sleep (Atomics.wait) rather than spin: a long job costs no CPU, so three agents
// and a client share two cores without the timings drifting.
import type { KernelContext } from '@sharc/sdk';

/** One entry per block: its first row, its length, the agent process that ran it and when it ended. */
export interface BlockReport {
  rowStart: number;
  elements: number;
  pid: number;
  finishedAt: number;
}

/** Blocks this worker thread for `ms` without using the CPU. */
function sleep(ms: number): void {
  if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** A slow reduce whose result says which rows were counted, by which agent process, when. */
export function reportBlock(block: Float64Array, ctx: KernelContext<{ ms: number }>): BlockReport[] {
  sleep(ctx.params.ms);
  return [{ rowStart: ctx.rowStart, elements: block.length, pid: process.pid, finishedAt: Date.now() }];
}

export function concatReports(a: BlockReport[], b: BlockReport[]): BlockReport[] {
  return [...a, ...b];
}

/** Sleeps params.ms per block, then writes 2 × input + 1: a slow map whose output is checkable. */
export function slowAffine(input: Float64Array, output: Float64Array, ctx: KernelContext<{ ms: number }>): void {
  sleep(ctx.params.ms);
  for (let i = 0; i < input.length; i++) output[i] = 2 * input[i]! + 1;
}
