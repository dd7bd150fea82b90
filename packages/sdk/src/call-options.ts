import { keysOf, type DType, type ElsewhereKeys, type KnownKeys } from '@sharc/protocol';
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
export const PUT_OPTION_KEYS = keysOf<PutOptions>()([...JOB_OPTION_KEYS, 'shape', 'name', 'partitions', 'replace', 'copies']);

/** fromFile needs no copies: the file itself is where a lost partition is read again from. */
export interface FromFileOptions extends Omit<PutOptions, 'shape' | 'copies'> {
  /** @default 'npy' for *.npy files, else 'raw' */
  format?: 'npy' | 'raw';
  /** Raw files: element type. */
  dtype?: DType;
  /** Raw files: shape. */
  shape?: readonly number[];
  /** Raw files: where element 0 starts. @default 0 */
  byteOffset?: number;
}
export const FROM_FILE_OPTION_KEYS = keysOf<FromFileOptions>()([...JOB_OPTION_KEYS, 'name', 'partitions', 'replace', 'format', 'dtype', 'shape', 'byteOffset']);

/** putFile uploads from this client: copies of each partition are made, as for put. */
export interface PutFileOptions extends FromFileOptions, Pick<PutOptions, 'copies'> {}
export const PUT_FILE_OPTION_KEYS = keysOf<PutFileOptions>()([...FROM_FILE_OPTION_KEYS, 'copies']);

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
}
export const MAP_OPTION_KEYS = keysOf<MapOptions>()([...JOB_OPTION_KEYS, 'dtype', 'cols', 'name', 'replace']);

/** How each call's options object is named in errors, and where a misplaced key goes instead. */
export const PUT_OPTIONS: KnownKeys = { of: 'put', keys: PUT_OPTION_KEYS };
export const PUT_FILE_OPTIONS: KnownKeys = { of: 'putFile', keys: PUT_FILE_OPTION_KEYS };
export const FROM_FILE_OPTIONS: KnownKeys = { of: 'fromFile', keys: FROM_FILE_OPTION_KEYS };
export const SAVE_OPTIONS: KnownKeys = { of: 'save', keys: JOB_OPTION_KEYS };
export const REDUCE_OPTIONS: KnownKeys = { of: 'reduce', here: 'the options', keys: JOB_OPTION_KEYS };
export const REDUCE_KERNEL: KnownKeys = { of: "reduce's kernel", here: 'the kernel', noun: 'key', keys: REDUCE_KERNEL_KEYS };
export const MAP_OPTIONS: KnownKeys = { of: 'map', here: 'the options', keys: MAP_OPTION_KEYS };
export const MAP_KERNEL: KnownKeys = { of: "map's kernel", here: 'the kernel', noun: 'key', keys: MAP_KERNEL_KEYS };
/** A kernel key in reduce's options, or an option in its kernel. */
export const REDUCE_KERNEL_ELSEWHERE: ElsewhereKeys = { keys: REDUCE_KERNEL_KEYS, goesIn: "reduce's second argument (the kernel)" };
export const REDUCE_OPTIONS_ELSEWHERE: ElsewhereKeys = { keys: JOB_OPTION_KEYS, goesIn: "reduce's third argument (options)" };
export const MAP_KERNEL_ELSEWHERE: ElsewhereKeys = { keys: MAP_KERNEL_KEYS, goesIn: "map's second argument (the kernel)" };
export const MAP_OPTIONS_ELSEWHERE: ElsewhereKeys = { keys: MAP_OPTION_KEYS, goesIn: "map's third argument (options)" };

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
