import { InternalError, REPLY_MARGIN_MS, fromErrorData, subjectFor, type MessageBus, type Task } from '@sharc/protocol';

/** Partitions in one task.batch message: small entries, so a message stays well under a stock nats-server's 1 MiB max_payload. */
export const TASK_BATCH = 4096;

/** What every partition of a job's batch shares: the task without its partition, attempt and second input. */
export type BatchTask = Omit<Task, 'partitionIndex' | 'attempt' | 'with' | 'timeoutMs'>;

interface Waiting {
  index: number;
  attempt: number;
  resolve(result: { blocks: number }): void;
  reject(error: Error): void;
}

interface Batch {
  agentId: string;
  task: BatchTask;
  timeoutMs: number;
  waiting: Waiting[];
}

/**
 * Sends the tasks of a job to its agents in batches: the partitions a job asks of one agent in
 * the same turn of the event loop (a job starts all of its partitions at once) go as one
 * task.batch message per TASK_BATCH partitions, and each partition's promise settles from the
 * one answer. A job of 100,000 partitions on 2 agents then costs 2 × 25 messages instead of
 * 100,000 requests, replies and subscriptions.
 */
export class TaskBatcher {
  private readonly open = new Map<string, Batch>();

  constructor(
    private readonly bus: MessageBus,
    private readonly cluster: string,
  ) {}

  /** Runs one partition's task on `agentId` as part of a batch; resolves with its blocks or rejects with its own error. */
  run(agentId: string, task: BatchTask, index: number, attempt: number, timeoutMs: number): Promise<{ blocks: number }> {
    const key = `${task.jobId} ${agentId}`;
    let batch = this.open.get(key);
    if (batch === undefined) {
      const created: Batch = { agentId, task, timeoutMs, waiting: [] };
      batch = created;
      this.open.set(key, created);
      queueMicrotask(() => {
        this.open.delete(key);
        this.send(created);
      });
    }
    const waiting = batch.waiting;
    return new Promise((resolve, reject) => waiting.push({ index, attempt, resolve, reject }));
  }

  private send(batch: Batch): void {
    for (let start = 0; start < batch.waiting.length; start += TASK_BATCH) void this.sendPart(batch, batch.waiting.slice(start, start + TASK_BATCH));
  }

  private async sendPart(batch: Batch, waiting: Waiting[]): Promise<void> {
    try {
      const reply = await this.bus.call(
        subjectFor(this.cluster, { to: 'agent', agentId: batch.agentId, verb: 'task' }),
        // The agent stops the tasks itself after timeoutMs, should the cancel never reach it.
        { type: 'task.batch', task: { ...batch.task, timeoutMs: batch.timeoutMs }, partitions: waiting.map(({ index, attempt }) => ({ index, attempt })) },
        'task.batchDone',
        // The job's own timer (a TimeoutError naming the job) fires first; this only ends a wait on
        // an agent that never answers.
        { timeoutMs: batch.timeoutMs + REPLY_MARGIN_MS },
      );
      waiting.forEach((entry, i) => {
        const result = reply.results[i];
        if (result === undefined || (result.error === undefined && result.blocks === undefined)) {
          entry.reject(new InternalError(`agent ${batch.agentId} answered a task batch of ${waiting.length} partitions without partition ${entry.index}'s result`));
        } else if (result.error !== undefined) entry.reject(fromErrorData(result.error));
        else entry.resolve({ blocks: result.blocks ?? 0 });
      });
    } catch (error) {
      for (const entry of waiting) entry.reject(error as Error);
    }
  }
}
