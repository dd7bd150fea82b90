import { measureNativeOps, NATIVE_FLAGS, NATIVE_THREADS } from '../baseline/native-ops.js';
import { measureNumpyOps, NUMPY_PROCESSES } from '../baseline/numpy-ops.js';
import type { CleanupStack } from '../cleanup.js';
import { opKey, OPS, HISTOGRAM_BINS, HISTOGRAM_RANGE } from './list.js';

/**
 * C and sharc: best of 5 after 1 warm-up. numpy, slower on several ops (var ~0.5 s, histogram
 * ~3 s a run), best of 3 without a warm-up per op: its workers and data stay warm from op to op
 * (numpy_ops.py warms up once after filling each dataset).
 */
export const OPS_RUNS = 5;
export const OPS_WARMUPS = 1;
export const NUMPY_RUNS = 3;
const NUMPY_WARMUPS = 0;

const KEYS = OPS.map(opKey);

/** The C/OpenMP baseline over the bench's dataset (`elements` float64; the float32 dataset has twice as many). */
export function measureCOps(cleanup: CleanupStack, elements: number) {
  return measureNativeOps(cleanup, elements, OPS_RUNS, OPS_WARMUPS, KEYS);
}

export function measureNumpyBaseline(cleanup: CleanupStack, elements: number) {
  return measureNumpyOps(cleanup, elements, NUMPY_RUNS, NUMPY_WARMUPS, KEYS);
}

/** What the report says about the ops benchmark. */
export function opsNotes(compiler: string | undefined, numpyVersion: unknown): string[] {
  const groups = new Map<string, string[]>();
  for (const entry of OPS) {
    const rule = `${entry.why}: relative difference sharc vs C ≤ ${entry.tolerance}, numpy vs C ≤ ${entry.numpyTolerance}`;
    groups.set(rule, [...(groups.get(rule) ?? []), `${entry.label} ${entry.dtype}`]);
  }
  const tolerances = [...groups].map(([rule, ops]) => `${ops.join(', ')}: ${rule}`);
  return [
    `ops: best of ${OPS_RUNS} after ${OPS_WARMUPS} warm-up (numpy: best of ${NUMPY_RUNS}, its workers warm from op to op), on the bench's 1 GiB dataset (float64: 2^27 values ((i·7919) mod 1000)/1000 − 0.5; ` +
      'float32: the same formula for 2^28 values, also 1 GiB), filled by each program itself. dot(a, b) and add(a, b): a = first half, b = second half ' +
      '(2 × 512 MiB). GB/s counts bytes read plus bytes written (dot: 1 GiB read; add: 1 GiB read + 512 MiB written; astype: 1 GiB read + 512 MiB written). ' +
      `mean(axis=0): the float64 dataset as [2^23, 16] and [2^19, 256]; histogram: ${HISTOGRAM_BINS} bins over [${HISTOGRAM_RANGE.join(', ')}].`,
    `C/OpenMP: bench/baselines/ops.c compiled at bench time (${compiler ?? `gcc ${NATIVE_FLAGS.join(' ')}`}), ${NATIVE_THREADS} threads; ` +
      'float32 accumulates in double, min/max/argmin/argmax propagate NaN; var/std in one pass over memory (per-block mean and M2 merged). ' +
      'add and astype write into an output allocated and written once before the warm-up (pre-faulted); "fresh output pages" maps new pages every run.',
    `numpy ${String(numpyVersion ?? '')}: bench/baselines/numpy_ops.py, ${NUMPY_PROCESSES} worker processes started once over multiprocessing.shared_memory, each ` +
      'computing its half (x.sum(), np.dot(x, x) for sumsq and norm, x.min(), x.argmin(), x.var(), np.histogram, np.dot(a, b), np.add(a, b, out=), ' +
      'np.copyto into a shared float32 output; "fresh output pages": x.astype(np.float32)); timed from sending the op to both answers. ' +
      'numpy keeps its own accumulation: float32 sum/mean pairwise in float32, float32 np.dot in float32 (BLAS).',
    'sharc: the SDK on an array stored with one copy; "—" where sharc does not have the operation yet. A stored array an op returns is deleted after each ' +
      "run (untimed) and checked by its sum (reduce 'sum'). Every result is compared with C's (a row passes only when sharc's match):",
    ...tolerances.map((text) => `  ${text}`),
  ];
}
