import { isBinaryMap, isRowStatistic, type BuiltinMap, type BuiltinMapParams } from '@sharc/protocol/core';
import type { BlockSource } from '../file-blocks.js';
import type { Block } from '../worker-protocol.js';
import { absBlock, astypeBlock, binaryBlock, clipBlock, scaleBlock, sqrtBlock } from './elementwise.js';
import { dotBlock, matvecBlock, rowStatisticBlock } from './rows.js';
import { dotWasm, runWasmOp, wasmDotFor, wasmOpFor } from './wasm-ops.js';

/**
 * Runs a built-in map over one block of rows: `input` (and `other`, the second array of a
 * binary op, over the same rows) into `output`, then has the output's rows written (a file
 * output's window goes to its file). Each view's rows are counted from the start of the whole
 * array, so one block addresses the same rows in all three.
 */
export function runBuiltinMapBlock(op: BuiltinMap, params: unknown, input: BlockSource, other: BlockSource | undefined, output: BlockSource, block: Block): void {
  mapBlock(op, params, input, other, output, block);
  output.written(block);
}

function mapBlock(op: BuiltinMap, params: unknown, input: BlockSource, other: BlockSource | undefined, output: BlockSource, block: Block): void {
  const a = input.rows(block);
  const o = output.rows(block);
  // The hot float loops as WebAssembly SIMD (wasm-ops.ts); the JS loops below run the rest.
  const simd = wasmOpFor(op, params, input.dtype, other?.dtype, output.dtype);
  if (simd !== undefined) {
    runWasmOp(simd.name, simd.scalars, a, other === undefined ? undefined : other.rows(block), o);
    return;
  }
  if (isBinaryMap(op)) {
    if (other === undefined) throw new Error(`${op} needs its second array's rows`);
    binaryBlock(op, a, input.dtype, other.rows(block), other.dtype, o, output.dtype);
    return;
  }
  if (isRowStatistic(op)) {
    rowStatisticBlock(op, a, input.dtype, o, block.rowCount, input.cols, params as BuiltinMapParams['rowstd'] | undefined);
    return;
  }
  switch (op) {
    case 'astype':
      astypeBlock(a, input.dtype, o, output.dtype);
      return;
    case 'scale':
      scaleBlock(a, input.dtype, o, output.dtype, params as BuiltinMapParams['scale']);
      return;
    case 'clip':
      clipBlock(a, input.dtype, o, params as BuiltinMapParams['clip']);
      return;
    case 'abs':
      absBlock(a, input.dtype, o);
      return;
    case 'sqrt':
      sqrtBlock(a, input.dtype, o);
      return;
    case 'matvec':
      matvecBlock(a, input.dtype, o, block.rowCount, input.cols, (params as BuiltinMapParams['matvec']).v);
      return;
    case 'slice':
      throw new Error('slice copies bytes on the agent: it runs no block loop');
  }
}

/**
 * The `dot` partial of one block: Σ a·b over its rows of both arrays. Two float64 or two float32
 * arrays as WebAssembly SIMD (wasm-ops.ts); the JS loop (rows.ts), the reference, runs the rest.
 */
export function dotPartialOfBlock(input: BlockSource, other: BlockSource, block: Block): number {
  const [a, b] = [input.rows(block), other.rows(block)];
  if (wasmDotFor(input.dtype, other.dtype)) return dotWasm(a as Float64Array | Float32Array, b as Float64Array | Float32Array);
  return dotBlock(a, input.dtype, b, other.dtype);
}
