import type { BackingFile, BuiltinMap, BuiltinOp, BuiltinPairReduction, BuiltinParams, DType, ErrorData, Shape } from '@sharc/protocol/core';
import type { WasmMemory } from '../wasm/wasm-api.js';

/**
 * The contract between the agent's main thread and its worker threads. Partition memory is
 * passed as the SharedArrayBuffer itself, so every thread reads the same bytes: no copy.
 */

/** A run of whole rows, `rowStart` counted from the start of the whole array. */
export interface Block {
  rowStart: number;
  rowCount: number;
}

/** A partition's rows in memory, shared with the agent and every thread. */
export interface ResidentView {
  /** The partition's bytes start at 0; the buffer may be longer (see wasm/memory-layout.ts). */
  buffer: SharedArrayBuffer;
  /** The WebAssembly.Memory whose buffer `buffer` is, when the partition has one: built-ins run on it in place. */
  memory?: WasmMemory;
  file?: undefined;
  dtype: DType;
  /** First row of the partition in the whole array. */
  rowStart: number;
  /** Columns per row. */
  cols: number;
}

/**
 * Rows of a file-backed array (or a map output written to a file): row r of the array is at
 * byte `file.dataOffset + r × rowBytes` of the file. The thread reads each block into a window
 * of its own (workers/file-blocks.ts), or, `write`, writes the block the kernel filled there.
 */
export interface FileView {
  file: BackingFile;
  /** An output: the thread writes each block's rows into the file after the kernel ran. */
  write?: boolean;
  /**
   * Rows a map wrote into the file: its modification time moved as they were written, so only
   * its size is checked (the coordinator re-reads both when it commits the map).
   */
  written?: boolean;
  /**
   * Bytes of the partition this view stands for: the window is a WebAssembly.Memory when a
   * resident partition of that size would be one (wasmPagesOf), so the built-ins take the same
   * loops (and give the same bits) as over the resident array.
   */
  partitionBytes: number;
  buffer?: undefined;
  memory?: undefined;
  dtype: DType;
  /** First row of the partition in the whole array. */
  rowStart: number;
  /** Columns per row. */
  cols: number;
}

/** A partition's rows as a thread sees them: in shared memory, or in a file read (written) block by block. */
export type PartitionView = ResidentView | FileView;

export type WorkerKernel =
  | { kind: 'builtin'; op: BuiltinOp; params?: BuiltinParams | undefined }
  | { kind: 'builtin-op'; op: BuiltinMap | BuiltinPairReduction }
  | {
      kind: 'module';
      path: string;
      exportName: string;
      label: string;
      /**
       * The dtypes of the views the kernel is called with (input, then output for a map). Each
       * thread loads the module once per combination: every copy's loops then see one
       * typed-array class, while one copy fed several would go polymorphic in V8 and stay slow
       * for the thread's life (four classes: ~2× slower, eight: ~15×).
       */
      dtypes: DType[];
    };

/**
 * Blocks shared by every request of one partition: one Int32 over a SharedArrayBuffer, the index
 * (into the requests' common `blocks`) of the next block nobody has taken. Each thread takes one
 * block at a time (`Atomics.add`), so a thread that starts late or runs slow leaves its share to
 * the others instead of holding the partition's end back.
 */
export type BlockClaims = Int32Array;

/**
 * A request the agent follows while it runs: `watch` (a number unique among the pool's requests
 * in flight) tags the ThreadReports the thread posts for it, with blocks done and kernel output.
 */
export interface Watched {
  watch?: number;
}

export interface ReduceBlocksRequest extends Watched {
  kind: 'reduce';
  kernel: Exclude<WorkerKernel, { kind: 'builtin-op' }>;
  input: PartitionView;
  blocks: Block[];
  /** Absent: the request runs all `blocks`, in order. Present: it takes them one by one, shared with its sibling requests. */
  claims?: BlockClaims;
  /**
   * The module's combine export: a request that ends up running every block of its partition
   * folds its partials itself, left to right, and replies with that one partial and no
   * `blockIndexes` (no combine request needed).
   */
  combine?: string;
  shape: Shape;
  params: unknown;
}

export interface MapBlocksRequest extends Watched {
  kind: 'map';
  kernel: Extract<WorkerKernel, { kind: 'module' }>;
  input: PartitionView;
  output: PartitionView;
  blocks: Block[];
  claims?: BlockClaims;
  shape: Shape;
  params: unknown;
}

/** Left-folds partials with the module's combine export. */
export interface CombineRequest extends Watched {
  kind: 'combine';
  kernel: Extract<WorkerKernel, { kind: 'module' }>;
  partials: unknown[];
}

/**
 * A built-in map (ops/run-op.ts) over blocks of rows, or the `dot` partial of each block
 * (`op: 'dot'`, no output): `other` is the second array's same rows (binary ops, dot).
 */
export interface BuiltinOpRequest extends Watched {
  kind: 'builtin-op';
  kernel: Extract<WorkerKernel, { kind: 'builtin-op' }>;
  params: unknown;
  input: PartitionView;
  other?: PartitionView;
  output?: PartitionView;
  blocks: Block[];
}

export type WorkerRequest = ReduceBlocksRequest | MapBlocksRequest | CombineRequest | BuiltinOpRequest;

export type WorkerReply =
  /**
   * `blockIndexes`, with claims: the index of each block this request ran (and of its partial,
   * for a reduce; a built-in histogram replies with one partial, its blocks' counts added).
   */
  | ({ ok: true; partials: unknown[]; blockIndexes?: number[] } & WatchedReply)
  | ({ ok: false; error: ErrorData; rowStart?: number } & WatchedReply);

/** What the reply to a watched request adds: the pool waits for its reports before it answers. */
export interface WatchedReply {
  /** ThreadReports posted for the request (they travel apart from the reply and may come after it). */
  reports?: number;
  /** Blocks done that no report counted. */
  blocks?: number;
}

/** One line a kernel printed, with the rows [rowStart, rowEnd) of the block it ran (absent outside a block: loading, combine). */
export interface ThreadOutputLine {
  stream: 'stdout' | 'stderr';
  text: string;
  rowStart?: number;
  rowEnd?: number;
}

/**
 * Thread -> agent, on the thread's parentPort (piscina emits it as the pool's 'message'),
 * while a watched request runs: blocks done since the last report, and lines the kernel
 * printed. `watch` 0: output while no request ran (a kernel's stray timer).
 */
export interface ThreadReport {
  kind: 'sharc.thread-report';
  watch: number;
  blocks: number;
  lines: ThreadOutputLine[];
  /** Lines left out past the thread's bound for the request. */
  dropped: number;
}

export function isThreadReport(message: unknown): message is ThreadReport {
  const report = message as Partial<ThreadReport> | null;
  return (
    typeof report === 'object' &&
    report !== null &&
    report.kind === 'sharc.thread-report' &&
    typeof report.watch === 'number' &&
    typeof report.blocks === 'number' &&
    typeof report.dropped === 'number' &&
    Array.isArray(report.lines)
  );
}
