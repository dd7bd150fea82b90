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
  type DirectCounts,
  type MessageBus,
  type MessageOf,
  type Outgoing,
  type Task,
} from '@sharc/protocol';
import type { KernelCache } from '../kernels/kernel-cache.js';
import type { PartitionStore } from '../storage/partition-store.js';
import type { WorkerPool } from '../workers/pool.js';
import { runInlineTask, runTask, type TaskOutcome } from './run-task.js';

/**
 * Direct batches with work for the worker threads an agent runs at once; one more is refused
 * with a retryable BusyError, and its client runs the job through the coordinator, whose
 * admission queues it. (Batches of small built-ins end within the message's own turn.)
 */
export const MAX_RUNNING_DIRECT_BATCHES = 1024;
/** A running batch's progress goes out at most this often (as a coordinator job's does). */
const PROGRESS_INTERVAL_MS = 100;
/** How often a running batch checks whether it owes its client a keep-alive. */
const KEEPALIVE_CHECK_MS = DIRECT_KEEPALIVE_MS / 2;

export interface DirectBatchDeps {
  bus: MessageBus;
  cluster: string;
  store: PartitionStore;
  pool: WorkerPool;
  kernels: KernelCache;
  /** The job's abort, which task.cancel fires, and the agent's own deadline for it. */
  joinJob(jobId: string, timeoutMs?: number): { controller: AbortController };
  leaveJob(jobId: string): void;
  /** Whether a task.cancel for the job came already. */
  wasCancelled(jobId: string): boolean;
}

type PartitionDone = MessageOf<'tasks.done'>['partitions'][number];

/**
 * Runs the reduces clients send straight to this agent (tasks.run): every partition of one
 * job this agent serves, in one request, answered with all their partials in one tasks.done.
 * Only partitions held here and ready (sealed) run; a batch naming another is refused whole
 * with a retryable PartitionNotHeldError, and the client asks the coordinator instead. The
 * coordinator does not follow this work: it only hears the counts in heartbeats.
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

  run(message: MessageOf<'tasks.run'>): Outgoing | Promise<Outgoing> {
    const { jobId, arrayId, partitions, kernel } = message;
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
    if (this.running >= MAX_RUNNING_DIRECT_BATCHES) {
      throw new BusyError(`this agent runs ${this.running} direct batches already: ask the coordinator`, { retryable: true });
    }
    this.batches++;
    this.partitions += partitions.length;
    const done = new Array<PartitionDone>(partitions.length);
    let pooled: number[] | undefined;
    for (let i = 0; i < partitions.length; i++) {
      const outcome = runInlineTask(taskOf(message, partitions[i]!), store);
      if (outcome === undefined) (pooled ??= []).push(i);
      else done[i] = partitionDone(partitions[i]!, outcome);
    }
    if (pooled === undefined) return { type: 'tasks.done', jobId, partitions: done };
    return this.runPooled(message, done, pooled);
  }

  /**
   * The partitions of a batch that need the worker threads, all at once (the pool queues their
   * blocks). Progress and keep-alives go to the client meanwhile; one failure stops the rest.
   */
  private async runPooled(message: MessageOf<'tasks.run'>, done: PartitionDone[], pooled: number[]): Promise<Outgoing> {
    const { bus, cluster, store, pool, kernels } = this.deps;
    const { jobId, arrayId, partitions } = message;
    this.running++;
    const job = this.deps.joinJob(jobId, message.timeoutMs);
    const subject = subjectFor(cluster, { to: 'job', clientId: message.clientId, jobId });
    let blocksDone = 0;
    let total = 0;
    for (const entry of done) if (entry !== undefined) blocksDone += entry.blocks;
    total = blocksDone;
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
          const outcome = await runTask(taskOf(message, partitions[i]!), { store, pool, kernels, signal: job.controller.signal, onBlocksDone });
          done[i] = partitionDone(partitions[i]!, outcome);
        }),
      );
      return { type: 'tasks.done', jobId, partitions: done };
    } catch (error) {
      // The batch has failed: its other partitions' threads stop now.
      job.controller.abort(error);
      throw error;
    } finally {
      clearInterval(keepAlive);
      this.running--;
      this.deps.leaveJob(jobId);
    }
  }
}

/** One partition's share of a direct batch, as the task runner takes it. */
function taskOf(message: MessageOf<'tasks.run'>, partitionIndex: number): Task {
  return {
    jobId: message.jobId,
    clientId: message.clientId,
    arrayId: message.arrayId,
    ...(message.arrayName === undefined ? {} : { arrayName: message.arrayName }),
    partitionIndex,
    attempt: 0,
    kernel: message.kernel,
    ...(message.params === undefined ? {} : { params: message.params }),
  };
}

function partitionDone(index: number, outcome: TaskOutcome): PartitionDone {
  return 'partial' in outcome ? { index, blocks: outcome.blocks, partial: outcome.partial } : { index, blocks: outcome.blocks };
}
