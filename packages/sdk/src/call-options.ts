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
 *     fromFile(file, { format, dtype, shape, byteOffset, name, partitions, replace, resident, detached, ...jobOptions })
 *     reduce(array, 'sum' | { module, partial, combine, params }, { ...jobOptions })
 *     map(array, { module, kernel, params }, { name, replace, dtype, cols, file, detached, ...jobOptions })
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
  /**
   * `true`: every partition is read into the agents' memory now, and jobs run on it there
   * (fastest for an array used many times). `false`: a file-backed array: nothing is read
   * now and nothing is held; every job streams its rows from the file (for an array bigger
   * than the cluster's memory, or read once or twice). The file must then stay as it is
   * (its size and modification time are checked by each job). `'auto'`: resident when the
   * cluster has the memory for it, file-backed when it has not. @default true
   */
  resident?: Resident;
}
/** fromFile's `resident`: in memory, file-backed, or whichever fits. */
export type Resident = boolean | 'auto';
export const RESIDENT_CHOICES = [true, false, 'auto'] as const satisfies readonly Resident[];
export const FROM_FILE_OPTION_KEYS = keysOf<FromFileOptions>()([...JOB_OPTION_KEYS, 'name', 'partitions', 'replace', 'format', 'dtype', 'shape', 'byteOffset', 'detached', 'resident']);

/** putFile uploads from this client: copies of each partition are made, as for put (and it is always resident). */
export interface PutFileOptions extends Omit<FromFileOptions, 'resident'>, Pick<PutOptions, 'copies'> {}
export const PUT_FILE_OPTION_KEYS = keysOf<PutFileOptions>()([...JOB_OPTION_KEYS, 'name', 'partitions', 'replace', 'format', 'dtype', 'shape', 'byteOffset', 'detached', 'copies']);

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
  /**
   * Overwrite an array of the same name (only once the new one is complete), and the output
   * file when `file` names one that exists. @default false
   */
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
  /**
   * Write the output to this `.npy` file (a path every agent can write, e.g. shared storage;
   * relative paths are resolved on this client) instead of holding it in the agents' memory:
   * the output is a file-backed array (see fromFile's `resident: false`), and numpy.load (or
   * `numpy.load(path, mmap_mode='r')`) reads the file once the map is done. An existing file
   * is refused unless `replace`. Works with `detached` (a long map writing a big output is the
   * usual case for both). @default the output is held in memory
   */
  file?: string;
}
export const MAP_OPTION_KEYS = keysOf<MapOptions>()([...JOB_OPTION_KEYS, 'dtype', 'cols', 'name', 'replace', 'detached', 'file']);

/**
 * Options of `cluster.submit('reduce', …)`. submit returns as soon as the coordinator has the
 * job, which then runs detached: follow it with `handle.wait({ onProgress, signal })`.
 */
export interface SubmitOptions {
  /** The job fails with TimeoutError (and stops) this long after it was submitted. @default 24 hours */
  timeoutMs?: number;
}
export const SUBMIT_OPTION_KEYS = keysOf<SubmitOptions>()(['timeoutMs']);

/**
 * Options of `cluster.submit('reduce', array, builtinName, …)`: a built-in's own, as its
 * ArrayRef method takes them (`axis: 0` for one value per column, `ddof` for var and std,
 * `bins` and `range` for a histogram, whose range a submitted one needs), and the job's time.
 */
export interface SubmitBuiltinOptions extends SubmitOptions {
  /** 0: one value per column of a 2-D array (axis 1 makes a new array: `a.sum({ axis: 1 })`). @default every element */
  axis?: 0;
  /** var, std: the divisor is `n - ddof`. @default 0 */
  ddof?: number;
  /** histogram: number of equal-width bins. @default 10 */
  bins?: number;
  /** histogram: outer edges `[lo, hi]` (needed: the data's min and max would take two more jobs). */
  range?: readonly [number, number];
}

/** Options of `cluster.submit('map', …)`: the output's, as map's, and the job's time. */
export interface SubmitMapOptions extends SubmitOptions {
  /** Output element type. @default the input's */
  dtype?: DType;
  /** Output columns. @default the input's */
  cols?: number;
  /** Name of the output array, kept after this client goes away. @default a generated one (`handle.result()` and `sharc result` name it) */
  name?: string;
  /** Overwrite an array of the same name, and the output file if `file` names an existing one. @default false */
  replace?: boolean;
  /** Write the output to this `.npy` file on the agents' disk, as map's `file`. @default held in memory */
  file?: string;
}
export const SUBMIT_MAP_OPTION_KEYS = keysOf<SubmitMapOptions>()([...SUBMIT_OPTION_KEYS, 'dtype', 'cols', 'name', 'replace', 'file']);

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
