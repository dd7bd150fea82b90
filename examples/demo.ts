/**
 * The main job on the embedded cluster: a 1 GiB float64 signal (rows of 1024 samples) is put
 * into sharc, reduced with built-in and custom kernels on every core, mapped to per-row RMS,
 * and fetched back; throughput is printed for each step.
 *
 *   npm run demo               # 1 GiB
 *   npm run demo -- --gib 4    # bigger
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { connect } from '@sharc/sdk';

const { values } = parseArgs({ options: { gib: { type: 'string', default: '1' } } });
const gib = Number(values.gib);
if (!(gib > 0)) throw new Error(`--gib must be a positive number, got ${values.gib}`);

const COLS = 1024;
const rows = Math.floor((gib * 2 ** 30) / 8 / COLS);
const bytes = rows * COLS * 8;
const kernels = fileURLToPath(new URL('../kernels/signal.ts', import.meta.url));

function progress(label: string) {
  if (!process.stderr.isTTY) return undefined;
  return (done: number, total: number) => {
    process.stderr.write(`\r  ${label} ${total === 0 ? 100 : Math.floor((done / total) * 100)}%`);
    if (done === total) process.stderr.write('\r\x1b[K');
  };
}

async function timed<T>(label: string, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await work();
  const seconds = (performance.now() - started) / 1000;
  console.log(`${label.padEnd(34)} ${seconds.toFixed(3).padStart(7)} s  ${(bytes / seconds / 1e9).toFixed(2).padStart(6)} GB/s`);
  return result;
}

console.log(`sharc demo: ${rows} rows x ${COLS} float64 = ${(bytes / 2 ** 30).toFixed(2)} GiB on the embedded cluster`);
const signal = new Float64Array(rows * COLS);
for (let i = 0; i < signal.length; i++) signal[i] = Math.sin(i * 0.001) * 10 + ((i * 7919) % 13) - 6;

const cluster = await connect();
try {
  const nodes = await cluster.nodes();
  console.log(`agents: ${nodes.map((n) => `${n.id} (${n.threads} threads)`).join(', ')}\n`);

  const a = await timed('put', () => cluster.put(signal, { shape: [rows, COLS], name: 'signal', onProgress: progress('put') }));
  const sum = await timed("reduce 'sum'", () => cluster.reduce(a, 'sum'));
  const sumsq = await timed("reduce 'sumsq'", () => cluster.reduce(a, 'sumsq'));
  const [min, max, mean] = [await cluster.reduce(a, 'min'), await cluster.reduce(a, 'max'), await cluster.reduce(a, 'mean')];
  const stats = await timed('reduce custom (signal.ts)', () =>
    cluster.reduce<{ count: number; above: number; peak: number }>(a, { module: kernels, params: { threshold: 12 } }, { onProgress: progress('custom') }),
  );
  const energy = await timed('map rms -> float32 column', () =>
    cluster.map(a, { module: kernels, kernel: 'rms', dtype: 'float32', cols: 1, name: 'rms' }, { onProgress: progress('map') }),
  );
  const perRow = await timed('toArray (into a new array)', () => a.toArray());
  // Fresh memory costs a page fault per 4 KiB on first write; a reused buffer does not.
  await timed('toArray({ into }) (reused buffer)', () => a.toArray({ into: perRow }));

  let localSum = 0;
  for (let i = 0; i < signal.length; i++) localSum += signal[i]!;
  console.log(`\nsum ${sum.toFixed(3)} (plain JS: ${localSum.toFixed(3)}), sumsq ${sumsq.toExponential(6)}`);
  console.log(`min ${min.toFixed(3)}, max ${max.toFixed(3)}, mean ${mean.toFixed(6)}`);
  console.log(`custom: ${stats.above} of ${stats.count} samples above 12, peak |x| ${stats.peak.toFixed(3)}`);
  const rmsValues = await energy.toArray();
  console.log(`rms of row 0: ${rmsValues[0]?.toFixed(4)}, round trip exact: ${perRow.length === signal.length && perRow[12345] === signal[12345]}`);
} finally {
  await cluster.close();
}
