import { combineOp, type ArgPartial, type BuiltinKernel, type DType, type MomentsPartial, type OpPartial, type TypedArray } from '@sharc/protocol/core';

/**
 * The statistics' block loops by the WebAssembly module (wasm/generate-statistics.mjs), giving
 * the partials the JS loops give (workers/ops/) up to the order of float additions:
 * - var, std of float64/float32: `[n, mean, m2, correction]`, 128 KiB at a time, each read from
 *   memory once: around the mean so far in one pass, or by the corrected two-pass algorithm (as
 *   ops/moments.ts) while the sub-block is in cache, merged in order (see `moments`);
 * - argmin, argmax of float64/float32: `[flat index, value]` of the first extreme or the first
 *   NaN, from `argmin_D` / `argmax_D` (the same element as the JS loop, exactly);
 * - sum, mean along axis 0 of float64/float32 with at most WASM_MAX_COLUMNS columns: one pass
 *   down each pair of columns (`colsum2_D`), each column added in row order as the JS loop does,
 *   so the same sums bit for bit.
 * Other ops and dtypes have no WebAssembly loop yet: `wasmStatistic` returns undefined and the
 * JS loop runs.
 */
export type WasmBlockOp = (exports: Record<string, unknown>, values: TypedArray, firstElement: number) => OpPartial;

type Sum = (address: number, length: number) => number;
type Deviations = (address: number, length: number, mean: number) => [number, number];

/**
 * Bytes of a block taken at a time by var/std: small enough to stay in a core's L2 cache when a
 * second pass over it is needed, large enough that the calls and the merge per sub-block cost
 * nothing next to the loops.
 */
const MOMENTS_SUB_BLOCK_BYTES = 128 * 1024;
/**
 * A pass around the mean so far stands when (Σd)²/n is at most this share of Σd²: then
 * m2 = Σd² − (Σd)²/n cancels less than 1/1024 of Σd² (under 0.002 bits lost), as accurate as
 * the pass around the sub-block's own mean. Data whose mean drifts by more than about 1/32 of
 * its spread between sub-blocks fails it and takes the second pass instead.
 */
const SHIFTED_PASS_TOLERANCE = 1 / 1024;
const MOMENTS_KERNEL: BuiltinKernel = { op: 'var' };

/**
 * var/std of one block, 128 KiB at a time, each sub-block read from memory once. The first
 * sub-block, and any whose deviations from the mean so far fail SHIFTED_PASS_TOLERANCE, by the
 * corrected two-pass algorithm (its mean from `sum_D`, then `deviations_D` around it while the
 * sub-block is in cache); the others by one `deviations_D` pass around the mean of the
 * sub-blocks before (the shifted-data algorithm: mean = shift + Σd/n, kept with its rounding as
 * the correction, m2 = Σd² − (Σd)²/n). The partials are merged left to right with Chan's
 * formula (combineOp), as blocks are. Deterministic: the sub-blocks are cut at fixed offsets
 * from the block's start, and each choice depends on the block's values only.
 */
function moments(dtype: 'float64' | 'float32'): WasmBlockOp {
  const bytes = dtype === 'float64' ? 8 : 4;
  const subBlock = MOMENTS_SUB_BLOCK_BYTES / bytes;
  return (exports, values): MomentsPartial => {
    const sum = exports[`sum_${dtype}`] as Sum;
    const deviations = exports[`deviations_${dtype}`] as Deviations;
    let acc: MomentsPartial = [0, 0, 0, 0];
    for (let start = 0; start < values.length; start += subBlock) {
      const n = Math.min(subBlock, values.length - start);
      const address = values.byteOffset + start * bytes;
      let partial: MomentsPartial | undefined;
      if (acc[0] > 0) {
        const shift = acc[1];
        const [sd, sdd] = deviations(address, n, shift);
        const meanSquare = (sd * sd) / n;
        if (Number.isFinite(sdd) && meanSquare <= sdd * SHIFTED_PASS_TOLERANCE) {
          const [mean, rounding] = twoSum(shift, sd / n);
          partial = [n, mean, sdd - meanSquare, rounding];
        }
      }
      if (partial === undefined) {
        const mean = sum(address, n) / n;
        const [sd, sdd] = deviations(address, n, mean);
        partial = [n, mean, sdd - (sd * sd) / n, sd / n];
      }
      acc = combineOp(MOMENTS_KERNEL, acc, partial) as MomentsPartial;
    }
    return acc;
  };
}

/** a + b as the float64 sum and its rounding error (Knuth's TwoSum): sum + error == a + b exactly. */
function twoSum(a: number, b: number): [number, number] {
  const total = a + b;
  const bPart = total - a;
  return [total, a - (total - bPart) + (b - bPart)];
}

const MOMENTS = { float64: moments('float64'), float32: moments('float32') };

/**
 * Above this many columns the JS loop (one pass, row by row) is as fast as a pass per pair of
 * columns. Measured on 256 MiB of float64, one thread: 2.7× the JS loop at 2 columns, 1.6× at
 * 8, 1.15× at 64, even at 1024.
 */
const WASM_MAX_COLUMNS = 64;

type ColumnPair = (address: number, rows: number, stride: number) => [number, number];
type Column = (address: number, rows: number, stride: number) => number;

function columnSums(dtype: 'float64' | 'float32', mean: boolean): (exports: Record<string, unknown>, values: TypedArray, cols: number) => OpPartial {
  const bytes = dtype === 'float64' ? 8 : 4;
  return (exports, values, cols) => {
    const rows = cols === 0 ? 0 : values.length / cols;
    const sums = new Float64Array(cols);
    const stride = cols * bytes;
    const pair = exports[`colsum2_${dtype}`] as ColumnPair;
    let c = 0;
    for (; c + 1 < cols; c += 2) {
      const [a, b] = pair(values.byteOffset + c * bytes, rows, stride);
      sums[c] = a;
      sums[c + 1] = b;
    }
    if (c < cols) sums[c] = (exports[`colsum1_${dtype}`] as Column)(values.byteOffset + c * bytes, rows, stride);
    return mean ? [sums, rows] : sums;
  };
}

type ArgIndex = (address: number, length: number) => number;

function argExtreme(op: 'argmin' | 'argmax', dtype: 'float64' | 'float32'): WasmBlockOp {
  const name = `${op}_${dtype}`;
  return (exports, values, first): ArgPartial => {
    if (values.length === 0) return [-1, 0];
    const index = (exports[name] as ArgIndex)(values.byteOffset, values.length);
    return [first + index, values[index] as number];
  };
}

const ARG = {
  argmin: { float64: argExtreme('argmin', 'float64'), float32: argExtreme('argmin', 'float32') },
  argmax: { float64: argExtreme('argmax', 'float64'), float32: argExtreme('argmax', 'float32') },
};

/** The WebAssembly loop of `kernel` over blocks of `dtype` with `cols` columns, if the module has one. */
export function wasmStatistic(kernel: BuiltinKernel, dtype: DType, cols: number): WasmBlockOp | undefined {
  if (dtype !== 'float64' && dtype !== 'float32') return undefined;
  if (kernel.params?.axis === 0) {
    if ((kernel.op !== 'sum' && kernel.op !== 'mean') || cols > WASM_MAX_COLUMNS) return undefined;
    const sums = columnSums(dtype, kernel.op === 'mean');
    return (exports, values) => sums(exports, values, cols);
  }
  if (kernel.op === 'var' || kernel.op === 'std') return MOMENTS[dtype];
  if (kernel.op === 'argmin' || kernel.op === 'argmax') return ARG[kernel.op][dtype];
  return undefined;
}
