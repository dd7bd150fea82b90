import { histogramEdges, type BuiltinKernel, type DType, type OpPartial, type TypedArray } from '@sharc/protocol/core';
import { builtinReducer } from '../builtin-kernels.js';
import { argBlockOp } from './arg-extremes.js';
import { columnBlockOp } from './columns.js';
import { histogramBlockOp } from './histogram.js';
import { momentsBlockOp } from './moments.js';

/**
 * The per-block function of any built-in op: `(values of the block, flat index of its first
 * element) => partial`. The one place a built-in kernel is turned into a loop: a faster loop
 * (WebAssembly SIMD) for an op and dtype is swapped in here, behind the same signature.
 */
export type BlockOp = (values: TypedArray, firstElement: number) => OpPartial;

export function blockOpFor(kernel: BuiltinKernel, dtype: DType, cols: number): BlockOp {
  const { op, params } = kernel;
  if (params?.axis === 0) {
    if (op !== 'sum' && op !== 'mean' && op !== 'min' && op !== 'max' && op !== 'var' && op !== 'std') throw new TypeError(`${op} has no axis-0 form`);
    const loop = columnBlockOp(op, dtype);
    return (values) => loop(values, cols);
  }
  switch (op) {
    case 'argmin':
    case 'argmax':
      return argBlockOp(op, dtype);
    case 'var':
    case 'std':
      return momentsBlockOp(dtype);
    case 'norm':
      return builtinReducer('sumsq', dtype);
    case 'histogram': {
      const [lo, hi] = params?.range ?? [0, 1];
      const edges = histogramEdges(lo, hi, params?.bins ?? 1, dtype);
      const loop = histogramBlockOp(dtype);
      return (values) => loop(values, edges);
    }
    default:
      return builtinReducer(op, dtype);
  }
}
