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
  NATS_OUTAGE_TOLERANCE_MS,
  fromErrorData,
  type ArrayMeta,
  type ConnectionChange,
  type JobSpec,
  type Message,
  type MessageBus,
  type MessageOf,
} from '@sharc/protocol';
import { whenAborted } from '../abort-listener.js';
import { deliverLog, type KernelLogLine } from './job-log.js';

/** Options every long-running call accepts. */
export interface JobOptions {
  /** Called as work completes: `done` of `total` units (blocks of rows, or bytes for put and toArray). */
  onProgress?: (done: number, total: number) => void;
  /** Aborting it cancels the work on every agent and rejects with CancelledError. */
  signal?: AbortSignal;
  /** Rejects with TimeoutError (and cancels the work) after this many milliseconds. */
  timeoutMs?: number;
  /**
   * Called with each line a custom kernel prints (console.log/info/debug: `stdout`,
   * console.error/warn: `stderr`), tagged with the agent, partition and rows it ran.
   * @default each line printed on this process's stderr as `[agent p3 rows 0-1000] text`
   */
  onLog?: (line: KernelLogLine) => void;
}

/** The keys of JobOptions, which every long call's options hold besides its own. */
export const JOB_OPTION_KEYS = keysOf<JobOptions>()(['onProgress', 'signal', 'timeoutMs', 'onLog']);

export interface JobResult {
  /** Reduce: one partial per non-empty partition, in row order. */
  partials: unknown[];
  /** Map: the output array. */
  array?: ArrayMeta;
}

/**
 * A reduce's partials come straight from the agents and the end of the job from the
 * coordinator. On one nats-server the partials always arrive first; across a NATS cluster they
 * may trail the reply a little. Partials still missing this long after the reply were lost on
 * the way (NATS was away): those partitions run again.
 */
const PARTIALS_GRACE_MS = 1_000;
/** Rounds of running again partitions whose partials were lost before the job fails. */
const MAX_PARTIAL_REFETCHES = 3;
/**
 * How often a client asks the coordinator where a job it waits on is (job.sync): NATS core
 * delivers at most once, so the reply to job.submit, a partial or job.attempt may have been
 * lost while NATS was away, and nobody would send it again unasked.
 */
const SYNC_INTERVAL_MS = 2_000;
/** How soon to ask again when the coordinator could not be reached (no responders, no reply). */
const SYNC_RETRY_MS = 500;
/**
 * A job whose coordinator has not answered anything for this long (while this client was
 * connected) fails with a retryable ConnectionError: it may be gone, or cut off from NATS.
 */
const COORDINATOR_SILENCE_LIMIT_MS = 10_000;

function attemptKey(partitionIndex: number, attempt: number): string {
  return `${partitionIndex}:${attempt}`;
}

type Partial = { blocks: number; partial: unknown };

/** What one job (or a re-run of some of its partitions) produced: partials by partition. */
interface JobOutput {
  partials: Map<number, Partial>;
  array?: ArrayMeta;
}

/** A job waiting for its end, as the runner sees it. */
interface PendingJob {
  /** Asks the coordinator where the job is now. */
  sync(): void;
  /** Fails the job (and cancels it, unless it is detached). */
  fail(error: Error): void;
  /** What its caller should do once this client lost track of it. */
  whatNext: string;
}

/**
 * Runs jobs for one client. It listens once on `sharc.<cluster>.job.<clientId>.*` and routes
 * each event to its job, so a job costs no subscription round trip.
 *
 * Nothing a job waits for is trusted to arrive: NATS core delivers at most once, and what was
 * in flight while NATS was away is lost. A job waited on for a while, and every job when the
 * connection comes back, asks the coordinator where it is (job.sync) and gets its end again;
 * one the coordinator never heard of is submitted again under the same id (job.submit is
 * idempotent); partials lost on the way are computed again. A client cut off from NATS for
 * longer than NATS_OUTAGE_TOLERANCE_MS fails its jobs with a retryable ConnectionError.
 */
export class JobRunner {
  private readonly handlers = new Map<string, (event: Message) => void>();
  /** How to fail each job in flight, should its coordinator go away. */
  private readonly failers = new Map<string, (error: Error) => void>();
  /** Jobs submitted and not yet ended. */
  private readonly pending = new Map<string, PendingJob>();
  private stopListening: Array<() => void> | undefined;
  /** Runs out when the connection to NATS has been cut for too long. */
  private outage: NodeJS.Timeout | undefined;
  /** When the connection to NATS was last cut or back. */
  private lastCut = -Infinity;

  constructor(
    private readonly bus: MessageBus,
    private readonly cluster: string,
    /** Called when a (new) coordinator starts: what it was told before is gone. */
    private readonly onCoordinatorStarted: () => void = () => undefined,
  ) {}

  close(): void {
    for (const stop of this.stopListening ?? []) stop();
    clearTimeout(this.outage);
  }

  /**
   * Sends the events of job `jobId` that come on this client's job subject to `handler`, until
   * `unroute`: work that is not a coordinator's job (a reduce sent straight to the agents) uses
   * the one subscription every job shares.
   */
  route(jobId: string, handler: (event: Message) => void): void {
    this.listen();
    this.handlers.set(jobId, handler);
  }

  unroute(jobId: string): void {
    this.handlers.delete(jobId);
  }

  /** Submits a job and resolves when it is done, with a reduce's partials or a map's output. */
  async run(spec: JobSpec, input: ArrayMeta, options: JobOptions, detached = false): Promise<JobResult> {
    const output = await this.runJob(spec, input, options, 0, detached);
    const partials = input.partitions.map((p) => output.partials.get(p.index)).filter((p) => p !== undefined && p.blocks > 0);
    return { partials: partials.map((p) => p!.partial), ...(output.array === undefined ? {} : { array: output.array }) };
  }

  /**
   * Runs one job to its end; `refetches`: how many times partials of this job were run again
   * already; `detached`: the job outlives this client (a map with a named output).
   */
  private async runJob(spec: JobSpec, input: ArrayMeta, options: JobOptions, refetches: number, detached = false): Promise<JobOutput> {
    if (options.signal?.aborted) throw new CancelledError('the job was cancelled before it started', { cause: options.signal.reason });
    this.listen();
    const jobId = randomBytes(12).toString('hex');
    const coordinator = subjectFor(this.cluster, { to: 'coordinator', verb: 'client' });
    const rowBytes = colsOf(input.shape) * bytesPerElement(input.dtype);
    const only = spec.kind === 'reduce' ? spec.partitions : undefined;
    /** The partitions that run: every one, or those a re-run names. */
    const onlySet = only === undefined ? undefined : new Set(only);
    const expected = onlySet === undefined ? input.partitions : input.partitions.filter((p) => onlySet.has(p.index));
    const isExpected = (index: number) => (onlySet === undefined ? index < input.partitions.length : onlySet.has(index));
    const total = expected.reduce((sum, p) => sum + blockCount(p.rowCount, rowBytes), 0);
    const cleanup: Array<() => void> = [() => this.handlers.delete(jobId), () => this.pending.delete(jobId)];
    try {
      return await new Promise<JobOutput>((resolvePromise, rejectPromise) => {
        let settled = false;
        /** Whether the caller got the job's output (else a map's output that turns up is freed). */
        let delivered = false;
        const resolve = (result: JobOutput) => {
          settled = true;
          delivered = true;
          resolvePromise(result);
        };
        const fail = (error: unknown) => {
          settled = true;
          rejectPromise(error);
        };
        // Keyed by partition and attempt: a retried partition's stale attempt (an agent declared
        // dead that finished anyway) may report too; job.done says which attempt counts.
        const partials = new Map<string, Partial>();
        let output: { array?: ArrayMeta } | undefined;
        let accepted: readonly number[] | undefined;
        /**
         * Expected partitions whose counting partial (first attempt before job.done, job.done's
         * attempt after) has not come: kept as partials arrive, so a job of many partitions
         * checks its end in constant time per partial, not by walking every partition.
         */
        let missing = expected.length;
        const addPartial = (index: number, attempt: number, partial: Partial) => {
          const key = attemptKey(index, attempt);
          const isNew = !partials.has(key);
          partials.set(key, partial);
          if (isNew && isExpected(index) && attempt === (accepted?.[index] ?? 0)) missing--;
        };
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
         * The partial that counts for every partition, once all are in: the attempts job.done
         * names; before it, the first attempts, as long as no partition has run again (a
         * retried partition's first attempt may be a cut-off agent's late result).
         */
        const countedPartials = () => {
          if ((accepted === undefined && retried) || missing > 0) return undefined;
          const chosen = new Map<number, Partial>();
          for (const p of expected) {
            const partial = partials.get(attemptKey(p.index, accepted?.[p.index] ?? 0));
            if (partial === undefined) return undefined;
            chosen.set(p.index, partial);
          }
          return chosen;
        };
        // A reduce is complete when the partial that counts for each partition is in (the
        // coordinator's reply may still be on its way); a map when the coordinator has
        // registered its output.
        const settleIfComplete = () => {
          if (settled) return;
          const chosen = spec.kind === 'reduce' ? countedPartials() : output === undefined ? undefined : new Map<number, Partial>();
          if (chosen === undefined) return;
          progress(total);
          resolve({ ...output, partials: chosen });
        };
        /** When the coordinator last answered about this job, and why it could not be reached since. */
        let lastHeard = Date.now();
        let unreachable: Error | undefined;
        const heard = () => {
          lastHeard = Date.now();
          unreachable = undefined;
        };
        this.handlers.set(jobId, (event) => {
          heard();
          if (event.type === 'job.progress') progress(event.done);
          else if (event.type === 'job.log') deliverLog(event, options.onLog);
          else if (event.type === 'job.attempt') retried = true;
          else if (event.type === 'task.partials') {
            for (const p of event.partitions) addPartial(p.index, p.attempt, { blocks: p.blocks, partial: p.partial });
            settleIfComplete();
          } else if (event.type === 'task.done') {
            addPartial(event.partitionIndex, event.attempt, { blocks: event.blocks, partial: event.partial });
            settleIfComplete();
          }
        });
        this.watch(jobId, options, fail, cleanup);
        const timeoutMs = options.timeoutMs ?? DEFAULT_JOB_TIMEOUT_MS;

        /** Partitions whose partials never came run again (as a job of their own), up to MAX_PARTIAL_REFETCHES times. */
        const refetch = async () => {
          if (settled || spec.kind !== 'reduce' || accepted === undefined) return;
          const attempts = accepted;
          const missing = expected.filter((p) => !partials.has(attemptKey(p.index, attempts[p.index] ?? 0))).map((p) => p.index);
          if (missing.length === 0) return;
          if (refetches >= MAX_PARTIAL_REFETCHES) {
            fail(new InternalError(`job ${jobId} finished but the results of partitions ${missing.join(', ')} never arrived`));
            return;
          }
          const stop = new AbortController();
          cleanup.push(() => stop.abort());
          try {
            const again = await this.runJob({ ...spec, partitions: missing }, input, { signal: stop.signal, ...(options.onLog === undefined ? {} : { onLog: options.onLog }) }, refetches + 1);
            for (const [index, partial] of again.partials) addPartial(index, attempts[index] ?? 0, partial);
            settleIfComplete();
          } catch (error) {
            if (!settled) fail(error);
          }
        };
        const onDone = (done: MessageOf<'job.done'>) => {
          heard();
          if (settled) {
            // The caller gave up (cancel, timeout) as the job finished: its output has no owner.
            // A detached job's output is kept: it is found again by its name.
            if (!delivered && !detached && done.array !== undefined && output === undefined) {
              output = { array: done.array };
              this.bus.request(coordinator, { type: 'array.delete', arrayId: done.array.id }, { timeoutMs: CLIENT_REQUEST_TIMEOUT_MS }).catch(() => undefined);
            }
            return;
          }
          if (output !== undefined) return; // heard already (the reply, and a job.sync's answer)
          output = done.array === undefined ? {} : { array: done.array };
          const attempts = done.attempts ?? input.partitions.map(() => 0);
          accepted = attempts;
          // Counted again once against the attempts that count now.
          missing = expected.reduce((n, p) => n + (partials.has(attemptKey(p.index, attempts[p.index] ?? 0)) ? 0 : 1), 0);
          settleIfComplete();
          if (settled) return;
          const timer = setTimeout(() => void refetch(), PARTIALS_GRACE_MS);
          cleanup.push(() => clearTimeout(timer));
        };
        /** The coordinator could not be reached (no responders, no reply in time): ask again soon, give up after a while. */
        const unreachableNow = (error: unknown) => {
          unreachable ??= error as Error;
          if (Date.now() - lastHeard <= COORDINATOR_SILENCE_LIMIT_MS) return schedule(SYNC_RETRY_MS);
          const cause = unreachable;
          giveUp(new ConnectionError(`the coordinator has not answered about job ${jobId} for ${Date.now() - lastHeard} ms (${cause.message}); its outcome is unknown: ${whatNext}`, { retryable: true, cause }));
        };
        const submit = (resent: boolean) => {
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
              { timeoutMs: timeoutMs + REPLY_MARGIN_MS },
            )
            .then(onDone, (error: unknown) => {
              if (settled) return;
              // No coordinator heard it (NATS was away, or is back before the coordinator): job.sync finds out.
              if (isUnreachable(error) && (resent || this.recentlyCut())) return unreachableNow(error);
              fail(error);
            });
        };
        let syncing = false;
        let syncTimer: NodeJS.Timeout | undefined;
        const schedule = (ms: number) => {
          clearTimeout(syncTimer);
          syncTimer = setTimeout(sync, ms);
          syncTimer.unref();
        };
        cleanup.push(() => clearTimeout(syncTimer));
        const sync = () => {
          if (settled || syncing) return;
          syncing = true;
          clearTimeout(syncTimer);
          this.bus
            .request(coordinator, { type: 'job.sync', jobId }, { timeoutMs: SYNC_INTERVAL_MS })
            .then(
              (reply) => {
                heard();
                if (settled) return;
                if (reply.type === 'job.done') return onDone(reply);
                if (reply.type !== 'job.state') throw new InternalError(`expected a job.state reply to job.sync, got ${reply.type}`);
                if (reply.state === 'failed') return fail(reply.error === undefined ? new InternalError(`job ${jobId} failed`) : fromErrorData(reply.error));
                // Never heard of: the submission was lost on the way; job.submit is idempotent.
                if (reply.state === 'unknown') submit(true);
                // Its end came, but partials are missing: the grace timer runs them again.
                schedule(SYNC_INTERVAL_MS);
              },
              (error: unknown) => {
                if (settled) return;
                if (isUnreachable(error)) return unreachableNow(error);
                fail(error);
              },
            )
            .catch((error: unknown) => !settled && fail(error))
            .finally(() => {
              syncing = false;
            });
        };
        const cancel = (error: Error) => {
          fail(error);
          void this.bus
            .request(coordinator, { type: 'job.cancel', jobId }, { timeoutMs: CLIENT_REQUEST_TIMEOUT_MS })
            .catch(() => undefined)
            // A map that ended before the cancel arrived left an output nobody owns: its job.done names it, and onDone frees it.
            .then(() => (spec.kind === 'map' ? this.bus.request(coordinator, { type: 'job.sync', jobId }, { timeoutMs: CLIENT_REQUEST_TIMEOUT_MS }) : undefined))
            .then((reply) => reply?.type === 'job.done' && onDone(reply))
            .catch(() => undefined);
        };
        /**
         * This client cannot learn the job's end: a job of its own is cancelled (nobody would
         * get its result); a detached one goes on in the cluster, as it would had this client died.
         */
        const giveUp = (error: Error) => (detached ? fail(error) : cancel(error));
        const whatNext = detached ? `it was detached, so it goes on: open its output by name (${spec.kind === 'map' ? (spec.outputName ?? '') : ''}) once it is done` : 'run it again';
        this.pending.set(jobId, { sync, fail: giveUp, whatNext });
        progress(0);
        submit(false);
        schedule(SYNC_INTERVAL_MS);
      });
    } finally {
      for (const stop of cleanup) stop();
    }
  }

  /**
   * Follows work that is not a job of its own but reports like one (a file load): progress
   * events on the client's job subject, and signal / timeout answered with job.cancel. If the
   * work succeeds after the caller gave up, `orphaned` gets its result to clean up. The work is
   * sent again when the connection to NATS comes back (its answer may have been lost; the
   * coordinator answers a resent one with the same outcome), and fails with a retryable
   * ConnectionError when it stays away longer than NATS_OUTAGE_TOLERANCE_MS (cancelled then,
   * unless `detached`).
   */
  async follow<T>(options: JobOptions, work: (jobId: string) => Promise<T>, orphaned: (result: T) => void, detached = false): Promise<T> {
    this.listen();
    const jobId = randomBytes(12).toString('hex');
    const cleanup: Array<() => void> = [() => this.handlers.delete(jobId), () => this.pending.delete(jobId)];
    try {
      return await new Promise<T>((resolve, reject) => {
        let gaveUp = false;
        let done = false;
        const fail = (error: unknown) => {
          if (done || gaveUp) return;
          gaveUp = true;
          reject(error);
        };
        this.handlers.set(jobId, (event) => {
          if (event.type === 'job.progress') options.onProgress?.(event.done, event.total);
        });
        this.watch(jobId, options, fail, cleanup);
        const send = (resent: boolean) =>
          work(jobId).then(
            (result) => {
              if (gaveUp) return orphaned(result);
              if (done) return; // the answer to a resent request: the same array
              done = true;
              resolve(result);
            },
            (error: unknown) => {
              if (done || gaveUp) return;
              if (isUnreachable(error) && (resent || this.recentlyCut())) {
                // Lost on the way while NATS was away: sent again once it is back (sync), and
                // again while the coordinator is not back yet, for a while.
                if (!resent) return;
                if (Date.now() - this.lastCut <= COORDINATOR_SILENCE_LIMIT_MS) {
                  const timer = setTimeout(() => void send(true), SYNC_RETRY_MS);
                  cleanup.push(() => clearTimeout(timer));
                  return;
                }
              }
              fail(error);
            },
          );
        const coordinator = subjectFor(this.cluster, { to: 'coordinator', verb: 'client' });
        this.pending.set(jobId, {
          sync: () => void send(true),
          fail: (error) => {
            fail(error);
            if (!detached) this.bus.request(coordinator, { type: 'job.cancel', jobId }, { timeoutMs: CLIENT_REQUEST_TIMEOUT_MS }).catch(() => undefined);
          },
          whatNext: detached ? 'it was detached, so it goes on: open it by name once it is loaded' : 'run it again',
        });
        void send(false);
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

  /**
   * NATS was cut: jobs wait (a short outage costs latency only) for NATS_OUTAGE_TOLERANCE_MS,
   * then fail with a retryable ConnectionError. Back: every job asks where it is, at once.
   */
  private connectionChanged(change: ConnectionChange): void {
    this.lastCut = Date.now();
    if (change === 'reconnected') {
      clearTimeout(this.outage);
      this.outage = undefined;
      for (const job of this.pending.values()) job.sync();
      return;
    }
    if (this.outage !== undefined) return;
    const since = Date.now();
    this.outage = setTimeout(() => {
      this.outage = undefined;
      for (const [jobId, job] of this.pending) {
        job.fail(
          new ConnectionError(
            `the connection to NATS at ${this.bus.transport.address} has been down for ${Date.now() - since} ms: job ${jobId}'s outcome is unknown; ${job.whatNext}`,
            { retryable: true },
          ),
        );
      }
    }, NATS_OUTAGE_TOLERANCE_MS);
    this.outage.unref();
  }

  /**
   * Whether NATS was away lately: a job.submit that no coordinator heard then is asked about
   * and sent again, instead of failing at once as it does when no coordinator runs.
   */
  private recentlyCut(): boolean {
    return this.outage !== undefined || Date.now() - this.lastCut < COORDINATOR_SILENCE_LIMIT_MS;
  }

  private listen(): void {
    if (this.stopListening !== undefined) return;
    this.stopListening = [
      this.bus.onConnectionChange((change) => this.connectionChanged(change)),
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

/** A request that no coordinator answered: nobody listens (no responders) or no reply came in time. */
function isUnreachable(error: unknown): boolean {
  return (error instanceof ConnectionError || error instanceof TimeoutError) && error.retryable;
}
