import { keysOf, type DType } from '@sharc/protocol';
import { TO_ARRAY_OPTION_KEYS } from './array-ref.js';
import { JOB_OPTION_KEYS, type JobOptions } from './jobs/run-job.js';

/**
 * The options and kernel descriptions the Cluster's calls take, one shape per call: what to
 * run on (the array, the data, the file), what to run (a built-in name or a kernel
 * `{ module, … }`), then every option in the last object:
 *
 *     put(data, { shape, name, partitions, replace, copies, ...jobOptions })
 *     putFile(file, { format, dtype, shape, byteOffset, name, partitions, replace, copies, ...jobOptions })
 *     fromFile(file, { format, dtype, shape, byteOffset, name, partitions, replace, ...jobOptions })
 *     reduce(array, 'sum' | { module, partial, combine, params }, { ...jobOptions })
 *     map(array, { module, kernel, params }, { name, replace, dtype, cols, ...jobOptions })
 *
 * Each type's keys are listed once below it (`keysOf` makes the compiler check the list), and
 * each call refuses any other key, naming the nearest valid one or the argument it belongs in.
 */

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
export const PUT_OPTION_KEYS = keysOf<PutOptions>()([...JOB_OPTION_KEYS, 'shape', 'name', 'partitions', 'replace', 'copies', 'dtype']);

/** fromFile needs no copies: the file itself is where a lost partition is read again from. */
export interface FromFileOptions extends Omit<PutOptions, 'shape' | 'copies'> {
  /**
   * Keep loading if this client goes away (its process dies, or the coordinator does not hear
   * from it for its liveness window): the array is stored under `name`, which is then required.
   * Without it, a client's death cancels the load and frees its memory. @default false
   */
  detached?: boolean;
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
export const FROM_FILE_OPTION_KEYS = keysOf<FromFileOptions>()([...JOB_OPTION_KEYS, 'name', 'partitions', 'replace', 'format', 'dtype', 'shape', 'byteOffset', 'detached']);

/** putFile uploads from this client: copies of each partition are made, as for put. */
export interface PutFileOptions extends FromFileOptions, Pick<PutOptions, 'copies'> {}
export const PUT_FILE_OPTION_KEYS = keysOf<PutFileOptions>()([...FROM_FILE_OPTION_KEYS, 'copies']);

/** Options of `list`. */
export interface ListOptions {
  /**
   * Also list arrays still being written (uploads in progress, outputs of running maps), with
   * `state: 'pending'`: `delete()` drops an upload in progress. @default false
   */
  all?: boolean;
}
export const LIST_OPTION_KEYS = keysOf<ListOptions>()(['all']);

/** A custom reduction: reduce's second argument. Options (timeoutMs…) go in its third. */
export interface ReduceKernel {
  /** Path (or file URL) of a TS/JS module on the client's disk. */
  module: string | URL;
  /** Export run on each block of rows: `(block, ctx) => partial`. @default 'partial' */
  partial?: string;
  /** Export merging two partials: `(a, b) => partial`. @default 'combine' */
  combine?: string;
  /** Plain data handed to each call as `ctx.params`. @default undefined */
  params?: unknown;
}
export const REDUCE_KERNEL_KEYS = keysOf<ReduceKernel>()(['module', 'partial', 'combine', 'params']);

/** What map runs: its second argument. The output's name, dtype, cols and options go in its third. */
export interface MapKernel {
  /** Path (or file URL) of a TS/JS module on the client's disk. */
  module: string | URL;
  /** Export run on each block: `(input, output, ctx) => void`. */
  kernel: string;
  /** Plain data handed to each call as `ctx.params`. @default undefined */
  params?: unknown;
}
export const MAP_KERNEL_KEYS = keysOf<MapKernel>()(['module', 'kernel', 'params']);

/** map's third argument: the output array, and the options of every long call. */
export interface MapOptions extends JobOptions {
  /** Output element type. @default the input's */
  dtype?: DType;
  /** Output columns. @default the input's */
  cols?: number;
  /** Name of the output array. @default a generated one */
  name?: string;
  /** Overwrite an array of the same name (only once the new one is complete). @default false */
  replace?: boolean;
  /**
   * Keep running if this client goes away (its process dies, or the coordinator does not hear
   * from it for its liveness window, `sharc coordinator --dead-after-ms`): the output is stored
   * under `name`, which is then required (an unnamed output could not be found again). Without
   * it, a client's death cancels the map and frees its output. Cancelling it (signal, timeout,
   * `cancel(jobId)`) still stops it. Not for `reduce`, whose result goes only to its caller.
   * @default false
   */
  detached?: boolean;
}
export const MAP_OPTION_KEYS = keysOf<MapOptions>()([...JOB_OPTION_KEYS, 'dtype', 'cols', 'name', 'replace', 'detached']);

/** Each call's keys: its options and, for reduce and map, its kernel (validate.ts checkCall). */
export const CALL_KEYS = {
  put: { options: PUT_OPTION_KEYS },
  putFile: { options: PUT_FILE_OPTION_KEYS },
  fromFile: { options: FROM_FILE_OPTION_KEYS },
  toArray: { options: TO_ARRAY_OPTION_KEYS },
  save: { options: JOB_OPTION_KEYS },
  reduce: { options: JOB_OPTION_KEYS, kernel: REDUCE_KERNEL_KEYS },
  map: { options: MAP_OPTION_KEYS, kernel: MAP_KERNEL_KEYS },
} as const satisfies Record<string, { options: readonly string[]; kernel?: readonly string[] }>;
export type CallName = keyof typeof CALL_KEYS;

export interface NodeInfo {
  id: string;
  host: string;
  threads: number;
  memoryBytes: number;
  /** Memory the agent holds, as it last reported it (with each heartbeat, every second). */
  usedBytes: number;
  /**
   * Partition copies placed on the agent (serving copies and replicas), as the coordinator
   * places them: up to date as soon as a put, map, load or delete returns.
   */
  partitions: number;
  /** Block requests running or queued on the agent's worker threads (per thread: its load; 1 = all busy). */
  workInFlight: number;
  /**
   * Reduces clients sent straight to the agent since it started (batches: one per job and
   * agent; partitions) and batches running now, as of its last heartbeat. Absent until it sent one.
   */
  direct?: { batches: number; partitions: number; running: number };
  /** Where the agent serves Prometheus /metrics and /healthz (`sharc agent --http-port`); absent when it serves none. */
  metricsUrl?: string;
  state: 'alive' | 'dead';
}
