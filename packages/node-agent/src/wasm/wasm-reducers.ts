import type { BuiltinPartial, BuiltinReduction, DType, TypedArray } from '@sharc/protocol/core';
import { sumOfSquares } from '../workers/builtin-int64.js';

/**
 * The built-in reductions over one block by the WebAssembly module (wasm/generate-builtins.mjs),
 * giving the partials the JS reference loops give (workers/builtin-kernels.ts,
 * builtin-int64.ts). The block is a typed-array view over the memory the module was
 * instantiated with: its byteOffset is the address.
 *
 * Where results may differ from the JS loops, and why:
 * - float sums: added in another order (see the module's header), so the last bits may differ;
 *   the order is fixed, so the result is the same on every run and thread count;
 * - integer sums of 8–32-bit dtypes: exact in 64 bits and rounded to float64 once, where the
 *   JS loop rounds each addition past 2^53;
 * - min/max of floats: wasm's min/max order -0 before +0 (as Math.min, which merges partials);
 *   the JS loop keeps the first of equal zeros.
 * sumsq of int64/uint64 stays the exact JS loop: wasm has no 64×64→128-bit multiply.
 */
export type WasmBlockReducer = (exports: Record<string, unknown>, values: TypedArray) => BuiltinPartial;

type Kernel = (address: number, length: number) => unknown;

const SIGNED_64 = new Set<DType>(['int64']);
const INT_32_OR_LESS = new Set<DType>(['int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32']);

function kernel(exports: Record<string, unknown>, name: string): Kernel {
  return exports[name] as Kernel;
}

/** Σ = high·2^32 + low, from a function returning the two halves as i64 (bigints in JS). */
function exactOf(pair: unknown): bigint {
  const [low, high] = pair as [bigint, bigint];
  return (high << 32n) + low;
}

function build(op: BuiltinReduction, dtype: DType): WasmBlockReducer {
  if (op === 'count') return (_exports, values) => values.length;
  if (dtype === 'bool') {
    switch (op) {
      case 'sum':
      case 'sumsq':
        return (ex, v) => kernel(ex, 'count_nonzero')(v.byteOffset, v.length) as number;
      case 'mean':
        return (ex, v) => [kernel(ex, 'count_nonzero')(v.byteOffset, v.length) as number, v.length];
      case 'min':
        return (ex, v) => (v.length === 0 ? Infinity : kernel(ex, 'all_nonzero')(v.byteOffset, v.length) === 1 ? 1 : 0);
      case 'max':
        return (ex, v) => (v.length === 0 ? -Infinity : kernel(ex, 'any_nonzero')(v.byteOffset, v.length) === 1 ? 1 : 0);
    }
  }
  if (dtype === 'int64' || dtype === 'uint64') {
    const toValue = SIGNED_64.has(dtype) ? (x: bigint) => x : (x: bigint) => BigInt.asUintN(64, x);
    switch (op) {
      case 'sum':
        return (ex, v) => exactOf(kernel(ex, `sum_${dtype}`)(v.byteOffset, v.length));
      case 'mean':
        return (ex, v) => [exactOf(kernel(ex, `sum_${dtype}`)(v.byteOffset, v.length)), v.length];
      case 'sumsq':
        return (_ex, v) => sumOfSquares(v as BigInt64Array | BigUint64Array);
      case 'min':
      case 'max': {
        const empty = op === 'min' ? Infinity : -Infinity;
        return (ex, v) => (v.length === 0 ? empty : toValue(kernel(ex, `${op}_${dtype}`)(v.byteOffset, v.length) as bigint));
      }
    }
  }
  const name = `${op === 'mean' ? 'sum' : op}_${dtype}`;
  if (op === 'mean') return (ex, v) => [kernel(ex, name)(v.byteOffset, v.length) as number, v.length];
  if (op === 'sumsq' && (dtype === 'int32' || dtype === 'uint32')) {
    return (ex, v) => Number(exactOf(kernel(ex, name)(v.byteOffset, v.length)));
  }
  if ((op === 'min' || op === 'max') && INT_32_OR_LESS.has(dtype)) {
    // The loops start from the type's extreme value: an empty block has no element to report.
    const empty = op === 'min' ? Infinity : -Infinity;
    return (ex, v) => (v.length === 0 ? empty : (kernel(ex, name)(v.byteOffset, v.length) as number));
  }
  return (ex, v) => kernel(ex, name)(v.byteOffset, v.length) as number;
}

const reducers = new Map<string, WasmBlockReducer>();

/** The WebAssembly reducer of `op` over blocks of `dtype`. */
export function wasmReducer(op: BuiltinReduction, dtype: DType): WasmBlockReducer {
  const key = `${op}:${dtype}`;
  let reducer = reducers.get(key);
  if (reducer === undefined) {
    reducer = build(op, dtype);
    reducers.set(key, reducer);
  }
  return reducer;
}
