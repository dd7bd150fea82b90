import { isPlainReduction, type BuiltinKernel, type BuiltinReduction, type OpPartial } from '@sharc/protocol/core';
import { builtinExports } from '../wasm/builtin-module.js';
import { wasmReducer } from '../wasm/wasm-reducers.js';
import { wasmStatistic } from '../wasm/wasm-statistics.js';
import { blockView } from './block-view.js';
import { blockOpFor } from './ops/block-ops.js';
import type { Block, PartitionView } from './worker-protocol.js';

/** One block's partial of a built-in op over a partition. */
export type BuiltinBlockReducer = (block: Block) => OpPartial;

/**
 * The loop computing a built-in op's partial of one block of `view`: the WebAssembly SIMD
 * module's when the partition lives in a WebAssembly.Memory and the module has the op, the JS
 * loop's otherwise (partitions too small or too big for one, see wasm/memory-layout.ts; ops the
 * module lacks, see ops/block-ops.ts). Used on worker threads and on the agent's own thread alike.
 */
export function builtinBlockReducer(kernel: BuiltinKernel, view: PartitionView): BuiltinBlockReducer {
  const wasmOp = wasmOpOf(kernel);
  if (view.memory !== undefined && wasmOp !== undefined) {
    const exports = builtinExports(view.memory);
    const reducer = wasmReducer(wasmOp, view.dtype);
    return (block) => reducer(exports, blockView(view, block));
  }
  const statistic = view.memory === undefined ? undefined : wasmStatistic(kernel, view.dtype, view.cols);
  if (view.memory !== undefined && statistic !== undefined) {
    const exports = builtinExports(view.memory);
    return (block) => statistic(exports, blockView(view, block), block.rowStart * view.cols);
  }
  const blockOp = blockOpFor(kernel, view.dtype, view.cols);
  return (block) => blockOp(blockView(view, block), block.rowStart * view.cols);
}

/** One built-in op's partials, one per block, in the order of `blocks` (see builtinBlockReducer). */
export function reduceBuiltinBlocks(kernel: BuiltinKernel, view: PartitionView, blocks: readonly Block[]): OpPartial[] {
  return blocks.map(builtinBlockReducer(kernel, view));
}

/** The module's reduction computing `kernel`'s partial, if it has one (norm's partial is the sum of squares). */
function wasmOpOf(kernel: BuiltinKernel): BuiltinReduction | undefined {
  if (kernel.op === 'norm') return 'sumsq';
  return isPlainReduction(kernel) ? kernel.op : undefined;
}
