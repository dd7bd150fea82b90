import { randomBytes } from 'node:crypto';
import {
  CancelledError,
  ConnectionError,
  InternalError,
  TimeoutError,
  CLIENT_REQUEST_TIMEOUT_MS,
  DEFAULT_JOB_TIMEOUT_MS,
  REPLY_MARGIN_MS,
  blockCount,
  bytesPerElement,
  colsOf,
  subjectFor,
  keysOf,
  type ArrayMeta,
  type JobSpec,
  type Message,
  type MessageBus,
} from '@sharc/protocol';
import { whenAborted } from '../abort-listener.js';

/** Options every long-running call accepts. */
export interface JobOptions {
  /** Called as work completes: `done` of `total` units (blocks of rows, or bytes for put and toArray). */
  onProgress?: (done: number, total: number) => void;
  /** Aborting it cancels the work on every agent and rejects with CancelledError. */
  signal?: AbortSignal;
  /** Rejects with TimeoutError (and cancels the work) after this many milliseconds. */
  timeoutMs?: number;
}

/** The keys of JobOptions, which every long call's options hold besides its own. */
export const JOB_OPTION_KEYS = keysOf<JobOptions>()(['onProgress', 'signal', 'timeoutMs']);

export interface JobResult {
  /** Reduce: one partial per non-empty partition, in row order. */
  partials: unknown[];
  /** Map: the output array. */
  array?: ArrayMeta;
}

/**
 * A reduce's partials come straight from the agents and the end of the job from the
 * coordinator. On one nats-server the partials always arrive first; across a NATS cluster they
 * may trail the reply a little, so the client waits this long before calling them lost.
 */
const PARTIALS_GRACE_MS = 5_000;

function attemptKey(partitionIndex: number, attempt: number): string {
  return `${partitionIndex}:${attempt}`;
}

/**
 * Runs jobs for one client. It listens once on `sharc.<cluster>.job.<clientId>.*` and routes
 * each event to its job, so a job costs no subscription round trip.
 */
export class JobRunner {
  private readonly handlers = new Map<string, (event: Message) => void>();
  /** How to fail each job in flight, should its coordinator go away. */
  private readonly failers = new Map<string, (error: Error) => void>();
  private stopListening: Array<() => void> | undefined;

  constructor(
    private readonly bus: MessageBus,
    private readonly cluster: string,
    /** Called when a (new) coordinator starts: what it was told before is gone. */
    private readonly onCoordinatorStarted: () => void = () => undefined,
  ) {}

  close(): void {
    for (const stop of this.stopListening ?? []) stop();
  }

  /** Submits a job and resolves when it is done, with a reduce's partials or a map's output. */
  async run(spec: JobSpec, input: ArrayMeta, options: JobOptions, detached = false): Promise<JobResult> {
    if (options.signal?.aborted) throw new CancelledError('the job was cancelled before it started', { cause: options.signal.reason });
    this.listen();
    const jobId = randomBytes(12).toString('hex');
    const coordinator = subjectFor(this.cluster, { to: 'coordinator', verb: 'client' });
    const rowBytes = colsOf(input.shape) * bytesPerElement(input.dtype);
    const total = input.partitions.reduce((sum, p) => sum + blockCount(p.rowCount, rowBytes), 0);
    const cleanup: Array<() => void> = [() => this.handlers.delete(jobId)];
    try {
      return await new Promise<JobResult>((resolvePromise, rejectPromise) => {
        let settled = false;
        const resolve = (result: JobResult) => {
          settled = true;
          resolvePromise(result);
        };
        const fail = (error: unknown) => {
          settled = true;
          rejectPromise(error);
        };
        // Keyed by partition and attempt: a retried partition's stale attempt (an agent declared
        // dead that finished anyway) may report too; job.done says which attempt counts.
        const partials = new Map<string, { blocks: number; partial: unknown }>();
        let output: JobResult | undefined;
        let accepted: readonly number[] | undefined;
        /** Set once the coordinator says a partition runs again: then only job.done's attempts count. */
        let retried = false;
        let reported = -1;
        const progress = (done: number) => {
          if (done > reported) {
            reported = done;
            options.onProgress?.(done, total);
          }
        };
        /**
         * The partial that counts for every partition, in row order, once all are in: the
         * attempts job.done names; before it, the first attempts, as long as no partition has
         * run again (a retried partition's first attempt may be a cut-off agent's late result).
         */
        const countedPartials = () => {
          const attempts = accepted ?? (retried ? undefined : input.partitions.map(() => 0));
          if (attempts === undefined) return undefined;
          const chosen = input.partitions.map((p) => partials.get(attemptKey(p.index, attempts[p.index] ?? 0)));
          return chosen.every((p) => p !== undefined) ? chosen : undefined;
        };
        // A reduce is complete when the partial that counts for each partition is in (the
        // coordinator's reply may still be on its way); a map when the coordinator has
        // registered its output.
        const settleIfComplete = () => {
          const chosen = spec.kind === 'reduce' ? countedPartials() : output === undefined ? undefined : [];
          if (chosen === undefined) return;
          progress(total);
          resolve({ ...output, partials: chosen.filter((p) => p!.blocks > 0).map((p) => p!.partial) });
        };
        this.handlers.set(jobId, (event) => {
          if (event.type === 'job.progress') progress(event.done);
          else if (event.type === 'job.attempt') retried = true;
          else if (event.type === 'task.done') {
            partials.set(attemptKey(event.partitionIndex, event.attempt), { blocks: event.blocks, partial: event.partial });
            settleIfComplete();
          }
        });
        this.watch(jobId, options, fail, cleanup);
        const timeoutMs = options.timeoutMs ?? DEFAULT_JOB_TIMEOUT_MS;
        progress(0);
        this.bus
          .call(
            coordinator,
            {
              type: 'job.submit',
              jobId,
              spec,
              ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
              // Outlives this client (a map with a named output): its death does not cancel it.
              ...(detached ? { detached: true } : {}),
            },
            'job.done',
            { timeoutMs: timeoutMs + REPLY_MARGIN_MS },
          )
          .then((done) => {
            if (settled) {
              // The caller gave up (cancel, timeout) as the job finished: its output has no owner.
              if (done.array !== undefined) {
                this.bus.request(coordinator, { type: 'array.delete', arrayId: done.array.id }, { timeoutMs: CLIENT_REQUEST_TIMEOUT_MS }).catch(() => undefined);
              }
              return;
            }
            output = { partials: [], ...(done.array === undefined ? {} : { array: done.array }) };
            accepted = done.attempts ?? input.partitions.map(() => 0);
            settleIfComplete();
            if (settled) return;
            const timer = setTimeout(() => {
              const missing = input.partitions.filter((p) => !partials.has(attemptKey(p.index, accepted![p.index] ?? 0))).map((p) => p.index);
              fail(new InternalError(`job ${jobId} finished but the results of partitions ${missing.join(', ')} never arrived`));
            }, PARTIALS_GRACE_MS);
            cleanup.push(() => clearTimeout(timer));
          }, fail);
      });
    } finally {
      for (const stop of cleanup) stop();
    }
  }

  /**
   * Follows work that is not a job of its own but reports like one (a file load): progress
   * events on the client's job subject, and signal / timeout answered with job.cancel. If the
   * work succeeds after the caller gave up, `orphaned` gets its result to clean up.
   */
  async follow<T>(options: JobOptions, work: (jobId: string) => Promise<T>, orphaned: (result: T) => void): Promise<T> {
    this.listen();
    const jobId = randomBytes(12).toString('hex');
    const cleanup: Array<() => void> = [() => this.handlers.delete(jobId)];
    try {
      return await new Promise<T>((resolve, reject) => {
        let gaveUp = false;
        this.handlers.set(jobId, (event) => {
          if (event.type === 'job.progress') options.onProgress?.(event.done, event.total);
        });
        this.watch(jobId, options, (error) => {
          gaveUp = true;
          reject(error);
        }, cleanup);
        work(jobId).then(
          (result) => (gaveUp ? orphaned(result) : resolve(result)),
          (error: unknown) => reject(error),
        );
      });
    } finally {
      for (const stop of cleanup) stop();
    }
  }

  /**
   * Fails the job through `fail` when the caller's signal aborts, its timeout passes (both
   * also tell the coordinator to cancel), or its coordinator goes away.
   */
  private watch(jobId: string, options: JobOptions, fail: (error: Error) => void, cleanup: Array<() => void>): void {
    const cancel = (error: Error) => {
      fail(error);
      this.bus
        .request(subjectFor(this.cluster, { to: 'coordinator', verb: 'client' }), { type: 'job.cancel', jobId }, { timeoutMs: CLIENT_REQUEST_TIMEOUT_MS })
        .catch(() => undefined);
    };
    this.failers.set(jobId, fail);
    cleanup.push(() => this.failers.delete(jobId));
    const { signal, timeoutMs } = options;
    if (signal !== undefined) {
      cleanup.push(whenAborted(signal, () => cancel(new CancelledError(`job ${jobId} was cancelled`, { cause: signal.reason }))));
    }
    if (timeoutMs !== undefined) {
      const timer = setTimeout(() => cancel(new TimeoutError(`job ${jobId} did not finish within ${timeoutMs} ms`)), timeoutMs);
      cleanup.push(() => clearTimeout(timer));
    }
  }

  private listen(): void {
    if (this.stopListening !== undefined) return;
    this.stopListening = [
      this.bus.listen(subjectFor(this.cluster, { to: 'jobs of client', clientId: this.bus.sender }), (event) => {
        const jobId = (event as { jobId?: unknown }).jobId;
        if (typeof jobId === 'string') this.handlers.get(jobId)?.(event);
      }),
      // A coordinator that starts resumes the jobs it found stored (it answers their requests);
      // any other job in flight is lost: say so now instead of waiting out its timeout.
      this.bus.listen(subjectFor(this.cluster, { to: 'announcements' }), (event) => {
        if (event.type !== 'coordinator.started') return;
        this.onCoordinatorStarted();
        const resumed = new Set(event.resumedJobs ?? []);
        for (const [jobId, fail] of this.failers) {
          if (resumed.has(jobId)) continue;
          fail(new ConnectionError(`the coordinator restarted and job ${jobId} was lost with it: run it again`, { retryable: true }));
        }
      }),
    ];
  }
}
