import { toErrorData, type ErrorData, type MessageOf } from '@sharc/protocol';
import { runTask, type TaskContext } from './run-task.js';

/** Progress of a batch goes out at most this often, in one message for every partition that progressed. */
const BATCH_PROGRESS_INTERVAL_MS = 200;
/** Tasks started in one turn of the event loop. */
const START_SLICE = 256;
/** Partials in one task.partials message (4,096: about 200 KiB, under a stock nats-server's 1 MiB max_payload). */
export const PARTIALS_PER_MESSAGE = 4096;

export interface BatchContext extends Omit<TaskContext, 'onBlocksDone'> {
  /** The tasks this agent runs, as its heartbeats list them. */
  running: Set<{ jobId: string; partitionIndex: number; attempt: number }>;
  publishProgress(progress: Array<{ index: number; attempt: number; blocks: number }>): void;
}

export interface BatchOutcome {
  /** One per partition, in the order asked. */
  results: Array<{ blocks: number } | { error: ErrorData }>;
  /** A reduce's partials of the partitions that succeeded. */
  partials: Array<{ index: number; attempt: number; blocks: number; partial?: unknown }>;
}

/**
 * Runs every partition of a task.batch as a task of its own (runTask, all at once, as
 * separate task.run messages would), and gathers their results. Every partition stays listed
 * in the heartbeats until the batch answers: one finished early has not been heard of yet,
 * and a coordinator that no longer saw it listed would run it again.
 */
export async function runBatch(message: MessageOf<'task.batch'>, context: BatchContext): Promise<BatchOutcome> {
  const { task, partitions } = message;
  const running = partitions.map(({ index, attempt }) => ({ jobId: task.jobId, partitionIndex: index, attempt }));
  for (const entry of running) context.running.add(entry);
  const unreported = new Map<number, number>();
  let lastReport = Date.now();
  const flushProgress = () => {
    lastReport = Date.now();
    if (unreported.size === 0) return;
    context.publishProgress([...unreported].map(([i, blocks]) => ({ index: partitions[i]!.index, attempt: partitions[i]!.attempt, blocks })));
    unreported.clear();
  };
  try {
    const started: Array<Promise<Awaited<ReturnType<typeof runTask>>>> = [];
    const start = ({ index, attempt }: { index: number; attempt: number }, i: number) =>
        runTask(
          { ...task, partitionIndex: index, attempt },
          {
            store: context.store,
            pool: context.pool,
            kernels: context.kernels,
            signal: context.signal,
            tally: context.tally,
            ...(context.onOutput === undefined ? {} : { onOutput: context.onOutput }),
            onBlocksDone: (blocks) => {
              unreported.set(i, (unreported.get(i) ?? 0) + blocks);
              if (Date.now() - lastReport >= BATCH_PROGRESS_INTERVAL_MS) flushProgress();
            },
          },
        );
    // Small partitions run on this thread, inline: started a slice at a time, with a turn of
    // the event loop between slices, so heartbeats and other messages are not held up.
    for (let first = 0; first < partitions.length; first += START_SLICE) {
      if (first > 0) await new Promise((resolve) => setImmediate(resolve));
      for (let i = first; i < Math.min(partitions.length, first + START_SLICE); i++) {
        const task = start(partitions[i]!, i);
        task.catch(() => undefined);
        started.push(task);
      }
    }
    const settled = await Promise.allSettled(started);
    const outcome: BatchOutcome = { results: [], partials: [] };
    settled.forEach((result, i) => {
      const { index, attempt } = partitions[i]!;
      if (result.status === 'rejected') {
        outcome.results.push({ error: toErrorData(result.reason) });
        return;
      }
      outcome.results.push({ blocks: result.value.blocks });
      outcome.partials.push({ index, attempt, blocks: result.value.blocks, ...('partial' in result.value ? { partial: result.value.partial } : {}) });
    });
    return outcome;
  } finally {
    for (const entry of running) context.running.delete(entry);
  }
}
