import type { BuiltinPartial, BuiltinReduction } from '@sharc/protocol/core';
import { builtinExports } from '../wasm/builtin-module.js';
import { wasmReducer } from '../wasm/wasm-reducers.js';
import { blockView } from './block-view.js';
import { builtinReducer } from './builtin-kernels.js';
import type { Block, PartitionView } from './worker-protocol.js';

/**
 * One built-in reduction's partials, one per block: by the WebAssembly SIMD module when the
 * partition lives in a WebAssembly.Memory, by the JS loops otherwise (partitions too small or
 * too big for one, see wasm/memory-layout.ts). Used on worker threads and on the agent's own
 * thread alike.
 */
export function reduceBuiltinBlocks(op: BuiltinReduction, view: PartitionView, blocks: readonly Block[]): BuiltinPartial[] {
  if (view.memory !== undefined) {
    const exports = builtinExports(view.memory);
    const reducer = wasmReducer(op, view.dtype);
    return blocks.map((block) => reducer(exports, blockView(view, block)));
  }
  const reducer = builtinReducer(op, view.dtype);
  return blocks.map((block) => reducer(blockView(view, block)));
}
