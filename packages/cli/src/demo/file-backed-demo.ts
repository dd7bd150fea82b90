import { open, mkdtemp, rm, statfs } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { formatBytes, formatNpyHeader } from '@sharc/protocol';
import { connect } from '@sharc/sdk';

/**
 * The demo's file-backed part: an array larger than its agent's memory, kept in a .npy file
 * and streamed through the agent's threads by each job (fromFile `resident: 'auto'` picks that
 * by itself), a map written to another .npy file; both files removed after.
 */

/** The file is at least this big (and the agent's memory a quarter of it): big enough to show streaming. */
const LEAST_FILE_BYTES = 256 * 2 ** 20;
/** ... and at most this big: the demo writes it first, which takes the disk's time. */
const MOST_FILE_BYTES = 2 ** 30;
/** Free space needed beside the file: the map's output (a float32 per row) and room to spare. */
const SPARE_BYTES = 64 * 2 ** 20;
/** The agent's memory limit is the file's size divided by this. */
const MEMORY_SHARE = 4;
/** Rows are written in pieces of this many bytes (never the whole file in memory). */
const WRITE_CHUNK_BYTES = 16 * 2 ** 20;

export interface FileBackedDemoOptions {
  /** The main demo's array size: the file is as big, within LEAST_FILE_BYTES..MOST_FILE_BYTES. */
  bytes: number;
  cols: number;
  kernels: string;
  /** The demo's signal at flat index i (the file holds the same samples). */
  sample: (i: number) => number;
  timed: <T>(label: string, bytes: number, work: () => Promise<T>) => Promise<T>;
}

/** Runs the file-backed part, or says why not (too little free space in the temporary directory). */
export async function runFileBackedDemo(options: FileBackedDemoOptions): Promise<void> {
  const { cols } = options;
  const rowBytes = cols * 8;
  const rows = Math.floor(Math.min(MOST_FILE_BYTES, Math.max(LEAST_FILE_BYTES, options.bytes)) / rowBytes);
  const fileBytes = rows * rowBytes;
  const memoryBytes = Math.floor(fileBytes / MEMORY_SHARE);
  const space = await statfs(os.tmpdir());
  const free = space.bavail * space.bsize;
  if (free < fileBytes + SPARE_BYTES) {
    console.log(`\nfile-backed arrays: skipped (a ${formatBytes(fileBytes)} file needs ${formatBytes(fileBytes + SPARE_BYTES)} free in ${os.tmpdir()}, it has ${formatBytes(free)})`);
    return;
  }
  console.log(`\nfile-backed arrays: ${rows} rows x ${cols} float64 = ${formatBytes(fileBytes)} in a .npy file, on an agent with ${formatBytes(memoryBytes)} of memory`);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-demo-'));
  try {
    const input = path.join(dir, 'signal.npy');
    let localSum = 0;
    await options.timed('write the .npy file (this process)', fileBytes, async () => {
      localSum = await writeSignal(input, rows, cols, options.sample);
    });
    // A cluster whose agent cannot hold the array: 'auto' keeps it file-backed.
    const cluster = await connect({ embedded: { agents: 1, memoryBytes } });
    try {
      const started = performance.now();
      const a = await cluster.fromFile(input, { name: 'signal-file', resident: 'auto' });
      // (No rate: a file-backed load reads nothing but the file's header.)
      const took = ((performance.now() - started) / 1000).toFixed(3);
      console.log(`fromFile { resident: 'auto' } in ${took} s: ${a.file === undefined ? 'resident (it fit)' : `chose file-backed, rows stay in ${a.file.path}`}`);
      const sum = Number(await options.timed("reduce 'sum' (streamed)", fileBytes, () => cluster.reduce(a, 'sum')));
      const output = path.join(dir, 'rms.npy');
      const energy = await options.timed('map rms -> rms.npy (streamed)', fileBytes, () =>
        cluster.map(a, { module: options.kernels, kernel: 'rms' }, { dtype: 'float32', cols: 1, name: 'rms-file', file: output }),
      );
      const rms = await energy.toArray();
      // The cluster adds block by block, plain JS in one run: equal up to rounding.
      const close = Math.abs(sum - localSum) <= 1e-9 * Math.max(1, Math.abs(localSum));
      console.log(`  file-backed sum ${sum.toFixed(3)} (plain JS: ${localSum.toFixed(3)}, equal up to rounding: ${close})`);
      console.log(`  rms of row 0: ${rms[0]?.toFixed(4)}, written to ${output} (numpy.load reads it; removed with the input as the demo ends)`);
      await energy.delete();
      await a.delete();
    } finally {
      await cluster.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Writes the signal's first rows × cols samples as a float64 .npy file; returns their sum, added in order. */
async function writeSignal(file: string, rows: number, cols: number, sample: (i: number) => number): Promise<number> {
  const header = formatNpyHeader('float64', [rows, cols]);
  const handle = await open(file, 'wx');
  let sum = 0;
  try {
    await handle.write(header, 0, header.length, 0);
    const chunk = new Float64Array(Math.max(cols, Math.floor(WRITE_CHUNK_BYTES / 8 / cols) * cols));
    const total = rows * cols;
    let position = header.length;
    for (let start = 0; start < total; start += chunk.length) {
      const count = Math.min(chunk.length, total - start);
      for (let j = 0; j < count; j++) {
        const value = sample(start + j);
        chunk[j] = value;
        sum += value;
      }
      await handle.write(new Uint8Array(chunk.buffer, 0, count * 8), 0, count * 8, position);
      position += count * 8;
    }
  } finally {
    await handle.close();
  }
  return sum;
}
