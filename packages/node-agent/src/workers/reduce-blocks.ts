import { isPlainReduction, type BuiltinKernel, type BuiltinReduction, type OpPartial } from '@sharc/protocol/core';
import { builtinExports } from '../wasm/builtin-module.js';
import { wasmReducer } from '../wasm/wasm-reducers.js';
import { wasmStatistic } from '../wasm/wasm-statistics.js';
import { openBlocks, type BlockSource } from './file-blocks.js';
import { blockOpFor } from './ops/block-ops.js';
import type { Block, ResidentView } from './worker-protocol.js';

/** One block's partial of a built-in op over a partition. */
export type BuiltinBlockReducer = (block: Block) => OpPartial;

/**
 * The loop computing a built-in op's partial of one block of `source`: the WebAssembly SIMD
 * module's when the block lives in a WebAssembly.Memory (the partition's, or the thread's
 * window for a file-backed one) and the module has the op, the JS loop's otherwise (partitions
 * too small or too big for one, see wasm/memory-layout.ts; ops the module lacks, see
 * ops/block-ops.ts). Used on worker threads and on the agent's own thread alike. The memory is
 * asked for each block: a file's window may be replaced by a larger one between blocks.
 */
export function builtinBlockReducer(kernel: BuiltinKernel, source: BlockSource): BuiltinBlockReducer {
  const wasmOp = wasmOpOf(kernel);
  const { dtype, cols } = source;
  const blockOp = blockOpFor(kernel, dtype, cols);
  const reducer = wasmOp === undefined ? undefined : wasmReducer(wasmOp, dtype);
  const statistic = reducer === undefined ? wasmStatistic(kernel, dtype, cols) : undefined;
  return (block) => {
    const values = source.rows(block);
    const memory = source.memory;
    if (memory !== undefined && reducer !== undefined) return reducer(builtinExports(memory), values);
    if (memory !== undefined && statistic !== undefined) return statistic(builtinExports(memory), values, block.rowStart * cols);
    return blockOp(values, block.rowStart * cols);
  };
}

/** One built-in op's partials over a resident partition, one per block, in the order of `blocks` (see builtinBlockReducer). */
export function reduceBuiltinBlocks(kernel: BuiltinKernel, view: ResidentView, blocks: readonly Block[]): OpPartial[] {
  return blocks.map(builtinBlockReducer(kernel, openBlocks(view, 'input')));
}

/** The module's reduction computing `kernel`'s partial, if it has one (norm's partial is the sum of squares). */
function wasmOpOf(kernel: BuiltinKernel): BuiltinReduction | undefined {
  if (kernel.op === 'norm') return 'sumsq';
  return isPlainReduction(kernel) ? kernel.op : undefined;
}
