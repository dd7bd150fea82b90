/**
 * Typed errors that survive a hop over NATS or into a worker thread: each has a stable `code`,
 * says whether retrying can help, and flattens to plain data (`toErrorData`) that
 * `fromErrorData` rebuilds as the same class on the other side.
 */

export interface ErrorData {
  name: string;
  code: string;
  message: string;
  retryable: boolean;
  stack?: string | undefined;
  details?: Record<string, unknown> | undefined;
  cause?: ErrorData | undefined;
}

export interface SharcErrorOptions {
  cause?: unknown;
  details?: Record<string, unknown>;
  retryable?: boolean;
  /**
   * What the caller changes for the call to succeed. The message gets the SDK's wording of it
   * (`…: pass { replace: true }`); `details` keep it as data (see `fixOf`), so another front end
   * (the CLI: `use --replace`) words it its own way instead of rewriting the message.
   */
  fix?: ErrorFix;
}

/**
 * A change that makes a failed call succeed, as data: set an option of the call (`replace: true`),
 * or make another call first (`list`: see which arrays exist). `alternative` is a fix in plain
 * words that needs no option ("pick another name"); `note` what the fix costs.
 */
export type ErrorFix = ({ option: string; value: unknown } | { call: FixCall }) & { alternative?: string; note?: string };

/** Calls a fix may point to, and how the SDK says them. */
const SDK_CALLS = {
  list: 'list the stored arrays with cluster.list()',
} as const;
export type FixCall = keyof typeof SDK_CALLS;

/** The problem (the message without its fix) and the fix of an error built with `fix`. */
export function fixOf(error: unknown): { problem: string; fix: ErrorFix } | undefined {
  if (!(error instanceof SharcError)) return undefined;
  const { problem, fix } = error.details;
  if (typeof problem !== 'string' || typeof fix !== 'object' || fix === null) return undefined;
  const { option, call, alternative, note } = fix as Record<string, unknown>;
  if ((alternative !== undefined && typeof alternative !== 'string') || (note !== undefined && typeof note !== 'string')) return undefined;
  const extra = { ...(alternative === undefined ? {} : { alternative }), ...(note === undefined ? {} : { note }) };
  if (typeof option === 'string' && 'value' in fix) return { problem, fix: { option, value: (fix as { value: unknown }).value, ...extra } };
  if (typeof call === 'string' && Object.hasOwn(SDK_CALLS, call)) return { problem, fix: { call: call as FixCall, ...extra } };
  return undefined;
}

/**
 * `fix` in words: `alternative or <how> (note)`, where `how` says the option or call (the SDK's
 * wording unless the caller's front end gives its own, e.g. a CLI flag).
 */
export function describeFix(fix: ErrorFix, how: string = sdkWording(fix)): string {
  const withNote = fix.note === undefined ? how : `${how} (${fix.note})`;
  return fix.alternative === undefined ? withNote : `${fix.alternative} or ${withNote}`;
}

function sdkWording(fix: ErrorFix): string {
  return 'call' in fix ? SDK_CALLS[fix.call] : `pass { ${fix.option}: ${JSON.stringify(fix.value)} }`;
}

export class SharcError extends Error {
  static readonly code: string = 'SHARC_ERROR';
  readonly code: string;
  readonly retryable: boolean;
  readonly details: Record<string, unknown>;

  constructor(message: string, options: SharcErrorOptions = {}) {
    const { fix } = options;
    super(fix === undefined ? message : `${message}: ${describeFix(fix)}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = (new.target as typeof SharcError).code;
    this.retryable = options.retryable ?? false;
    this.details = fix === undefined ? (options.details ?? {}) : { ...options.details, problem: message, fix };
  }
}

/** Bad arguments from the caller: unknown dtype, bad shape, bad options. Fix the call. */
export class InvalidArgumentError extends SharcError {
  static override readonly code: string = 'INVALID_ARGUMENT';
}
/** An array name that is already used; `{ replace: true }` overwrites it. */
export class NameTakenError extends SharcError {
  static override readonly code = 'NAME_TAKEN';
}
/** No array has this name or id. */
export class ArrayNotFoundError extends SharcError {
  static override readonly code = 'ARRAY_NOT_FOUND';
}
/** No running job has this id (it finished, failed, or never existed). */
export class JobNotFoundError extends SharcError {
  static override readonly code = 'JOB_NOT_FOUND';
}
/**
 * A kernel module could not be bundled or loaded, lacks the export, or threw; or it took down
 * the worker thread it ran on (out of memory, process.exit): the thread is replaced.
 */
export class KernelError extends SharcError {
  static override readonly code = 'KERNEL_ERROR';
}
/** A file that is missing, unreadable, truncated or not a valid `.npy`. */
export class FileFormatError extends SharcError {
  static override readonly code = 'FILE_ERROR';
}
/** The cluster has not enough free memory for the request; nothing was allocated. */
export class InsufficientMemoryError extends SharcError {
  static override readonly code = 'INSUFFICIENT_MEMORY';
}
/** No agent is registered, or an agent needed for the request is gone. */
export class NoAgentsError extends SharcError {
  static override readonly code = 'NO_AGENTS';
}
/** Every copy of a partition is gone (its agents died) and it has no source to rebuild it from. */
export class DataLostError extends SharcError {
  static override readonly code: string = 'DATA_LOST';
}
/**
 * A partition is lost for good: every agent that held a copy came back without it (it
 * restarted), and it has no source to rebuild it from (an upload). Never retryable: the array
 * can only be deleted and put again. `details`: `array` (its name), `arrayId`, `partitions`.
 */
export class PartitionLostError extends DataLostError {
  static override readonly code = 'PARTITION_LOST';
}
/**
 * An agent asked to run a reduce straight from a client (tasks.run) does not hold every
 * partition named, sealed: the client's placement is stale (a partition moved after an agent
 * died, the array was deleted or is still being written). Retryable: the client runs the job
 * through the coordinator instead. `details.partitions`: the indexes it lacks; `details.arrayId`.
 */
export class PartitionNotHeldError extends SharcError {
  static override readonly code = 'PARTITION_NOT_HELD';
}
/**
 * A message would exceed the NATS server's max_payload. Retryable when the sender can say the
 * same in smaller messages another way (an agent's direct reply: the client asks the
 * coordinator, whose way sends partials in messages that fit).
 */
export class MessageTooLargeError extends InvalidArgumentError {
  static override readonly code = 'MESSAGE_TOO_LARGE';
}
/** The servers cannot be reached, or the connection was lost. */
export class ConnectionError extends SharcError {
  static override readonly code = 'CONNECTION_ERROR';
}
/**
 * The NATS server refused a publish or a subscription: this process's user may not use that
 * subject (see infra/nats-auth.conf). Retrying cannot help; the credentials or the server's
 * permissions must change.
 */
export class PermissionDeniedError extends SharcError {
  static override readonly code = 'PERMISSION_DENIED';
}
/** A message that could not be decoded or does not follow the protocol. */
export class ProtocolError extends SharcError {
  static override readonly code = 'PROTOCOL_ERROR';
}
/** The operation took longer than its `timeoutMs`. */
export class TimeoutError extends SharcError {
  static override readonly code = 'TIMEOUT';
}
/** The operation was cancelled through its AbortSignal. */
export class CancelledError extends SharcError {
  static override readonly code = 'CANCELLED';
}
/**
 * The coordinator is running as many jobs as it may (`maxRunningJobs`) and its queue of
 * waiting jobs is full (`maxQueuedJobs`): nothing was started. Retry later, with backoff.
 */
export class BusyError extends SharcError {
  static override readonly code = 'BUSY';
}
/** A bug or an unexpected state inside sharc. */
export class InternalError extends SharcError {
  static override readonly code = 'INTERNAL';
}

/** Set in `details` of an ArrayNotFoundError from an agent that lacks a partition placed on it. */
export const MISSING_PARTITION_DETAIL = 'missingOnAgent';

/** The array id of a partition an agent said it lacks, when `error` says that. */
export function missingPartitionOf(error: unknown): string | undefined {
  if (!(error instanceof ArrayNotFoundError) || error.details?.[MISSING_PARTITION_DETAIL] !== true) return undefined;
  const arrayId = error.details.arrayId;
  return typeof arrayId === 'string' ? arrayId : undefined;
}

const ERROR_CLASSES: ReadonlyArray<typeof SharcError> = [
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
];

const CLASS_BY_CODE = new Map(ERROR_CLASSES.map((cls) => [cls.code, cls]));

/** Flattens any thrown value to plain data that crosses NATS or a thread boundary. */
export function toErrorData(error: unknown): ErrorData {
  if (error instanceof SharcError) {
    return {
      name: error.name,
      code: error.code,
      message: error.message,
      retryable: error.retryable,
      stack: error.stack,
      details: error.details,
      cause: error.cause === undefined ? undefined : toErrorData(error.cause),
    };
  }
  if (error instanceof Error) {
    return {
      name: error.name,
      code: InternalError.code,
      message: error.message,
      retryable: false,
      stack: error.stack,
      cause: error.cause === undefined ? undefined : toErrorData(error.cause),
    };
  }
  return { name: 'Error', code: InternalError.code, message: String(error), retryable: false };
}

/** Rebuilds the typed error class named by `data.code` (plain SharcError for unknown codes). */
export function fromErrorData(data: ErrorData): SharcError {
  const cls = CLASS_BY_CODE.get(data.code) ?? SharcError;
  const error = new cls(data.message, {
    retryable: data.retryable,
    details: data.details ?? {},
    cause: data.cause === undefined ? undefined : fromErrorData(data.cause),
  });
  if (data.stack !== undefined) error.stack = data.stack;
  // A code this peer does not know (a newer peer's) is kept, so callers can still branch on it.
  if (cls === SharcError) (error as { code: string }).code = data.code;
  return error;
}
