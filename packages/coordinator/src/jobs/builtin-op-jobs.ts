import {
  InvalidArgumentError,
  builtinMapOutput,
  checkSameShape,
  colsOf,
  parseBuiltinMapParams,
  rowBytesOf,
  slicedPartition,
  type ArrayMeta,
  type JobSpec,
  type KernelRef,
} from '@sharc/protocol';

/**
 * Checks a job of a built-in op (builtin-maps.ts in @sharc/protocol) before anything runs: the
 * kernel fits the job kind, a second array is given exactly when the op takes one, and a map's
 * declared output (dtype, cols) is the one the op gives. Any client may send a job: the SDK
 * checks the same, this is what holds.
 */
export function checkBuiltinOpJob(spec: JobSpec, input: ArrayMeta, other: ArrayMeta | undefined): void {
  const { kernel } = spec;
  if (kernel.kind === 'builtin-pair') {
    if (spec.kind !== 'reduce') throw new InvalidArgumentError(`${kernel.op} is a reduction: submit it as a reduce job`);
    if (other === undefined) throw new InvalidArgumentError(`${kernel.op} needs a second array (with)`);
    checkSameShape(kernel.op, input.shape, other.shape);
    return;
  }
  if (kernel.kind !== 'builtin-map') {
    if (other !== undefined) throw new InvalidArgumentError('only built-in binary ops and dot take a second array (with)');
    return;
  }
  if (spec.kind !== 'map') throw new InvalidArgumentError(`${kernel.op} makes a new array: submit it as a map job`);
  const output = builtinMapOutput(kernel.op, kernel.params, input, other);
  if (output.dtype !== spec.dtype || colsOf(output.shape) !== spec.cols) {
    throw new InvalidArgumentError(`${kernel.op} of this array gives ${output.dtype} with ${colsOf(output.shape)} columns; the job declares ${spec.dtype} with ${spec.cols}`);
  }
}

/**
 * Shapes a built-in map's output (`meta`, laid out as any map output: the input's rows, on the
 * input's agents) in place: its shape is the op's ([rows] for row statistics and matvec), and a
 * slice keeps, of each input partition, the rows inside the slice (renumbered from 0; partitions
 * outside it keep no rows), so that output partition i is still computed where input partition i is.
 */
export function builtinOpOutput(meta: ArrayMeta, kernel: Extract<KernelRef, { kind: 'builtin-map' }>, input: ArrayMeta, other: ArrayMeta | undefined): void {
  const output = builtinMapOutput(kernel.op, kernel.params, input, other);
  meta.shape = output.shape;
  if (kernel.op !== 'slice') return;
  const slice = parseBuiltinMapParams('slice', kernel.params);
  const rowBytes = rowBytesOf(output);
  meta.partitions = meta.partitions.map((p) => ({ ...p, ...slicedPartition(p, slice, rowBytes) }));
}
