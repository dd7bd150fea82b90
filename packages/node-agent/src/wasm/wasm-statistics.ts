import type { BuiltinKernel, DType, MomentsPartial, OpPartial, TypedArray } from '@sharc/protocol/core';

/**
 * The statistics' block loops by the WebAssembly module (wasm/generate-statistics.mjs), giving
 * the partials the JS loops give (workers/ops/) up to the order of float additions:
 * - var, std of float64/float32: `[n, mean, m2, correction]` with the mean from `sum_D` and
 *   Σd, Σd² from `deviations_D` (the corrected two-pass algorithm, as ops/moments.ts).
 * Other ops and dtypes have no WebAssembly loop yet: `wasmStatistic` returns undefined and the
 * JS loop runs.
 */
export type WasmBlockOp = (exports: Record<string, unknown>, values: TypedArray) => OpPartial;

type Sum = (address: number, length: number) => number;
type Deviations = (address: number, length: number, mean: number) => [number, number];

function moments(dtype: 'float64' | 'float32'): WasmBlockOp {
  return (exports, values): MomentsPartial => {
    const n = values.length;
    if (n === 0) return [0, 0, 0, 0];
    const mean = (exports[`sum_${dtype}`] as Sum)(values.byteOffset, n) / n;
    const [sd, sdd] = (exports[`deviations_${dtype}`] as Deviations)(values.byteOffset, n, mean);
    return [n, mean, sdd - (sd * sd) / n, sd / n];
  };
}

const MOMENTS = { float64: moments('float64'), float32: moments('float32') };

/** The WebAssembly loop of `kernel` over blocks of `dtype`, if the module has one. */
export function wasmStatistic(kernel: BuiltinKernel, dtype: DType): WasmBlockOp | undefined {
  if (kernel.params?.axis !== undefined) return undefined;
  if ((kernel.op === 'var' || kernel.op === 'std') && (dtype === 'float64' || dtype === 'float32')) return MOMENTS[dtype];
  return undefined;
}
