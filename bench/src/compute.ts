import type { Cluster } from '@sharc/sdk';
import { SumsqThreads } from './baseline/sumsq-threads.js';
import type { CleanupStack } from './cleanup.js';
import { relativeDifference } from './data.js';
import type { Measurement } from './measurement.js';
import { bestOf, gigabytesPerSecond, type BestOf } from './timing.js';

/**
 * Benchmark 1, compute: reduce 'sumsq' (built-in) and the same loop as a custom kernel module
 * over 1 GiB already stored in the cluster, against hand-written worker threads summing the
 * same SharedArrayBuffer in this process.
 */

export const COMPUTE_RUNS = 5;
export const COMPUTE_WARMUPS = 1;
export const BASELINE_THREADS = 2;
/** Higher is better: baseline time / sharc time. The custom kernel runs the baseline's very loop (issue 10: ≥ 0.95). */
const TARGET_RATIO = { builtin: 0.9, custom: 0.95 } as const;
/** Partials are folded in a different order than the baseline's two halves: allow rounding, nothing more. */
const MAX_RELATIVE_DIFFERENCE = 1e-9;
/** Compiled to dist/src/compute.js; the kernel stays TypeScript source that the SDK bundles. */
const KERNEL_MODULE = new URL('../../kernels/sumsq.ts', import.meta.url);

export interface ComputeRun extends BestOf {
  result: number;
}

export interface SharcCompute {
  builtin: ComputeRun;
  custom: ComputeRun;
}

/** The baseline: BASELINE_THREADS worker threads, timed from posting the work to having every result. */
export async function measureBaselineCompute(data: Float64Array, cleanup: CleanupStack): Promise<ComputeRun> {
  const threads = await SumsqThreads.start(BASELINE_THREADS);
  const stop = cleanup.defer('baseline worker threads', () => threads.close());
  try {
    let result = Number.NaN;
    const timing = await bestOf(COMPUTE_RUNS, COMPUTE_WARMUPS, async () => {
      result = await threads.sumOfSquares(data);
    });
    return { ...timing, result };
  } finally {
    await stop();
  }
}

/** Stores `data`, then times both reductions through the SDK; the array is deleted afterwards. */
export async function measureSharcCompute(cluster: Cluster, data: Float64Array): Promise<SharcCompute> {
  const array = await cluster.put(data);
  try {
    let builtinResult = Number.NaN;
    const builtin = await bestOf(COMPUTE_RUNS, COMPUTE_WARMUPS, async () => {
      builtinResult = await cluster.reduce(array, 'sumsq');
    });
    let customResult = Number.NaN;
    const custom = await bestOf(COMPUTE_RUNS, COMPUTE_WARMUPS, async () => {
      customResult = await cluster.reduce<number>(array, { module: KERNEL_MODULE });
    });
    return { builtin: { ...builtin, result: builtinResult }, custom: { ...custom, result: customResult } };
  } finally {
    await array.delete();
  }
}

export function computeMeasurements(where: string, sharc: SharcCompute, baseline: ComputeRun, bytes: number): Measurement[] {
  const row = (kernel: string, run: ComputeRun, target: number): Measurement => {
    const ratio = baseline.bestMs / run.bestMs;
    const difference = relativeDifference(run.result, baseline.result);
    const correct = difference <= MAX_RELATIVE_DIFFERENCE;
    return {
      benchmark: 'compute',
      subject: `reduce ${kernel} over 1 GiB f64, ${where}`,
      value: run.bestMs,
      unit: 'ms',
      baseline: { label: `${BASELINE_THREADS} worker_threads`, value: baseline.bestMs, unit: 'ms' },
      ratio,
      target: `ratio ≥ ${target}`,
      pass: ratio >= target && correct,
      details: {
        runsMs: run.runsMs,
        baselineRunsMs: baseline.runsMs,
        gigabytesPerSecond: gigabytesPerSecond(bytes, run.bestMs),
        baselineGigabytesPerSecond: gigabytesPerSecond(bytes, baseline.bestMs),
        result: run.result,
        baselineResult: baseline.result,
        relativeDifference: difference,
        correct,
      },
    };
  };
  return [row("'sumsq'", sharc.builtin, TARGET_RATIO.builtin), row('custom kernel module', sharc.custom, TARGET_RATIO.custom)];
}
