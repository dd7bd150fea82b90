import { BusyError, CancelledError, DEFAULT_JOB_TIMEOUT_MS, TimeoutError } from '@sharc/protocol';
import { whenAborted } from '../abort-listener.js';

/**
 * How many jobs one client has submitted and not yet seen end, by default: the coordinator's
 * default number of running jobs (maxRunningJobs). More from one client would not run sooner,
 * only wait in the coordinator's queue, where they take the places of other clients' jobs and
 * are refused with BusyError once it is full. Measured (tiny reduces, 2 agent processes, one
 * client, Promise.all over 10,000): 16, 64 and 256 in flight give the same throughput within
 * noise, 1,024 less; and each call waits behind fewer others.
 */
export const DEFAULT_MAX_JOBS_IN_FLIGHT = 64;

/** The first wait before a job refused with BusyError is submitted again; doubled at each refusal. */
const BUSY_RETRY_FIRST_MS = 20;
/** The longest wait between two submissions of a refused job. */
const BUSY_RETRY_MAX_MS = 1_000;

/** What a call gives the queue: its signal and timeout, which count from the moment it is made. */
export interface QueuedCallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** Starts the job; `timeoutMs` is what is left of the call's timeout (undefined: it had none). */
export type StartJob<T> = (timeoutMs: number | undefined) => Promise<T>;

/**
 * A call waiting for a slot: a node of the FIFO list, so leaving it (abort, timeout) costs
 * O(1). Kept small (a call without signal or timeout allocates no closure of its own): a
 * client may hold 100,000 of them.
 */
interface Waiting {
  resolve(): void;
  reject(error: Error): void;
  /** Stops listening to the call's signal and timer, when it has them. */
  stopWatching: (() => void) | undefined;
  previous: Waiting | undefined;
  next: Waiting | undefined;
}

/**
 * Every job a client submits (reduce, map, built-in ops, fromFile) goes through here:
 *
 * - at most `maxJobsInFlight` are submitted and not yet ended; the others wait in this client,
 *   first come first served, each as one small record holding its call's closure (its data is
 *   referenced, never copied), and count toward nothing at the coordinator;
 * - a call that waits is taken out of the queue when its signal aborts (CancelledError) or its
 *   timeout passes (TimeoutError): it is never submitted;
 * - with `retryBusy`, a job the coordinator refuses with a retryable BusyError (its admission
 *   is full, with other clients' jobs) is submitted again after an exponential backoff with
 *   jitter, within the call's timeout (or DEFAULT_JOB_TIMEOUT_MS when it has none). It keeps
 *   its slot meanwhile, so retrying never lets later calls of this client overtake it.
 */
export class SubmissionQueue {
  private inFlight = 0;
  private first: Waiting | undefined;
  private last: Waiting | undefined;
  private waitingCount = 0;
  /** Set by close(): every call after it, and every call still waiting, fails with it. */
  private closedWith: Error | undefined;

  constructor(
    private readonly maxJobsInFlight: number,
    private readonly retryBusy: boolean,
  ) {}

  /** Calls waiting for a slot. */
  get waiting(): number {
    return this.waitingCount;
  }

  /** Jobs submitted and not ended (or backing off to be submitted again). */
  get running(): number {
    return this.inFlight;
  }

  /** Runs `start` once a slot is free, again while it is refused as busy; resolves with its result. */
  async run<T>(options: QueuedCallOptions, start: StartJob<T>): Promise<T> {
    if (this.closedWith !== undefined) throw this.closedWith;
    const deadline = options.timeoutMs === undefined ? undefined : Date.now() + options.timeoutMs;
    if (this.inFlight < this.maxJobsInFlight && this.first === undefined) {
      this.inFlight++;
    } else {
      await this.waitForSlot(options, deadline);
    }
    try {
      return await this.submit(options, deadline, start);
    } finally {
      this.release();
    }
  }

  /** Fails every call still waiting with `error` (calls in flight end on their own). */
  close(error: Error): void {
    this.closedWith = error;
    const abandoned: Waiting[] = [];
    for (let waiting = this.first; waiting !== undefined; waiting = waiting.next) abandoned.push(waiting);
    this.first = this.last = undefined;
    this.waitingCount = 0;
    for (const waiting of abandoned) this.admit(waiting);
  }

  /** Resolves once this call holds a slot; rejects (and leaves the queue) on abort, timeout or close. */
  private waitForSlot(options: QueuedCallOptions, deadline: number | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiting: Waiting = { resolve, reject, stopWatching: undefined, previous: this.last, next: undefined };
      const { signal } = options;
      if (signal !== undefined || deadline !== undefined) {
        const leave = (error: Error) => {
          waiting.stopWatching?.();
          this.unlink(waiting);
          reject(error);
        };
        const stopListening =
          signal === undefined
            ? undefined
            : whenAborted(signal, () => leave(new CancelledError("the call was cancelled while it waited in this client's queue: it was never submitted", { cause: signal.reason })));
        const timer =
          deadline === undefined
            ? undefined
            : setTimeout(
                () => leave(new TimeoutError(`the call waited ${options.timeoutMs} ms in this client's queue (${this.maxJobsInFlight} jobs in flight) and was never submitted: raise timeoutMs, or connect's maxJobsInFlight`)),
                deadline - Date.now(),
              );
        waiting.stopWatching = () => {
          stopListening?.();
          clearTimeout(timer);
        };
      }
      if (this.last === undefined) this.first = waiting;
      else this.last.next = waiting;
      this.last = waiting;
      this.waitingCount++;
    });
  }

  /** Hands a waiting call the slot a job in flight freed (or its failure, once closed). */
  private admit(waiting: Waiting): void {
    waiting.stopWatching?.();
    if (this.closedWith !== undefined) return waiting.reject(this.closedWith);
    this.inFlight++;
    waiting.resolve();
  }

  /** Starts the job, and starts it again after a backoff each time it is refused as busy (when retryBusy). */
  private async submit<T>(options: QueuedCallOptions, deadline: number | undefined, start: StartJob<T>): Promise<T> {
    /** Retries stop here: the call's own timeout, or the default job timeout from the first try. */
    const retryUntil = deadline ?? Date.now() + DEFAULT_JOB_TIMEOUT_MS;
    for (let refusals = 0; ; refusals++) {
      const remaining = deadline === undefined ? undefined : deadline - Date.now();
      if (remaining !== undefined && remaining <= 0) {
        throw new TimeoutError(`the call did not start within its timeout of ${options.timeoutMs} ms: it was never submitted`);
      }
      try {
        return await start(remaining);
      } catch (error) {
        if (!(this.retryBusy && error instanceof BusyError && error.retryable)) throw error;
        await this.backOff(refusals, retryUntil, options, error);
      }
    }
  }

  /**
   * Waits before a refused job is submitted again: BUSY_RETRY_FIRST_MS × 2^refusals, at most
   * BUSY_RETRY_MAX_MS, between half and all of it at random (so that clients refused together
   * do not come back together). Rejects with CancelledError on abort, and with TimeoutError,
   * its cause the last refusal, once the time to retry is over.
   */
  private backOff(refusals: number, retryUntil: number, options: QueuedCallOptions, refusal: BusyError): Promise<void> {
    const ceiling = Math.min(BUSY_RETRY_MAX_MS, BUSY_RETRY_FIRST_MS * 2 ** Math.min(refusals, 30));
    const delay = ceiling / 2 + (Math.random() * ceiling) / 2;
    const left = retryUntil - Date.now();
    const { signal } = options;
    return new Promise<void>((resolve, reject) => {
      let stopListening: (() => void) | undefined;
      const timer = setTimeout(() => {
        stopListening?.();
        if (delay < left) return resolve();
        const within = options.timeoutMs === undefined ? `the default job timeout (${DEFAULT_JOB_TIMEOUT_MS} ms)` : `its timeout of ${options.timeoutMs} ms`;
        reject(new TimeoutError(`the coordinator refused the job as busy ${refusals + 1} times, until ${within} was over: ${refusal.message}`, { cause: refusal }));
      }, Math.max(0, Math.min(delay, left)));
      if (signal !== undefined) {
        stopListening = whenAborted(signal, () => {
          clearTimeout(timer);
          reject(new CancelledError('the call was cancelled while it waited to be submitted again (the coordinator was busy)', { cause: signal.reason }));
        });
      }
    });
  }

  /** A job ended: its slot goes to the call waiting longest, if any. */
  private release(): void {
    this.inFlight--;
    const next = this.first;
    if (next === undefined) return;
    this.unlink(next);
    this.admit(next);
  }

  private unlink(waiting: Waiting): void {
    if (waiting.previous === undefined) {
      if (this.first !== waiting) return; // left already
      this.first = waiting.next;
    } else {
      waiting.previous.next = waiting.next;
    }
    if (waiting.next === undefined) this.last = waiting.previous;
    else waiting.next.previous = waiting.previous;
    waiting.previous = waiting.next = undefined;
    this.waitingCount--;
  }
}
