import { InvalidArgumentError, isBigIntDType, type DType, type KernelRef } from '@sharc/protocol';

/**
 * What a simulated agent "holds": no bytes, only a partition's size. Every element of every
 * partition is 1 (the fill rule), so a reduce's result can be checked without any data:
 * sum = count = sumsq = the element count, min = max = 1 (when there are elements).
 */
export interface BookedPartition {
  dtype: DType;
  rowCount: number;
  cols: number;
  byteLength: number;
}

/** The reductions a simulated agent can answer from the fill rule. */
const SIMULATED_OPS = new Set(['sum', 'sumsq', 'count', 'min', 'max', 'mean', 'norm']);

/**
 * The partial a real agent would send for `kernel` over `partition` if all its elements were
 * 1 (see protocol/reductions.ts for the partials' shapes). Anything else (custom kernels,
 * statistics along an axis, maps) is refused: a simulated agent computes nothing.
 */
export function fillRulePartial(kernel: KernelRef, partition: BookedPartition): unknown {
  if (kernel.kind !== 'builtin' || !SIMULATED_OPS.has(kernel.op) || kernel.params?.axis !== undefined) {
    throw new InvalidArgumentError(
      `a simulated agent only runs the built-in reductions ${[...SIMULATED_OPS].join(', ')} over a whole array, not ${kernel.kind === 'builtin' ? kernel.op : `a ${kernel.kind} kernel`}`,
    );
  }
  const elements = partition.rowCount * partition.cols;
  const big = isBigIntDType(partition.dtype);
  const value = (n: number) => (big ? BigInt(n) : n);
  switch (kernel.op) {
    case 'count':
      return elements;
    case 'sum':
    case 'sumsq':
    case 'norm':
      return value(elements);
    case 'mean':
      return [value(elements), elements];
    case 'min':
      return elements === 0 ? Infinity : value(1);
    default:
      return elements === 0 ? -Infinity : value(1);
  }
}
