import type { DType } from '@sharc/protocol';
import type { JobOptions } from './jobs/run-job.js';

/** The options and kernel descriptions the Cluster's calls take. */

export interface PutOptions extends JobOptions {
  /** Shape of the data, row-major; `[]` for a 0-d array of one element. @default [data.length] */
  shape?: readonly number[];
  /**
   * Element type. Only bool needs it: a Uint8Array of 0 and 1 put with `dtype: 'bool'` is
   * stored as numpy's bool. Any other value must be the typed array's own dtype (put never
   * converts). @default the typed array's dtype (Float64Array: float64, BigInt64Array: int64…)
   */
  dtype?: DType;
  /** A name any client can `open`. @default a generated one */
  name?: string;
  /** Row partitions. @default one per agent, more for arrays over 256 MiB per partition */
  partitions?: number;
  /** Overwrite an array of the same name (only once the new one is fully stored). @default false */
  replace?: boolean;
  /**
   * Copies of each partition, each on a different agent: with 2, the array survives the loss
   * of any one agent (a copy takes over at once). Costs the memory and upload bytes of each
   * copy; fewer copies are made when fewer agents are alive. @default 2 (the coordinator's --copies)
   */
  copies?: number;
}

/** fromFile needs no copies: the file itself is where a lost partition is read again from. */
export interface FromFileOptions extends Omit<PutOptions, 'shape' | 'copies'> {
  /**
   * Whether the file is `.npy` or raw little-endian bytes; a file that starts with the .npy
   * magic is .npy (its header gives dtype and shape), and is refused when `'raw'` is given.
   * @default decided by the file's first bytes
   */
  format?: 'npy' | 'raw';
  /** Raw files: element type (needed). .npy files: must agree with the header if given. */
  dtype?: DType;
  /**
   * Raw files: shape (needed); without `byteOffset` it must cover the whole file exactly.
   * .npy files: must agree with the header if given.
   */
  shape?: readonly number[];
  /**
   * Raw files: read only the bytes `shape` covers, starting here (which must lie inside the
   * file) instead of the whole file. Refused for .npy files: the header says where data starts.
   * @default the shape covers the whole file
   */
  byteOffset?: number;
}

export interface ReduceKernel {
  /** Path (or file URL) of a TS/JS module on the client's disk. */
  module: string | URL;
  /** Export run on each block of rows: `(block, ctx) => partial`. @default 'partial' */
  partial?: string;
  /** Export merging two partials: `(a, b) => partial`. @default 'combine' */
  combine?: string;
  params?: unknown;
}

export interface MapKernel {
  module: string | URL;
  /** Export run on each block: `(input, output, ctx) => void`. */
  kernel: string;
  params?: unknown;
  /** Output element type. @default the input's */
  dtype?: DType;
  /** Output columns. @default the input's */
  cols?: number;
  /** Name of the output array. @default a generated one */
  name?: string;
  replace?: boolean;
}

export interface NodeInfo {
  id: string;
  host: string;
  threads: number;
  memoryBytes: number;
  usedBytes: number;
  partitions: number;
  /** Block requests running or queued on the agent's worker threads (per thread: its load; 1 = all busy). */
  workInFlight: number;
  state: 'alive' | 'dead';
}
