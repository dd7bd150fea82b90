import {
  CancelledError,
  ConnectionError,
  InternalError,
  TimeoutError,
  fromErrorData,
  type DetachedJob,
} from '@sharc/protocol';
import { whenAborted } from '../abort-listener.js';
import type { ArrayRef } from '../array-ref.js';
import { checkJobOptions } from '../validate.js';
import type { JobOptions } from './run-job.js';

/** What a wait takes: a detached job's kernel output has no caller to go to (the agents' logs have it). */
const WAIT_OPTION_KEYS = ['onProgress', 'signal', 'timeoutMs'] as const;
export type WaitOptions = Pick<JobOptions, (typeof WAIT_OPTION_KEYS)[number]>;

/** How often a wait asks the coordinator where the job is. */
const POLL_MS = 250;
/**
 * How long a wait rides out a coordinator it cannot reach (it restarts, NATS is away) before
 * it fails with a retryable ConnectionError; the job goes on either way.
 */
const UNREACHABLE_LIMIT_MS = 60_000;

/** A detached job as the coordinator reports it: state, progress, timings, and its outcome once it ended. */
export type JobInfo = DetachedJob;
/** Where a detached job is. */
export type JobState = DetachedJob['state'];

/** What a JobHandle asks of its cluster connection. */
export interface JobHandleOwner {
  /** The job as the coordinator reports it now (job.get); JobNotFoundError when unknown or expired. */
  jobInfo(jobId: string): Promise<DetachedJob>;
  cancel(jobId: string): Promise<void>;
  open(name: string): Promise<ArrayRef>;
}

/**
 * A detached job (`cluster.submit`, `cluster.job(id)`): it runs in the cluster whether or not
 * this client stays, and its outcome is kept by the coordinator (for its `keepResultsMs`), so
 * any client can follow it by `id`. Waiting never stops the job: only `cancel()` does.
 */
export class JobHandle<T = unknown> {
  constructor(
    /** The job's id, as `sharc jobs` shows it and `cluster.job(id)` takes it. */
    readonly id: string,
    readonly kind: 'reduce' | 'map',
    private readonly owner: JobHandleOwner,
  ) {}

  /** Where the job is now: state (queued, running, done, failed, cancelled), blocks done of total, timings, and its error. */
  status(): Promise<JobInfo> {
    return this.owner.jobInfo(this.id);
  }

  /**
   * Waits until the job ended and resolves with its final status (done, failed or cancelled:
   * a failure is in `error`, not thrown). `onProgress` gets blocks done of total as it moves;
   * `signal` and `timeoutMs` end the wait (CancelledError, TimeoutError), never the job.
   */
  async wait(options: WaitOptions = {}): Promise<JobInfo> {
    options = checkJobOptions(options, { of: 'wait', keys: WAIT_OPTION_KEYS }, [
      { keys: ['onLog'], goesIn: "cluster.reduce and cluster.map: a detached job's kernel output is written to the agents' logs" },
    ]);
    const stop = new AbortController();
    const { signal, timeoutMs } = options;
    const stopListening = signal === undefined ? undefined : whenAborted(signal, () => stop.abort(new CancelledError(`stopped waiting for job ${this.id} (it goes on)`, { cause: signal.reason })));
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => stop.abort(new TimeoutError(`job ${this.id} did not end within ${timeoutMs} ms (it goes on: wait again, or cancel it)`)), timeoutMs);
    let reported = -1;
    let unreachableSince: number | undefined;
    try {
      for (;;) {
        stop.signal.throwIfAborted();
        let info: JobInfo | undefined;
        try {
          info = await this.owner.jobInfo(this.id);
          unreachableSince = undefined;
        } catch (error) {
          // The coordinator restarts or NATS is away: the job is kept in its state, ask again.
          if (!isUnreachable(error)) throw error;
          unreachableSince ??= Date.now();
          if (Date.now() - unreachableSince > UNREACHABLE_LIMIT_MS) {
            throw new ConnectionError(`the coordinator has not answered about job ${this.id} for ${UNREACHABLE_LIMIT_MS} ms: it goes on; wait for it again later`, { retryable: true, cause: error });
          }
        }
        if (info !== undefined) {
          if (info.doneBlocks > reported && info.totalBlocks > 0) {
            reported = info.doneBlocks;
            options.onProgress?.(info.doneBlocks, info.totalBlocks);
          }
          if (info.state === 'done' || info.state === 'failed' || info.state === 'cancelled') return info;
        }
        await pause(POLL_MS, stop.signal);
      }
    } finally {
      clearTimeout(timer);
      stopListening?.();
    }
  }

  /**
   * Waits for the end and gives the job's outcome: a reduce's value (as `cluster.reduce` gives
   * it), a map's output array. A job that failed or was cancelled rejects with its error.
   */
  async result(options: WaitOptions = {}): Promise<T> {
    const info = await this.wait(options);
    return (await this.outcomeOf(info)) as T;
  }

  /** Stops the job on every agent (a map frees its output); its outcome is kept as cancelled. */
  cancel(): Promise<void> {
    return this.owner.cancel(this.id);
  }

  private async outcomeOf(info: JobInfo): Promise<unknown> {
    if (info.state !== 'done') {
      if (info.error !== undefined) throw fromErrorData(info.error);
      throw new InternalError(`job ${this.id} ended ${info.state} without an error`);
    }
    if (info.kind === 'reduce') return info.value;
    if (info.output === undefined) throw new InternalError(`map job ${this.id} ended without an output array`);
    return this.owner.open(info.output);
  }
}

function isUnreachable(error: unknown): boolean {
  return (error instanceof ConnectionError || error instanceof TimeoutError) && error.retryable;
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
