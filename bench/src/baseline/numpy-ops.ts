import { fileURLToPath } from 'node:url';
import type { CleanupStack } from '../cleanup.js';
import { runJsonProgram, type BaselineOps } from './child-json.js';

/** bench/baselines/numpy_ops.py (this file runs as bench/dist/src/baseline/numpy-ops.js). */
const SCRIPT = fileURLToPath(new URL('../../../baselines/numpy_ops.py', import.meta.url));
/** Debian's python, which has python3-numpy (the python3 on PATH may not). */
const PYTHON = '/usr/bin/python3';
export const NUMPY_PROCESSES = 2;

/**
 * The numpy baseline: 2 worker processes over multiprocessing.shared_memory, started once by
 * bench/baselines/numpy_ops.py, each reducing its half with numpy; best-of-`runs` per op key.
 */
export async function measureNumpyOps(
  cleanup: CleanupStack,
  elements: number,
  runs: number,
  warmups: number,
  keys: readonly string[],
): Promise<BaselineOps> {
  return runJsonProgram(cleanup, 'numpy baseline', PYTHON, [SCRIPT, String(elements), String(runs), String(warmups), ...keys]);
}
