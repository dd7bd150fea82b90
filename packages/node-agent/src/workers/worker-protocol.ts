import type { BuiltinMap, BuiltinOp, BuiltinPairReduction, BuiltinParams, DType, ErrorData, Shape } from '@sharc/protocol/core';
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

export interface PartitionView {
  /** The partition's bytes start at 0; the buffer may be longer (see wasm/memory-layout.ts). */
  buffer: SharedArrayBuffer;
  /** The WebAssembly.Memory whose buffer `buffer` is, when the partition has one: built-ins run on it in place. */
  memory?: WasmMemory;
  dtype: DType;
  /** First row of the partition in the whole array. */
  rowStart: number;
  /** Columns per row. */
  cols: number;
}

export type WorkerKernel =
  | { kind: 'builtin'; op: BuiltinOp; params?: BuiltinParams | undefined }
  | { kind: 'module'; path: string; exportName: string; label: string }
  | { kind: 'builtin-op'; op: BuiltinMap | BuiltinPairReduction };

export interface ReduceBlocksRequest {
  kind: 'reduce';
  kernel: Exclude<WorkerKernel, { kind: 'builtin-op' }>;
  input: PartitionView;
  blocks: Block[];
  shape: Shape;
  params: unknown;
}

export interface MapBlocksRequest {
  kind: 'map';
  kernel: Extract<WorkerKernel, { kind: 'module' }>;
  input: PartitionView;
  output: PartitionView;
  blocks: Block[];
  shape: Shape;
  params: unknown;
}

/** Left-folds partials with the module's combine export. */
export interface CombineRequest {
  kind: 'combine';
  kernel: Extract<WorkerKernel, { kind: 'module' }>;
  partials: unknown[];
}

/**
 * A built-in map (ops/run-op.ts) over blocks of rows, or the `dot` partial of each block
 * (`op: 'dot'`, no output): `other` is the second array's same rows (binary ops, dot).
 */
export interface BuiltinOpRequest {
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
  | { ok: true; partials: unknown[] }
  | { ok: false; error: ErrorData; rowStart?: number };
