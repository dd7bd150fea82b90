/**
 * @sharc/sdk: what a user imports.
 *
 * ```ts
 * import { connect } from '@sharc/sdk';
 * const cluster = await connect();                      // embedded; or { servers: 'nats://host:4222' }
 * const a = await cluster.put(new Float64Array(1e6), { shape: [1000, 1000], name: 'm' });
 * console.log(await cluster.reduce(a, 'sum'));
 * const b = await cluster.map(a, { module: './k.ts', kernel: 'double' }, { name: 'doubled', timeoutMs: 60_000 });
 * console.log(await b.toArray());
 * const job = await cluster.submit('reduce', a, 'sum');   // detached: outlives this client
 * console.log(await (await cluster.job(job.id)).result());
 * await cluster.close();
 * ```
 */
export { connect } from './connect.js';
export { Cluster } from './cluster.js';
export type { PutOptions, PutFileOptions, FromFileOptions, ReduceKernel, MapKernel, MapOptions, ListOptions, NodeInfo, JobOptions, SubmitOptions, SubmitMapOptions } from './cluster.js';
export { JobHandle } from './jobs/job-handle.js';
export type { WaitOptions } from './jobs/job-handle.js';
export type { JobInfo, JobState } from './jobs/job-handle.js';
export { ArrayRef } from './array-ref.js';
export type { ToArrayOptions } from './array-ref.js';
export type { OpOptions, ScaleOptions, RowStatisticOptions, RowStatisticName } from './ops/builtin-ops.js';
export type { AxisOptions, VarianceOptions, HistogramOptions } from './array-reductions.js';
export type { ConnectOptions, EmbeddedOptions } from './options.js';
export type { KernelContext } from './kernel-types.js';
export type { KernelLogLine } from './jobs/job-log.js';
export { formatLogLine } from './jobs/job-log.js';
export {
  SharcError,
  InvalidArgumentError,
  NameTakenError,
  ArrayNotFoundError,
  JobNotFoundError,
  KernelError,
  FileFormatError,
  InsufficientMemoryError,
  NoAgentsError,
  DataLostError,
  PartitionLostError,
  PartitionNotHeldError,
  MessageTooLargeError,
  ConnectionError,
  PermissionDeniedError,
  ProtocolError,
  TimeoutError,
  CancelledError,
  BusyError,
  InternalError,
  DTYPES,
  BUILTIN_REDUCTIONS,
  NAMED_REDUCTIONS,
} from '@sharc/protocol';
export type { BackingFile } from '@sharc/protocol';
export type { Resident } from './call-options.js';
export type { DType, Shape, TypedArray, TypedArrayOf, BuiltinReduction, BuiltinOp, NamedReduction, BuiltinResult, Histogram, JobStatus, PendingArray, NatsAuthOptions, NatsTlsOptions } from '@sharc/protocol';
