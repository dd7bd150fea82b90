/**
 * @sharc/protocol/core: the part of the contract with no I/O dependencies (typed errors,
 * dtypes, shapes, blocks, built-in reduction semantics). Worker threads import this instead of
 * the package index so that each thread does not load the NATS client, zod and msgpack: about
 * 10 MiB less resident memory per thread.
 */
export {
  SharcError,
  InvalidArgumentError,
  KernelError,
  InternalError,
  CancelledError,
  FileFormatError,
  toErrorData,
  fromErrorData,
} from './errors.js';
export type { ErrorData } from './errors.js';
export { DTYPES, bytesPerElement, viewOf, typedArrayConstructor, isBigIntDType } from './dtypes.js';
export type { DType, TypedArray } from './dtypes.js';
export { colsOf, rowsOf } from './shape.js';
export type { Shape } from './shape.js';
export type { BuiltinPartial } from './reductions.js';
export { BUILTIN_REDUCTIONS, type BuiltinReduction } from './builtin-names.js';
export { BUILTIN_OPS, AXIS_OPS, NAMED_REDUCTIONS, MAX_HISTOGRAM_BINS, checkBuiltinKernel, histogramEdges, paramsOf } from './builtin-ops.js';
export type { BuiltinOp, AxisOp, NamedReduction, BuiltinParams, BuiltinKernel } from './builtin-ops.js';
export { opIdentity, combineOp, foldOp, finishOp, emptyOpError, varianceOf, isPlainReduction } from './statistics.js';
export type { OpPartial, ArgPartial, MomentsPartial, Histogram } from './statistics.js';
export type { ColumnPartial } from './column-reductions.js';
export { assertSerialisable } from './plain-data.js';
export { exportedFunction, kernelFailure, foldPartials } from './kernel-exports.js';
export { BUILTIN_MAPS, BUILTIN_PAIR_REDUCTIONS, isBinaryMap, isRowStatistic } from './builtin-maps.js';
export type { BuiltinMap, BinaryMap, RowStatistic, BuiltinPairReduction, BuiltinMapParams } from './builtin-maps.js';
export { KERNEL_OUTPUT_LINES_PER_JOB, MAX_KERNEL_OUTPUT_LINE, cutOutputLine } from './kernel-output.js';
// File-backed arrays' blocks are read on worker threads (node-agent workers/file-blocks.ts).
export { checkBackingFile } from './formats/array-file.js';
export type { BackingFile } from './messages.js';
export { wasmPagesOf, WASM_PAGE_BYTES, WASM32_MAX_PAGES } from './sizes.js';
