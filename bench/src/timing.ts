import { performance } from 'node:perf_hooks';

/** Milliseconds `work` takes. */
async function timeMs(work: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await work();
  return performance.now() - start;
}

export interface BestOf {
  bestMs: number;
  /** Every timed run, in order (warm-ups excluded). */
  runsMs: number[];
}

/** Runs `work` `warmups` times untimed, then `runs` times timed; the best run is the figure reported. */
export async function bestOf(runs: number, warmups: number, work: () => Promise<unknown>): Promise<BestOf> {
  for (let i = 0; i < warmups; i++) await work();
  const runsMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    collectGarbage();
    runsMs.push(await timeMs(work));
  }
  return { bestMs: Math.min(...runsMs), runsMs };
}

/** Nearest-rank percentile (`p` in 0..100) of `values`. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new RangeError('percentile of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

/** A full GC when node runs with --expose-gc (`npm run bench` does), so big buffers are freed between steps. */
export function collectGarbage(): void {
  globalThis.gc?.();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Decimal gigabytes per second. */
export function gigabytesPerSecond(bytes: number, ms: number): number {
  return bytes / 1e9 / (ms / 1000);
}
