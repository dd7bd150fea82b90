import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { CleanupStack } from '../cleanup.js';
import { runJsonProgram, type BaselineOps } from './child-json.js';

/** bench/baselines/ops.c (this file runs as bench/dist/src/baseline/native-ops.js). */
const SOURCE = fileURLToPath(new URL('../../../baselines/ops.c', import.meta.url));
export const NATIVE_THREADS = 2;
export const NATIVE_FLAGS = ['-O3', '-march=native', '-fopenmp'] as const;

/**
 * The C/OpenMP baseline: compiles bench/baselines/ops.c now (gcc, for this machine's CPU), runs
 * it with NATIVE_THREADS OpenMP threads over `elements` float64 (and 2 × elements float32), and
 * returns its best-of-`runs` per op key.
 */
export async function measureNativeOps(
  cleanup: CleanupStack,
  elements: number,
  runs: number,
  warmups: number,
  keys: readonly string[],
): Promise<BaselineOps & { compiler: string }> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'sharc-bench-c-'));
  const remove = cleanup.defer('compiled C baseline', () => rm(directory, { recursive: true, force: true }));
  try {
    const binary = path.join(directory, 'ops');
    const gcc = promisify(execFile);
    try {
      await gcc('gcc', [...NATIVE_FLAGS, '-o', binary, SOURCE, '-lm']);
    } catch (error) {
      const stderr = (error as { stderr?: string }).stderr ?? '';
      throw new Error(`gcc ${NATIVE_FLAGS.join(' ')} ${SOURCE} failed (npm run bench installs gcc as root): ${stderr || (error as Error).message}`);
    }
    const version = (await gcc('gcc', ['-dumpfullversion'])).stdout.trim();
    const ops = await runJsonProgram(cleanup, 'C/OpenMP baseline', binary, [String(elements), String(runs), String(warmups), ...keys], {
      OMP_NUM_THREADS: String(NATIVE_THREADS),
    });
    return { ...ops, compiler: `gcc ${version} ${NATIVE_FLAGS.join(' ')}` };
  } finally {
    await remove();
  }
}
