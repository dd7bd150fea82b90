import type { SharcRun } from '@sharc/test-support';

export { runSharc, type SharcRun } from '@sharc/test-support';

/** Parses a --json run's stdout, failing with its stderr when it did not succeed. */
export function jsonOf<T = unknown>(run: SharcRun): T {
  if (run.code !== 0) throw new Error(`sharc exited ${run.code}: ${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}
