import { runJsonChild } from '../baseline/child-json.js';
import { mkdir, open, rm, stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CleanupStack } from '../cleanup.js';
import { GIB } from '../data.js';

/**
 * The file of the file section: a float64 `.npy` of FILE_ELEMENTS values (the formula of
 * src/data.ts), written once by numpy into the bench's data directory on the repository's disk
 * (not /dev/shm: a file there is memory, never a disk read) and reused by later runs.
 */

/** 2^29 float64 = 4 GiB of data, as the issue asks (≥ 4 GiB). SHARC_BENCH_FILE_MIB makes it smaller (trying the harness out). */
export const FILE_DATA_BYTES = process.env.SHARC_BENCH_FILE_MIB ? Number(process.env.SHARC_BENCH_FILE_MIB) * 1024 ** 2 : 4 * GIB;
/** What must stay free on the disk besides the file itself (logs, the JetStream store, the rest of the machine). */
export const DISK_HEADROOM_BYTES = 2 * GIB;
/** bench/.data (this file runs as bench/dist/src/file/data-file.js); SHARC_BENCH_DATA_DIR moves it. */
export const DATA_DIR = process.env.SHARC_BENCH_DATA_DIR ?? fileURLToPath(new URL('../../../.data', import.meta.url));
/** bench/baselines/npy_file.py: creates the file and runs the numpy baseline. */
export const NPY_SCRIPT = fileURLToPath(new URL('../../../baselines/npy_file.py', import.meta.url));
/** Debian's python, which has python3-numpy (the python3 on PATH may not). */
export const PYTHON = '/usr/bin/python3';
/** numpy writes a 128-byte header for a 1-d float64 array (version 1.0, padded to 64 bytes or more). */
const NPY_HEADER_READ = 4096;

export interface DataFile {
  path: string;
  /** The whole file: header and data. */
  fileBytes: number;
  /** The float64 values' bytes (what a sum reads). */
  dataBytes: number;
  elements: number;
  /** True when a file of the right size and header from an earlier run was used as is. */
  reused: boolean;
  /** How long numpy took to write it (only when it was created in this run). */
  createMs?: number;
}

/** Why the section did not run, printed and reported as such. */
export interface Skipped {
  skipped: string;
}

/**
 * The data file, reused when one of the right size and header is there already; created with
 * numpy otherwise, when the disk has room for it plus DISK_HEADROOM_BYTES (else: Skipped, with
 * the figures).
 */
export async function prepareDataFile(cleanup: CleanupStack, progress: (message: string) => void, dataBytes = FILE_DATA_BYTES): Promise<DataFile | Skipped> {
  if (!Number.isSafeInteger(dataBytes) || dataBytes <= 0 || dataBytes % 8 !== 0) {
    throw new RangeError(`the data file needs a positive whole number of float64 values, got ${dataBytes} bytes (SHARC_BENCH_FILE_MIB?)`);
  }
  const elements = dataBytes / 8;
  const mib = (dataBytes / 1024 ** 2).toFixed(0);
  const file = path.join(DATA_DIR, `sum-float64-${mib}MiB.npy`);
  await mkdir(DATA_DIR, { recursive: true });
  const existing = await describeNpy(file);
  if (existing !== undefined && existing.elements === elements && existing.fileBytes === existing.dataOffset + dataBytes) {
    progress(`file: reusing ${file} (${existing.fileBytes} bytes, float64 [${elements}]) from an earlier run`);
    return { path: file, fileBytes: existing.fileBytes, dataBytes, elements, reused: true };
  }
  if (existing !== undefined) {
    progress(`file: ${file} is not the expected float64 [${elements}] (${existing.fileBytes} bytes): writing it again`);
    await rm(file);
  }
  // What an interrupted creation left (numpy writes FILE.partial, then renames it): its room is free again.
  await rm(`${file}.partial`, { force: true });
  const disk = await statfs(DATA_DIR);
  const free = disk.bavail * disk.bsize;
  const needed = dataBytes + DISK_HEADROOM_BYTES;
  if (free < needed) {
    return {
      skipped:
        `not enough free disk space in ${DATA_DIR}: ${(free / GIB).toFixed(1)} GiB free, the ${(dataBytes / GIB).toFixed(1)} GiB file needs ` +
        `${(needed / GIB).toFixed(1)} GiB (file + ${DISK_HEADROOM_BYTES / GIB} GiB); free some, or point SHARC_BENCH_DATA_DIR at a bigger disk`,
    };
  }
  progress(`file: writing ${file} (${(dataBytes / GIB).toFixed(2)} GiB float64) with numpy; later runs reuse it`);
  const started = performance.now();
  await runPython(cleanup, 'numpy: create the data file', [NPY_SCRIPT, 'create', file, String(elements)]);
  const createMs = performance.now() - started;
  const created = await describeNpy(file);
  if (created === undefined || created.elements !== elements) throw new Error(`numpy wrote ${file}, but it is not float64 [${elements}]`);
  return { path: file, fileBytes: created.fileBytes, dataBytes, elements, reused: false, createMs };
}

/** Size, data offset and element count of a 1-d little-endian float64 .npy; undefined when absent or anything else. */
async function describeNpy(file: string): Promise<{ fileBytes: number; dataOffset: number; elements: number } | undefined> {
  const size = await stat(file).then(
    (stats) => stats.size,
    () => undefined,
  );
  if (size === undefined) return undefined;
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(NPY_HEADER_READ);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    if (bytesRead < 10 || head.toString('latin1', 0, 6) !== '\x93NUMPY') return undefined;
    const major = head[6]!;
    const headerLength = major === 1 ? head.readUInt16LE(8) : head.readUInt32LE(8);
    const dataOffset = (major === 1 ? 10 : 12) + headerLength;
    if (dataOffset > bytesRead) return undefined;
    const header = head.toString('latin1', major === 1 ? 10 : 12, dataOffset);
    const match = /'descr':\s*'<f8',\s*'fortran_order':\s*False,\s*'shape':\s*\((\d+),\)/.exec(header);
    if (match?.[1] === undefined) return undefined;
    return { fileBytes: size, dataOffset, elements: Number(match[1]) };
  } finally {
    await handle.close();
  }
}

/** Runs /usr/bin/python3 with `args` (stopped by `cleanup` if the bench is interrupted) and parses the one JSON object it prints. */
export async function runPython(cleanup: CleanupStack, label: string, args: string[]): Promise<Record<string, unknown>> {
  return (await runJsonChild(cleanup, label, PYTHON, args)) as Record<string, unknown>;
}
