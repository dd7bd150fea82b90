import { randomBytes } from 'node:crypto';
import {
  CancelledError,
  ConnectionError,
  DEFAULT_JOB_TIMEOUT_MS,
  DIRECT_SILENCE_MS,
  INLINE_REDUCE_BYTES,
  MAX_DIRECT_PARTITIONS,
  InternalError,
  PermissionDeniedError,
  REPLY_MARGIN_MS,
  SharcError,
  TimeoutError,
  blockCount,
  fromErrorData,
  bytesPerElement,
  colsOf,
  holdersOf,
  subjectFor,
  type ArrayMeta,
  type DirectJob,
  type DirectOutcome,
  type JobSpec,
  type Message,
  type MessageBus,
  type ReduceSpec,
} from '@sharc/protocol';
import { whenAborted } from '../abort-listener.js';
import { deliverLog } from './job-log.js';
import type { JobOptions, JobResult, JobRunner } from './run-job.js';

/** An agent that failed a direct try (no responders, silent) is passed over for another holder this long. */
const SUSPECT_MS = 10_000;
/** Placements learnt after a fallback, by array; the oldest is forgotten past this many. */
const PLACEMENTS_KEPT = 1_024;
/** Jobs one tasks.run carries at most (the protocol allows MAX_DIRECT_JOBS). */
const JOBS_PER_MESSAGE = 1024;
/** How often running direct jobs are checked for an agent silent DIRECT_SILENCE_MS. */
const SILENCE_CHECK_MS = 500;
/**
 * An array this small is reduced on one agent holding every partition (copies make that
 * common), not spread over their serving agents: its compute takes microseconds, while each
 * more agent asked costs a message each way and a wake-up of another process.
 */
const ONE_AGENT_BYTES = 1024 * 1024;

type PartitionDone = NonNullable<DirectOutcome['partitions']>[number];

/** One agent's share of a direct job: the request sent, and what was heard of it. */
interface Batch {
  agentId: string;
  subject: string;
  partitions: number[];
  /** When the agent last said anything of it (sent: the request's time). */
  lastHeard: number;
  blocksDone: number;
  answered: boolean;
  /** The agent answers at once (a built-in over partitions of at most INLINE_REDUCE_BYTES). */
  inline: boolean;
}

/** A job's batch waiting to be sent, and where its outcome goes. */
interface PendingJob {
  job: DirectJob;
  answer(outcome: DirectOutcome): void;
  refuse(error: unknown): void;
}

/** A direct job in flight, as the silence check and the progress events see it. */
interface RunningJob {
  batches: Batch[];
  /** Gives the job up and runs it through the coordinator (the agent was silent too long). */
  fallBack(agentId: string): void;
  heard(event: Message): void;
}

/**
 * Runs reduces straight on the agents that hold their partitions: client → agent(s) → client,
 * one tasks.run per agent holding some of them, answered by one tasks.done with all their
 * partials; the coordinator is not on the way. Every other job, and every reduce the direct
 * way cannot answer right, goes through the JobRunner (job.submit: attempts, fencing,
 * recovery, admission):
 * - an agent lacks a partition (it moved after recovery, the array is deleted or not sealed),
 *   no agent listens, an agent is silent for DIRECT_SILENCE_MS, or any retryable error: the
 *   job runs through the coordinator under a fresh job id, and the array's placement is asked
 *   again (array.locate) so that the next call goes direct. The abandoned try is cancelled and
 *   its late results, which carry its job id, are dropped: each partition counts once.
 * - a non-retryable error (a kernel's, bad params) fails the call, as through the coordinator.
 * Abort and timeout cancel the batches on the agents asked (task.cancel on their subject).
 */
export class DirectReducer {
  /** Job ids: this client's random prefix and a counter (unique without randomness per job). */
  private readonly idPrefix = `d${randomBytes(8).toString('hex')}`;
  private jobCounter = 0;
  private readonly running = new Map<string, RunningJob>();
  private silenceCheck: NodeJS.Timeout | undefined;
  /** Agents that failed a direct try, until when they are passed over. */
  private readonly suspects = new Map<string, number>();
  /** Placements asked again after a fallback (newer than the caller's ArrayRef), by array id. */
  private readonly placements = new Map<string, ArrayMeta>();
  /** Each agent's direct subject, built once. */
  private readonly subjects = new Map<string, string>();
  /** Batches that answer at once, waiting for the end of this turn to share a message, by agent subject. */
  private readonly outbox = new Map<string, { jobs: PendingJob[]; partitions: number }>();
  private flushScheduled = false;
  /** Cleared when NATS refuses this client's publish on an agent's direct subject: then every job goes through the coordinator. */
  private permitted = true;

  constructor(
    private readonly bus: MessageBus,
    private readonly cluster: string,
    private readonly jobs: JobRunner,
    /** Asks the coordinator where the array's partitions are now (array.locate). */
    private readonly locate: (arrayId: string) => Promise<ArrayMeta>,
    /** false: every job goes through the coordinator. */
    private readonly enabled = true,
  ) {}

  close(): void {
    clearInterval(this.silenceCheck);
    this.silenceCheck = undefined;
  }

  /** Runs a job: a reduce that can go direct goes direct, anything else through the coordinator. */
  run(spec: JobSpec, input: ArrayMeta, options: JobOptions, detached = false): Promise<JobResult> {
    // A file-backed array's partitions are streamed from its file by the threads; the
    // coordinator's path has what that needs (a lost partition re-registered on another agent).
    if (!this.enabled || !this.permitted || !goesDirect(spec) || input.partitions.length === 0 || (input.lostPartitions?.length ?? 0) > 0 || input.file !== undefined) {
      return this.jobs.run(spec, input, options, detached);
    }
    return this.runReduce(spec, input, options);
  }

  private async runReduce(spec: ReduceSpec, input: ArrayMeta, options: JobOptions): Promise<JobResult> {
    if (options.signal?.aborted) throw new CancelledError('the job was cancelled before it started', { cause: options.signal.reason });
    const startedAt = Date.now();
    const rowBytes = colsOf(input.shape) * bytesPerElement(input.dtype);
    let total = 0;
    for (const p of input.partitions) total += blockCount(p.rowCount, rowBytes);
    // Progress only goes up, across the direct try and a fallback (which starts again at 0).
    let reported = -1;
    const onProgress = options.onProgress;
    const progress =
      onProgress === undefined
        ? undefined
        : (done: number) => {
            if (done <= reported) return;
            reported = done;
            onProgress(done, total);
          };
    const batches = this.batchesOf(this.placements.get(input.id) ?? input, spec.kernel.kind === 'builtin', startedAt);
    const result = batches === undefined ? undefined : await this.runDirect(spec, input, batches, options, total, progress);
    if (result !== undefined) return result;
    // The direct way could not answer right: through the coordinator, in the time that is left.
    let timeoutMs: number | undefined;
    if (options.timeoutMs !== undefined) {
      timeoutMs = options.timeoutMs - (Date.now() - startedAt);
      if (timeoutMs <= 0) throw new TimeoutError(`the reduce did not finish within ${options.timeoutMs} ms`);
    }
    const done = await this.jobs.run(spec, input, {
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.onLog === undefined ? {} : { onLog: options.onLog }),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      ...(progress === undefined ? {} : { onProgress: progress }),
    });
    this.relocate(input.id);
    return done;
  }

  /**
   * One batch per agent: a small array's partitions all to one agent holding them all, if one
   * does; otherwise each partition to its serving agent, or its first other holder when that
   * one failed lately. Undefined when a partition has no holder left to ask.
   */
  private batchesOf(placement: ArrayMeta, builtin: boolean, now: number): Batch[] | undefined {
    const single = this.holderOfAll(placement, now);
    if (single !== undefined) {
      const batch = this.batch(single, placement.partitions.map((p) => p.index), builtin, now);
      if (builtin) batch.inline = placement.partitions.every((p) => p.byteLength <= INLINE_REDUCE_BYTES);
      return [batch];
    }
    const byAgent = new Map<string, Batch>();
    for (const partition of placement.partitions) {
      let agentId = partition.agentId;
      if (this.suspects.size > 0 && this.isSuspect(agentId, now)) {
        const other = holdersOf(partition).find((id) => !this.isSuspect(id, now));
        if (other === undefined) return undefined;
        agentId = other;
      }
      let batch = byAgent.get(agentId);
      if (batch === undefined) {
        batch = this.batch(agentId, [], builtin, now);
        byAgent.set(agentId, batch);
      }
      batch.partitions.push(partition.index);
      if (partition.byteLength > INLINE_REDUCE_BYTES) batch.inline = false;
    }
    return [...byAgent.values()];
  }

  /** For an array under ONE_AGENT_BYTES: a holder of partition 0 (serving one first) that holds every partition. */
  private holderOfAll(placement: ArrayMeta, now: number): string | undefined {
    const partitions = placement.partitions;
    const first = partitions[0]!;
    if (partitions.length === 1) return this.isSuspect(first.agentId, now) ? undefined : first.agentId;
    let bytes = 0;
    for (const p of partitions) bytes += p.byteLength;
    if (bytes > ONE_AGENT_BYTES) return undefined;
    return holdersOf(first).find((id) => !this.isSuspect(id, now) && partitions.every((p) => p.agentId === id || (p.replicas?.includes(id) ?? false)));
  }

  private batch(agentId: string, partitions: number[], inline: boolean, now: number): Batch {
    let subject = this.subjects.get(agentId);
    if (subject === undefined) {
      subject = subjectFor(this.cluster, { to: 'agent', agentId, verb: 'direct' });
      this.subjects.set(agentId, subject);
    }
    return { agentId, subject, partitions, lastHeard: now, blocksDone: 0, answered: false, inline };
  }

  private isSuspect(agentId: string, now: number): boolean {
    const until = this.suspects.get(agentId);
    if (until === undefined) return false;
    if (until > now) return true;
    this.suspects.delete(agentId);
    return false;
  }

  /**
   * Sends the batches and collects their partials: the job's result, or undefined when it must
   * run through the coordinator instead. Rejects with what fails the call (a kernel error, the
   * caller's abort or timeout).
   */
  private runDirect(
    spec: ReduceSpec,
    input: ArrayMeta,
    batches: Batch[],
    options: JobOptions,
    total: number,
    progress: ((done: number) => void) | undefined,
  ): Promise<JobResult | undefined> {
    const jobId = `${this.idPrefix}${(this.jobCounter++).toString(36)}`;
    const done = new Array<PartitionDone | undefined>(input.partitions.length);
    let outstanding = batches.length;
    return new Promise<JobResult | undefined>((resolve, reject) => {
      let settled = false;
      let stopWatching: (() => void) | undefined;
      let timer: NodeJS.Timeout | undefined;
      const end = () => {
        settled = true;
        this.running.delete(jobId);
        this.jobs.unroute(jobId);
        clearTimeout(timer);
        stopWatching?.();
      };
      /** Tells the agents still at work to stop: their results would be dropped. */
      const cancelRest = () => {
        for (const batch of batches) {
          if (batch.answered) continue;
          try {
            this.bus.publish(batch.subject, { type: 'task.cancel', jobId });
          } catch {
            // The connection is closing: the agent's own deadline stops the batch.
          }
        }
      };
      const fail = (error: Error) => {
        if (settled) return;
        end();
        cancelRest();
        reject(error);
      };
      const fallBack = (agentId: string | undefined, unreachable: boolean) => {
        if (settled) return;
        if (agentId !== undefined && unreachable) this.suspects.set(agentId, Date.now() + SUSPECT_MS);
        end();
        cancelRest();
        resolve(undefined);
      };
      const answered = (batch: Batch, outcome: DirectOutcome) => {
        if (settled) return;
        if (outcome.error !== undefined || outcome.partitions === undefined) {
          refused(batch, outcome.error === undefined ? new InternalError(`tasks.done of job ${jobId} holds neither partials nor an error`) : fromErrorData(outcome.error));
          return;
        }
        batch.answered = true;
        for (const partition of outcome.partitions) {
          const at = indexOf(input, partition.index);
          if (at !== undefined) done[at] = partition;
        }
        if (--outstanding > 0) return;
        const partials: unknown[] = [];
        for (const partition of done) {
          // An agent that left one out (it should not): the coordinator's way finds the truth.
          if (partition === undefined) return fallBack(undefined, false);
          if (partition.blocks > 0) partials.push(partition.partial);
        }
        end();
        progress?.(total);
        resolve({ partials });
      };
      const refused = (batch: Batch, error: unknown) => {
        if (settled) return;
        // NATS lets this client ask only the coordinator (roles written before direct reduces).
        if (error instanceof PermissionDeniedError) {
          this.permitted = false;
          fallBack(undefined, false);
          return;
        }
        if (!(error instanceof SharcError) || !error.retryable) {
          fail(error as Error);
          return;
        }
        // No responders or no reply: the agent is gone or stuck; other refusals (a partition
        // not held, busy) say it lives and the coordinator knows better.
        fallBack(batch.agentId, error instanceof ConnectionError || error instanceof TimeoutError);
      };

      this.running.set(jobId, {
        batches,
        fallBack: (agentId) => fallBack(agentId, true),
        heard: (event) => {
          if (event.type === 'job.log') deliverLog(event, options.onLog);
          if (event.type !== 'job.progress') return;
          const batch = batches.find((b) => b.agentId === event.from);
          if (batch === undefined) return;
          batch.lastHeard = Date.now();
          batch.blocksDone = event.done;
          if (progress !== undefined) progress(batches.reduce((sum, b) => sum + b.blocksDone, 0));
        },
      });
      this.watchSilence();
      this.jobs.route(jobId, (event) => this.running.get(jobId)?.heard(event));
      const { signal, timeoutMs } = options;
      if (signal !== undefined) stopWatching = whenAborted(signal, () => fail(new CancelledError(`job ${jobId} was cancelled`, { cause: signal.reason })));
      if (timeoutMs !== undefined) timer = setTimeout(() => fail(new TimeoutError(`job ${jobId} did not finish within ${timeoutMs} ms`)), timeoutMs);
      progress?.(0);
      for (const batch of batches) {
        const job: DirectJob = {
          jobId,
          arrayId: input.id,
          arrayName: input.name,
          partitions: batch.partitions,
          kernel: spec.kernel,
          ...(spec.params === undefined ? {} : { params: spec.params }),
          ...(timeoutMs === undefined ? {} : { timeoutMs }),
        };
        this.send(batch, { job, answer: (outcome) => answered(batch, outcome), refuse: (error) => refused(batch, error) });
      }
    });
  }

  /**
   * Sends one job's batch to its agent. Batches that answer at once (built-ins over small
   * partitions) wait for the end of this turn, and all those for the same agent go in one
   * tasks.run: a thousand jobs started together cost one message each way per agent.
   */
  private send(batch: Batch, pending: PendingJob): void {
    if (!batch.inline) {
      this.request(batch.subject, [pending]);
      return;
    }
    let queued = this.outbox.get(batch.subject);
    // A message names at most MAX_DIRECT_PARTITIONS partitions over all its jobs (the agent refuses more).
    if (queued !== undefined && queued.partitions + batch.partitions.length > MAX_DIRECT_PARTITIONS) {
      this.outbox.delete(batch.subject);
      this.request(batch.subject, queued.jobs);
      queued = undefined;
    }
    if (queued === undefined) {
      queued = { jobs: [], partitions: 0 };
      this.outbox.set(batch.subject, queued);
    }
    queued.jobs.push(pending);
    queued.partitions += batch.partitions.length;
    if (queued.jobs.length >= JOBS_PER_MESSAGE) {
      this.outbox.delete(batch.subject);
      this.request(batch.subject, queued.jobs);
    } else if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(this.flush);
    }
  }

  private readonly flush = () => {
    this.flushScheduled = false;
    for (const [subject, queued] of this.outbox) this.request(subject, queued.jobs);
    this.outbox.clear();
  };

  /** One tasks.run to one agent; each job hears its own outcome, or the request's failure. */
  private request(subject: string, queued: PendingJob[]): void {
    let timeoutMs = 0;
    for (const { job } of queued) timeoutMs = Math.max(timeoutMs, job.timeoutMs ?? DEFAULT_JOB_TIMEOUT_MS);
    this.bus.request(subject, { type: 'tasks.run', clientId: this.bus.sender, jobs: queued.map((pending) => pending.job) }, { timeoutMs: timeoutMs + REPLY_MARGIN_MS }).then(
      (reply) => {
        if (reply.type !== 'tasks.done' || reply.jobs.length !== queued.length) {
          const error = new InternalError(`expected a tasks.done reply with ${queued.length} jobs to tasks.run, got ${reply.type}`);
          for (const pending of queued) pending.refuse(error);
          return;
        }
        for (let i = 0; i < queued.length; i++) {
          const pending = queued[i]!;
          const outcome = reply.jobs[i]!;
          if (outcome.jobId === pending.job.jobId) pending.answer(outcome);
          else pending.refuse(new InternalError(`tasks.done answered job ${outcome.jobId} where ${pending.job.jobId} was asked`));
        }
      },
      (error: unknown) => {
        for (const pending of queued) pending.refuse(error);
      },
    );
  }

  /** While direct jobs run, checks now and then for an agent silent DIRECT_SILENCE_MS. */
  private watchSilence(): void {
    if (this.silenceCheck !== undefined) return;
    this.silenceCheck = setInterval(() => {
      if (this.running.size === 0) {
        clearInterval(this.silenceCheck);
        this.silenceCheck = undefined;
        return;
      }
      const now = Date.now();
      for (const job of [...this.running.values()]) {
        const silent = job.batches.find((batch) => !batch.answered && now - batch.lastHeard >= DIRECT_SILENCE_MS);
        if (silent !== undefined) job.fallBack(silent.agentId);
      }
    }, SILENCE_CHECK_MS);
    this.silenceCheck.unref();
  }

  /** Asks where the array's partitions are now, so the next call goes direct to the right agents. */
  private relocate(arrayId: string): void {
    this.locate(arrayId).then(
      (meta) => {
        this.placements.delete(arrayId);
        this.placements.set(arrayId, meta);
        if (this.placements.size > PLACEMENTS_KEPT) this.placements.delete(this.placements.keys().next().value!);
      },
      () => undefined,
    );
  }
}

/** A reduce of one array over all its partitions, with a built-in or a module's kernel. */
function goesDirect(spec: JobSpec): spec is ReduceSpec {
  return spec.kind === 'reduce' && spec.with === undefined && spec.partitions === undefined && (spec.kernel.kind === 'builtin' || spec.kernel.kind === 'reduce');
}

/** Where partition `index` is in the array's list (its index, for arrays as the coordinator makes them). */
function indexOf(input: ArrayMeta, index: number): number | undefined {
  if (input.partitions[index]?.index === index) return index;
  const at = input.partitions.findIndex((p) => p.index === index);
  return at < 0 ? undefined : at;
}
