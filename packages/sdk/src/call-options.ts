import type { DType } from '@sharc/protocol';
import type { JobOptions } from './jobs/run-job.js';

/** The options and kernel descriptions the Cluster's calls take. */

export interface PutOptions extends JobOptions {
  /** Shape of the data, row-major. @default [data.length] */
  shape?: readonly number[];
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
   * Keep loading if this client goes away (its process dies, or the coordinator does not hear
   * from it for its liveness window): the array is stored under `name`, which is then required.
   * Without it, a client's death cancels the load and frees its memory. @default false
   */
  detached?: boolean;
  /** @default 'npy' for *.npy files, else 'raw' */
  format?: 'npy' | 'raw';
  /** Raw files: element type. */
  dtype?: DType;
  /** Raw files: shape. */
  shape?: readonly number[];
  /** Raw files: where element 0 starts. @default 0 */
  byteOffset?: number;
}

/** Options of `map`. */
export interface MapOptions extends JobOptions {
  /**
   * Keep running if this client goes away (its process dies, or the coordinator does not hear
   * from it for its liveness window, `sharc coordinator --dead-after-ms`): the output is stored
   * under the kernel's `name`, which is then required (an unnamed output could not be found
   * again). Without it, a client's death cancels the map and frees its output. Cancelling it
   * (signal, timeout, `cancel(jobId)`) still stops it. Not for `reduce`, whose result goes only
   * to its caller. @default false
   */
  detached?: boolean;
}

/** Options of `list`. */
export interface ListOptions {
  /**
   * Also list arrays still being written (uploads in progress, outputs of running maps), with
   * `state: 'pending'`: `delete()` drops an upload in progress. @default false
   */
  all?: boolean;
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
