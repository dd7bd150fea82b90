import { MemoryStateStore, type StateStore } from './state/state-store.js';
import { InvalidArgumentError, MAX_COPIES, checkKeys, createLogger, isSubjectToken, keysOf, type Logger, type SpeakingRight } from '@sharc/protocol';

/** Enough to keep every thread of a mid-sized cluster busy, few enough that each job gets on. */
export const DEFAULT_MAX_RUNNING_JOBS = 64;
export const DEFAULT_MAX_QUEUED_JOBS = 1024;
/** How long a detached job's outcome is kept after it ended: a day. */
export const DEFAULT_KEEP_RESULTS_MS = 24 * 60 * 60 * 1000;

export interface CoordinatorOptions {
  /** Cluster name: the second token of every subject. @default 'default' */
  cluster?: string;
  /**
   * An agent silent for this long is declared dead, and a client silent for this long is
   * gone (its uploads in progress are dropped, its jobs that are not detached cancelled);
   * Infinity turns liveness off. @default 3000
   */
  deadAfterMs?: number;
  /**
   * Copies of each uploaded partition, on distinct agents, unless a put asks otherwise: 2
   * survives the loss of any one agent. File loads and map outputs keep one copy and are
   * rebuilt from their file or their input instead. @default 2
   */
  copies?: number;
  /**
   * Jobs (reduce, map) that run at once; further jobs wait in a FIFO queue and allocate
   * nothing (a map's output) until they start. @default 64
   */
  maxRunningJobs?: number;
  /** Jobs that may wait; a submission beyond them is refused with a retryable BusyError. @default 1024 */
  maxQueuedJobs?: number;
  /**
   * How long the outcome of a detached job (`cluster.submit`, `sharc submit`) is kept after it
   * ended, in the state store: a reduce's value, a map's output name, or its error. Then it is
   * forgotten (`sharc result` says so). @default 24 hours
   */
  keepResultsMs?: number;
  /**
   * Where arrays, placement, kernels and running jobs are kept. A JetStream store
   * (`KvStateStore.open`) lets a coordinator killed outright be started again and resume
   * everything. @default in memory: a restart forgets every array
   */
  state?: StateStore;
  /**
   * The lease that makes this coordinator the cluster's active one (a LeaderLease): while it
   * is not held nothing is answered; a message that arrives during a lapse waits (up to 5 s) for the lease to be proven again, and is dropped if it is not. @default always held
   */
  lease?: CoordinatorLease;
  /** @default a JSON-lines logger on stderr */
  logger?: Logger;
}

/** What the coordinator asks of its LeaderLease: the right to speak on the bus. */
export type CoordinatorLease = SpeakingRight;

const ALWAYS_HELD: CoordinatorLease = { held: true, whenHeld: () => Promise.resolve(true) };

export type ResolvedCoordinatorOptions = Required<CoordinatorOptions>;

const COORDINATOR_OPTION_KEYS = keysOf<CoordinatorOptions>()([
  'cluster',
  'deadAfterMs',
  'copies',
  'maxRunningJobs',
  'maxQueuedJobs',
  'keepResultsMs',
  'state',
  'lease',
  'logger',
]);

export function resolveCoordinatorOptions(options: CoordinatorOptions = {}): ResolvedCoordinatorOptions {
  checkKeys(options, { of: 'Coordinator.start', keys: COORDINATOR_OPTION_KEYS });
  const cluster = options.cluster ?? 'default';
  if (!isSubjectToken(cluster)) throw new InvalidArgumentError(`cluster ${JSON.stringify(cluster)} may only hold letters, digits, '-' and '_'`);
  const deadAfterMs = options.deadAfterMs ?? 3000;
  if (!(deadAfterMs > 0)) throw new InvalidArgumentError(`deadAfterMs must be positive, got ${deadAfterMs}`);
  const copies = options.copies ?? 2;
  if (!(Number.isInteger(copies) && copies >= 1 && copies <= MAX_COPIES)) {
    throw new InvalidArgumentError(`copies must be an integer from 1 to ${MAX_COPIES}, got ${copies}`);
  }
  const maxRunningJobs = options.maxRunningJobs ?? DEFAULT_MAX_RUNNING_JOBS;
  if (!(Number.isInteger(maxRunningJobs) && maxRunningJobs >= 1)) {
    throw new InvalidArgumentError(`maxRunningJobs must be a positive integer, got ${maxRunningJobs}`);
  }
  const maxQueuedJobs = options.maxQueuedJobs ?? DEFAULT_MAX_QUEUED_JOBS;
  if (!(Number.isInteger(maxQueuedJobs) && maxQueuedJobs >= 0)) {
    throw new InvalidArgumentError(`maxQueuedJobs must be an integer of 0 or more, got ${maxQueuedJobs}`);
  }
  const keepResultsMs = options.keepResultsMs ?? DEFAULT_KEEP_RESULTS_MS;
  if (!(Number.isSafeInteger(keepResultsMs) && keepResultsMs >= 1)) {
    throw new InvalidArgumentError(`keepResultsMs must be a whole number of milliseconds of 1 or more, got ${keepResultsMs}`);
  }
  return {
    cluster,
    keepResultsMs,
    deadAfterMs,
    copies,
    maxRunningJobs,
    maxQueuedJobs,
    state: options.state ?? new MemoryStateStore(),
    lease: options.lease ?? ALWAYS_HELD,
    logger: options.logger ?? createLogger('coordinator'),
  };
}
