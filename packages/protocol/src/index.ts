/**
 * @sharc/protocol: the wire contract shared by the SDK, coordinator and node agents: message
 * types and their validation, the subject scheme, the msgpack codec, typed errors, the bus
 * (NATS or in-process), the TCP data-plane framing, dtypes and the `.npy` format.
 *
 * ```ts
 * const bus = new MessageBus(await connectNats({ servers, name: 'me' }), 'me', createLogger('me'));
 * // The reply's type (nodes.listed) follows from the request's (REPLIES).
 * const reply = await bus.call(subjectFor('default', { to: 'coordinator', verb: 'client' }),
 *   { type: 'nodes.list' }, { timeoutMs: 5000 });
 * ```
 */
export { PROTOCOL_VERSION } from './version.js';
export { DTYPES, isDType, isBigIntDType, parseDType, typedArrayConstructor, bytesPerElement, dtypeOf, viewOf, firstNonBoolIndex } from './dtypes.js';
export type { DType, BigIntDType, DTypeOfArray, TypedArray, TypedArrayByDType, TypedArrayOf, TypedArrayConstructorOf } from './dtypes.js';
export { parseShape, rowsOf, colsOf, elementCount } from './shape.js';
export type { Shape } from './shape.js';
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
  toErrorData,
  fromErrorData,
  MISSING_PARTITION_DETAIL,
  missingPartitionOf,
  fixOf,
  describeFix,
} from './errors.js';
export type { ErrorData, SharcErrorOptions, ErrorFix, FixCall } from './errors.js';
export { subjectFor, isSubjectToken } from './subjects.js';
export { arrayNameProblem, escapeForTerminal, quotedName, escapeControlsInMessage, MAX_ARRAY_NAME_LENGTH } from './array-name.js';
export type { Route, CoordinatorVerb, AgentVerb, BroadcastVerb } from './subjects.js';
export { messageSchema, BUILTIN_REDUCTIONS, MAX_PARTITIONS, MAX_COPIES, REPLIES, isRequestType, MAX_DIRECT_JOBS, MAX_DIRECT_PARTITIONS } from './messages.js';
// The parts saved state is validated with (the coordinator's records reuse them).
export { KERNEL_OUTPUT_LINES_PER_JOB, MAX_KERNEL_OUTPUT_LINE, MAX_KERNEL_OUTPUT_LINES_PER_MESSAGE, cutOutputLine } from './kernel-output.js';
export { arrayMetaSchema, backingFileSchema, fileSourceSchema, kernelRefSchema, jobSpecSchema, mapSpecSchema, reduceSpecSchema, detachedJobSchema, errorDataSchema } from './messages.js';
export { holdersOf } from './placement.js';
export type {
  Message,
  MessageType,
  MessageOf,
  Outgoing,
  ArrayMeta,
  PartitionMeta,
  AgentInfo,
  KernelRef,
  JobSpec,
  ReduceSpec,
  MapSpec,
  Task,
  FileSource,
  BackingFile,
  JobStatus,
  DetachedJob,
  PendingArray,
  BuiltinReduction,
  RequestType,
  ReplyTypeOf,
  ReplyOf,
  Request,
  DirectCounts,
  DirectJob,
  DirectOutcome,
  KernelOutputLine,
} from './messages.js';
export { encodeMessage, decodeMessage, encodeValue, decodeValue, MAX_MESSAGE_DEPTH } from './codec.js';
export { createLogger } from './logger.js';
export { serveHttp, isLoopbackHost } from './http-endpoint.js';
export type { HttpEndpoint, HttpEndpointOptions, HttpRoute } from './http-endpoint.js';
export { keysOf, checkKeys, unknownKeyMessage, nearestName } from './options-check.js';
export type { KnownKeys, ElsewhereKeys } from './options-check.js';
export { environmentValue, dropEmptySharcVariables, misspeltSharcVariables } from './environment.js';
export type { Logger } from './logger.js';
export { MessageBus } from './bus/message-bus.js';
export type { Answer, ServeHandler, ListenHandler, RequestOptions, SpeakingRight } from './bus/message-bus.js';
export type { Transport, RawHandler, ReplyFn, ConnectionChange } from './bus/transport.js';
export { InProcessHub } from './bus/in-process.js';
export { connectNats, natsConnectionOf } from './bus/nats.js';
export type { NatsTransportOptions } from './bus/nats.js';
export { resolveNatsAuth, natsAuthFromEnv, NATS_AUTH_SOURCES, NATS_AUTH_VARIABLES } from './bus/nats-auth.js';
export type { NatsAuthOptions, NatsTlsOptions, NatsAuthMethod, ResolvedNatsAuth } from './bus/nats-auth.js';
export {
  FrameReader,
  encodeFrameHeader,
  parseDataRequest,
  parseDataReply,
  FRAME_LENGTH_BYTES,
  MAX_FRAME_HEADER_BYTES,
} from './data-plane.js';
export type { DataRequest, DataReply, BodySink } from './data-plane.js';
export { tcpDataPlane } from './data-client.js';
export type { DataPlane } from './data-client.js';
export {
  BUILTIN_MAPS,
  BINARY_MAPS,
  ROW_STATISTICS,
  BUILTIN_PAIR_REDUCTIONS,
  isBinaryMap,
  isRowStatistic,
  promoteDTypes,
  binaryResultDType,
  resolveSlice,
  parseBuiltinMapParams,
  builtinMapOutput,
  checkSameShape,
  slicedPartition,
  rowBytesOf,
} from './builtin-maps.js';
export type { BuiltinMap, BinaryMap, RowStatistic, BuiltinPairReduction, BuiltinMapParams, ArrayShapeInfo } from './builtin-maps.js';
export { identityOf, combineBuiltin, finishBuiltin, emptyReductionError } from './reductions.js';
export type { BuiltinPartial, BuiltinResult } from './reductions.js';
export { BUILTIN_OPS, AXIS_OPS, NAMED_REDUCTIONS, MAX_HISTOGRAM_BINS, checkBuiltinKernel, histogramEdges, paramsOf } from './builtin-ops.js';
export type { BuiltinOp, AxisOp, NamedReduction, BuiltinParams, BuiltinKernel } from './builtin-ops.js';
export { opIdentity, combineOp, foldOp, finishOp, emptyOpError, varianceOf, isPlainReduction } from './statistics.js';
export type { OpPartial, ArgPartial, MomentsPartial, Histogram } from './statistics.js';
export type { ColumnPartial } from './column-reductions.js';
export { parseNpyHeader, formatNpyHeader, NPY_MAX_HEADER_BYTES } from './formats/npy.js';
export type { NpyHeader } from './formats/npy.js';
export { inspectFile, readRange, checkFileUnchanged, checkBackingFile, createNpyFile } from './formats/array-file.js';
export type { FileLayout, InspectedFile } from './formats/array-file.js';
export { BLOCK_TARGET_BYTES, INLINE_REDUCE_BYTES, rowsPerBlock, blockCount } from './blocks.js';
export { kernelHash } from './kernel-hash.js';
export { parseByteSize, formatBytes, reservedBytesOf, wasmPagesOf, WASM_PAGE_BYTES, WASM32_MAX_PAGES, MIN_WASM_PARTITION_BYTES } from './sizes.js';
export { CONTROL_TIMEOUT_MS, DATA_READ_IDLE_TIMEOUT_MS, CLIENT_REQUEST_TIMEOUT_MS, CLIENT_HEARTBEAT_MS, DEFAULT_JOB_TIMEOUT_MS, MAX_JOB_TIMEOUT_MS, NATS_OUTAGE_TOLERANCE_MS, REPLY_MARGIN_MS, fileLoadTimeoutMs, DIRECT_KEEPALIVE_MS, DIRECT_SILENCE_MS } from './timeouts.js';
export { assertSerialisable } from './plain-data.js';
export { exportedFunction, kernelFailure, foldPartials } from './kernel-exports.js';
