import {
  BusyError,
  CancelledError,
  DIRECT_KEEPALIVE_MS,
  InvalidArgumentError,
  PartitionNotHeldError,
  blockCount,
  bytesPerElement,
  colsOf,
  subjectFor,
  toErrorData,
  type DirectCounts,
  type DirectJob,
  type DirectOutcome,
  type Logger,
  type MessageBus,
  type MessageOf,
  type Outgoing,
  type Task,
} from '@sharc/protocol';
import type { KernelCache } from '../kernels/kernel-cache.js';
import type { AgentTally } from '../metrics/agent-tally.js';
import type { PartitionStore } from '../storage/partition-store.js';
import type { WorkerPool } from '../workers/pool.js';
import type { KernelOutputs } from './job-output.js';
import { runInlineTask, runTask, type TaskOutcome } from './run-task.js';

/**
 * Direct batches with work for the worker threads an agent runs at once; one more is refused
 * with a retryable BusyError, and its client runs the job through the coordinator, whose
 * admission queues it. (Batches of small built-ins end within the message's own turn.)
 */
export const MAX_RUNNING_DIRECT_BATCHES = 1024;
/** A running batch's progress goes out at most this often (as a coordinator job's does). */
const PROGRESS_INTERVAL_MS = 200;
/** How often a running batch checks whether it owes its client a keep-alive. */
const KEEPALIVE_CHECK_MS = DIRECT_KEEPALIVE_MS / 2;
/**
 * Partitions run inline in one turn of the event loop at most. A message naming more (small
 * reduces of an array of 100,000 partitions, several coalesced) runs a slice per turn, with
 * keep-alives to its client: run in one turn it held the agent for seconds, past the window
 * in which the client, and the coordinator's liveness check, give the agent up.
 */
export const INLINE_PARTITIONS_PER_TURN = 4096;

export interface DirectBatchDeps {
  bus: MessageBus;
  logger: Logger;
  /** Where kernels' output goes (the job's client and the agent's log). */
  outputs: KernelOutputs;
  cluster: string;
  store: PartitionStore;
  pool: WorkerPool;
  kernels: KernelCache;
  /** The job's abort, which task.cancel fires, and the agent's own deadline for it. */
  joinJob(jobId: string, timeoutMs?: number): { controller: AbortController };
  leaveJob(jobId: string): void;
  /** Whether a task.cancel for the job came already. */
  wasCancelled(jobId: string): boolean;
  /** Counts tasks and blocks (the agent's metrics). */
  tally: AgentTally;
}

type PartitionDone = NonNullable<DirectOutcome['partitions']>[number];

/**
 * Runs the reduces clients send straight to this agent (tasks.run): for each job, every
 * partition of it this agent serves, answered with all their partials in one tasks.done,
 * together with the other jobs of the same message. Only partitions held here and ready
 * (sealed) run; a job naming another fails whole with a retryable PartitionNotHeldError, and
 * its client asks the coordinator instead. The coordinator does not follow this work: it only
 * hears the counts in heartbeats.
 */
export class DirectBatches {
  private batches = 0;
  private partitions = 0;
  private running = 0;

  constructor(private readonly deps: DirectBatchDeps) {}

  /** What heartbeats tell the coordinator. */
  counts(): DirectCounts {
    return { batches: this.batches, partitions: this.partitions, running: this.running };
  }

  /**
   * Every job of the message; built-ins over small partitions at once, the rest on the worker
   * threads. Each job served is logged at debug when it ends (direct reduces never reach the
   * coordinator, whose log tells the other jobs).
   */
  run(message: MessageOf<'tasks.run'>): Outgoing | Promise<Outgoing> {
    const startedAt = Date.now();
    const done = this.serve(message);
    return done instanceof Promise ? done.then((reply) => this.served(message, reply, startedAt)) : this.served(message, done, startedAt);
  }

  /** One debug line per job: cheap (a few fields, no formatting) as this runs thousands of times a second. */
  private served(message: MessageOf<'tasks.run'>, reply: Outgoing, startedAt: number): Outgoing {
    if (reply.type !== 'tasks.done') return reply;
    const durationMs = Date.now() - startedAt;
    const { logger } = this.deps;
    for (let j = 0; j < reply.jobs.length; j++) {
      const outcome = reply.jobs[j]!;
      const job = message.jobs[j];
      logger.debug('direct reduce served', {
        job: outcome.jobId,
        client: message.clientId,
        array: job?.arrayName ?? job?.arrayId,
        partitions: job?.partitions.length,
        durationMs,
        outcome: outcome.error === undefined ? 'ok' : outcome.error.code,
      });
    }
    return reply;
  }

  private serve(message: MessageOf<'tasks.run'>): Outgoing | Promise<Outgoing> {
    if (this.running >= MAX_RUNNING_DIRECT_BATCHES) {
      throw new BusyError(`this agent runs ${this.running} direct batches already: ask the coordinator`, { retryable: true });
    }
    const { jobs, clientId } = message;
    let named = 0;
    for (const job of jobs) named += job.partitions.length;
    if (named > INLINE_PARTITIONS_PER_TURN) return this.runSliced(message);
    const outcomes = new Array<DirectOutcome>(jobs.length);
    let pooled: Array<Promise<void>> | undefined;
    for (let j = 0; j < jobs.length; j++) {
      const job = jobs[j]!;
      try {
        const started = this.start(job);
        if (Array.isArray(started)) {
          outcomes[j] = { jobId: job.jobId, partitions: started };
          continue;
        }
        (pooled ??= []).push(
          this.runPooled(clientId, job, started).then(
            (partitions) => void (outcomes[j] = { jobId: job.jobId, partitions }),
            (error: unknown) => void (outcomes[j] = { jobId: job.jobId, error: toErrorData(error) }),
          ),
        );
      } catch (error) {
        outcomes[j] = { jobId: job.jobId, error: toErrorData(error) };
      }
    }
    if (pooled === undefined) return { type: 'tasks.done', jobs: outcomes };
    return Promise.all(pooled).then(() => ({ type: 'tasks.done', jobs: outcomes }));
  }

  /**
   * A message naming many partitions: its jobs one after the other, INLINE_PARTITIONS_PER_TURN
   * partitions run inline per turn of the event loop, and a keep-alive to the client for each
   * of its jobs at least every DIRECT_KEEPALIVE_MS until the reply. Counts as a running batch meanwhile.
   */
  private async runSliced(message: MessageOf<'tasks.run'>): Promise<Outgoing> {
    const { jobs, clientId } = message;
    const { bus, cluster } = this.deps;
    const outcomes = new Array<DirectOutcome>(jobs.length);
    const pooled: Array<Promise<void>> = [];
    // Every job of the message, done or not: the client hears of none before the one reply.
    const keepAlive = setInterval(() => {
      for (const { jobId } of jobs) {
        bus.publish(subjectFor(cluster, { to: 'job', clientId, jobId }), { type: 'job.progress', jobId, done: 0, total: 0 });
      }
    }, KEEPALIVE_CHECK_MS);
    this.running++;
    try {
      let sinceTurn = 0;
      for (let j = 0; j < jobs.length; j++) {
        const job = jobs[j]!;
        try {
          this.check(job);
          const done = new Array<PartitionDone | undefined>(job.partitions.length);
          let waiting: number[] | undefined;
          for (let i = 0; i < job.partitions.length; i++) {
            if (++sinceTurn >= INLINE_PARTITIONS_PER_TURN) {
              sinceTurn = 0;
              await new Promise((resolve) => setImmediate(resolve));
              if (this.deps.wasCancelled(job.jobId)) throw new CancelledError(`job ${job.jobId} was cancelled`, { details: { jobId: job.jobId } });
            }
            const outcome = this.runInline(taskOf(job, job.partitions[i]!));
            if (outcome === undefined) (waiting ??= []).push(i);
            else done[i] = partitionDone(job.partitions[i]!, outcome);
          }
          if (waiting === undefined) {
            outcomes[j] = { jobId: job.jobId, partitions: done as PartitionDone[] };
            continue;
          }
          pooled.push(
            this.runPooled(clientId, job, { done, pooled: waiting }).then(
              (partitions) => void (outcomes[j] = { jobId: job.jobId, partitions }),
              (error: unknown) => void (outcomes[j] = { jobId: job.jobId, error: toErrorData(error) }),
            ),
          );
        } catch (error) {
          outcomes[j] = { jobId: job.jobId, error: toErrorData(error) };
        }
      }
    } finally {
      clearInterval(keepAlive);
      this.running--;
    }
    await Promise.all(pooled);
    return { type: 'tasks.done', jobs: outcomes };
  }

  /**
   * Checks a job and runs what runs inline: its partials when that was all of it, else the
   * partials so far (undefined where a partition needs the worker threads).
   */
  private start(job: DirectJob): PartitionDone[] | { done: Array<PartitionDone | undefined>; pooled: number[] } {
    this.check(job);
    const { partitions } = job;
    const done = new Array<PartitionDone | undefined>(partitions.length);
    let pooled: number[] | undefined;
    for (let i = 0; i < partitions.length; i++) {
      const outcome = this.runInline(taskOf(job, partitions[i]!));
      if (outcome === undefined) (pooled ??= []).push(i);
      else done[i] = partitionDone(partitions[i]!, outcome);
    }
    return pooled === undefined ? (done as PartitionDone[]) : { done, pooled };
  }

  /** runInlineTask, counted (see AgentTally). */
  private runInline(task: Task): TaskOutcome | undefined {
    try {
      const outcome = runInlineTask(task, this.deps.store);
      if (outcome !== undefined) this.deps.tally.taskSucceeded(outcome.blocks);
      return outcome;
    } catch (error) {
      this.deps.tally.taskFailed(error);
      throw error;
    }
  }

  /** Refuses a job this agent cannot run (another kind of kernel, cancelled, a partition not held here and sealed); counts it otherwise. */
  private check(job: DirectJob): void {
    const { jobId, arrayId, partitions, kernel } = job;
    if (kernel.kind !== 'builtin' && kernel.kind !== 'reduce') {
      throw new InvalidArgumentError(`tasks.run runs reduce kernels (built-in or a module's partial and combine), not ${kernel.kind}`);
    }
    if (this.deps.wasCancelled(jobId)) throw new CancelledError(`job ${jobId} was cancelled`, { details: { jobId } });
    const { store } = this.deps;
    let missing: number[] | undefined;
    for (const index of partitions) if (store.find(arrayId, index)?.ready !== true) (missing ??= []).push(index);
    if (missing !== undefined) {
      throw new PartitionNotHeldError(`this agent holds no sealed partition ${missing.join(', ')} of array ${arrayId}: ask the coordinator`, {
        retryable: true,
        details: { arrayId, partitions: missing },
      });
    }
    this.batches++;
    this.partitions += partitions.length;
  }

  /**
   * The partitions of a job that need the worker threads, all at once (the pool queues their
   * blocks). Progress and keep-alives go to the client meanwhile; one failure stops the rest.
   */
  private async runPooled(clientId: string, job: DirectJob, started: { done: Array<PartitionDone | undefined>; pooled: number[] }): Promise<PartitionDone[]> {
    const { bus, cluster, store, pool, kernels } = this.deps;
    const { jobId, arrayId, partitions } = job;
    const { done, pooled } = started;
    this.running++;
    const onAgent = this.deps.joinJob(jobId, job.timeoutMs);
    const output = this.deps.outputs.forJob(jobId, clientId);
    const subject = subjectFor(cluster, { to: 'job', clientId, jobId });
    let blocksDone = 0;
    for (const entry of done) if (entry !== undefined) blocksDone += entry.blocks;
    let total = blocksDone;
    for (const i of pooled) {
      const partition = store.find(arrayId, partitions[i]!);
      if (partition !== undefined) total += blockCount(partition.meta.rowCount, colsOf(partition.shape) * bytesPerElement(partition.dtype));
    }
    let lastSent = Date.now();
    const send = () => {
      lastSent = Date.now();
      bus.publish(subject, { type: 'job.progress', jobId, done: blocksDone, total });
    };
    const keepAlive = setInterval(() => Date.now() - lastSent >= KEEPALIVE_CHECK_MS && send(), KEEPALIVE_CHECK_MS);
    const onBlocksDone = (blocks: number) => {
      blocksDone += blocks;
      if (Date.now() - lastSent >= PROGRESS_INTERVAL_MS) send();
    };
    try {
      await Promise.all(
        pooled.map(async (i) => {
          const outcome = await runTask(taskOf(job, partitions[i]!), {
            store,
            pool,
            kernels,
            signal: onAgent.controller.signal,
            onBlocksDone,
            onOutput: (lines, dropped) => output.add(lines, dropped),
            tally: this.deps.tally,
          });
          done[i] = partitionDone(partitions[i]!, outcome);
        }),
      );
      return done as PartitionDone[];
    } catch (error) {
      // The job has failed: its other partitions' threads stop now.
      onAgent.controller.abort(error);
      throw error;
    } finally {
      // The lines go before tasks.done: the client has them all when it has the partials.
      output.finish();
      clearInterval(keepAlive);
      this.running--;
      this.deps.leaveJob(jobId);
    }
  }
}

/** One partition's share of a direct job, as the task runner takes it. */
function taskOf(job: DirectJob, partitionIndex: number): Task {
  return {
    jobId: job.jobId,
    // Progress of direct work goes through DirectBatches, never the task's own client field.
    clientId: job.jobId,
    arrayId: job.arrayId,
    ...(job.arrayName === undefined ? {} : { arrayName: job.arrayName }),
    partitionIndex,
    attempt: 0,
    kernel: job.kernel,
    ...(job.params === undefined ? {} : { params: job.params }),
  };
}

function partitionDone(index: number, outcome: TaskOutcome): PartitionDone {
  return 'partial' in outcome ? { index, blocks: outcome.blocks, partial: outcome.partial } : { index, blocks: outcome.blocks };
}
