import { fileURLToPath } from 'node:url';
import { connect } from '@sharc/sdk';
import { plural } from '../output.js';
import { progressBar, type ProgressMode } from '../progress.js';
import type { Stats } from './signal-kernels.js';
import { runFileBackedDemo } from './file-backed-demo.js';

const COLS = 1024;
/** The demo's kernels ship next to it (a .js file once built; esbuild bundles either). */
const KERNELS = fileURLToPath(new URL('./signal-kernels.js', import.meta.url));

export interface DemoOptions {
  gib: number;
  progress: ProgressMode;
}

/**
 * The main job on the embedded cluster: a float64 signal (rows of 1024 samples) is put into
 * sharc, reduced with built-in and custom kernels on every core, mapped to per-row RMS, and
 * fetched back; throughput is printed for each step and results are checked against plain JS.
 * Then the same signal as a file-backed array larger than its agent's memory (file-backed-demo.ts).
 */
export async function runDemo(options: DemoOptions): Promise<void> {
  const rows = Math.max(1, Math.floor((options.gib * 2 ** 30) / 8 / COLS));
  const bytes = rows * COLS * 8;
  const timedOver = async <T>(label: string, over: number, work: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    const result = await work();
    const seconds = (performance.now() - started) / 1000;
    console.log(`${label.padEnd(34)} ${seconds.toFixed(3).padStart(7)} s  ${(over / seconds / 1e9).toFixed(2).padStart(6)} GB/s`);
    return result;
  };
  const timed = <T>(label: string, work: () => Promise<T>): Promise<T> => timedOver(label, bytes, work);
  const withBar = async <T>(label: string, unit: 'bytes' | 'blocks', work: (onProgress?: (done: number, total: number) => void) => Promise<T>) => {
    const bar = progressBar(label, unit, options.progress, false);
    try {
      return await work(bar.onProgress);
    } finally {
      bar.stop();
    }
  };

  console.log(`sharc demo: ${rows} rows x ${COLS} float64 = ${(bytes / 2 ** 30).toFixed(2)} GiB on the embedded cluster`);
  const signal = new Float64Array(rows * COLS);
  for (let i = 0; i < signal.length; i++) signal[i] = sample(i);

  const cluster = await connect();
  try {
    const nodes = await cluster.nodes();
    console.log(`agents: ${nodes.map((n) => `${n.id} (${plural(n.threads, 'thread')})`).join(', ')}\n`);

    const a = await timed('put', () => withBar('put', 'bytes', (onProgress) => cluster.put(signal, { shape: [rows, COLS], name: 'signal', ...(onProgress ? { onProgress } : {}) })));
    const sum = await timed("reduce 'sum'", () => cluster.reduce(a, 'sum'));
    const sumsq = await timed("reduce 'sumsq'", () => cluster.reduce(a, 'sumsq'));
    const [min, max, mean] = [await cluster.reduce(a, 'min'), await cluster.reduce(a, 'max'), await cluster.reduce(a, 'mean')];
    // numpy's operations, built in (WebAssembly SIMD on every core).
    const std = await timed('a.std()', () => a.std());
    const argmax = await timed('a.argmax()', () => a.argmax());
    const columnMeans = await timed('a.mean({ axis: 0 })', () => a.mean({ axis: 0 }));
    const dot = await timed('cluster.dot(a, a)', () => cluster.dot(a, a));
    const single = await timed("a.astype('float32')", () => a.astype('float32', { name: 'signal-f32' }));
    const stats = await timed('reduce custom (signal-kernels)', () =>
      withBar('custom', 'blocks', (onProgress) => cluster.reduce<Stats>(a, { module: KERNELS, params: { threshold: 12 } }, onProgress ? { onProgress } : {})),
    );
    const energy = await timed('map rms -> float32 column', () =>
      withBar('map', 'blocks', (onProgress) =>
        cluster.map(a, { module: KERNELS, kernel: 'rms' }, { dtype: 'float32', cols: 1, name: 'rms', ...(onProgress ? { onProgress } : {}) }),
      ),
    );
    const perRow = await timed('toArray (into a new array)', () => a.toArray());
    // Fresh memory costs a page fault per 4 KiB on first write; a reused buffer does not.
    await timed('toArray({ into }) (reused buffer)', () => a.toArray({ into: perRow }));

    let localSum = 0;
    for (let i = 0; i < signal.length; i++) localSum += signal[i]!;
    console.log(`\nsum ${sum.toFixed(3)} (plain JS: ${localSum.toFixed(3)}), sumsq ${sumsq.toExponential(6)}`);
    console.log(`min ${min.toFixed(3)}, max ${max.toFixed(3)}, mean ${mean.toFixed(6)}, std ${std.toFixed(6)}`);
    let localArgmax = 0;
    for (let i = 1; i < signal.length; i++) if (signal[i]! > signal[localArgmax]!) localArgmax = i;
    let localColumn0 = 0;
    for (let row = 0; row < rows; row++) localColumn0 += signal[row * COLS]!;
    console.log(
      `argmax ${argmax} (plain JS: ${localArgmax}), mean of column 0 ${columnMeans[0]!.toFixed(6)} (plain JS: ${(localColumn0 / rows).toFixed(6)}), ` +
        `dot(a, a) ${dot.toExponential(6)} (= sumsq), float32 copy ${single.dtype} [${single.shape.join(', ')}]`,
    );
    await single.delete();
    console.log(`custom: ${stats.above} of ${plural(stats.count, 'sample')} above 12, peak |x| ${stats.peak.toFixed(3)}`);
    const rmsValues = await energy.toArray();
    const exact = perRow.length === signal.length && perRow.every((value, i) => value === signal[i]);
    console.log(`rms of row 0: ${rmsValues[0]?.toFixed(4)}, round trip exact: ${exact}`);
  } finally {
    await cluster.close();
  }
  // An array larger than its agent's memory, streamed from a .npy file (when the disk has room).
  await runFileBackedDemo({ bytes, cols: COLS, kernels: KERNELS, sample, timed: timedOver });
}

/** The demo signal's sample at flat index i: a sine with a little deterministic noise. */
function sample(i: number): number {
  return Math.sin(i * 0.001) * 10 + ((i * 7919) % 13) - 6;
}
