import { setMaxListeners } from 'node:events';
import {
  INLINE_REDUCE_BYTES,
  InternalError,
  KernelError,
  checkBuiltinKernel,
  colsOf,
  escapeForTerminal,
  foldOp,
  type BuiltinKernel,
  type DType,
  type KernelOutputLine,
  type PartitionMeta,
  type SharcError,
  type Task,
} from '@sharc/protocol';
import type { KernelCache } from '../kernels/kernel-cache.js';
import type { AgentTally } from '../metrics/agent-tally.js';
import type { PartitionLease, PartitionStore, ResidentPartition, StoredPartition } from '../storage/partition-store.js';
import type { RequestResult, RequestWatch, WorkerPool } from '../workers/pool.js';
import { reduceBuiltinBlocks } from '../workers/reduce-blocks.js';
import type { Block, WorkerKernel } from '../workers/worker-protocol.js';
import { whenJobAborted } from './abort-fanout.js';
import type { DroppedLines } from './job-output.js';
import { blocksOf } from './blocks.js';
import { checkFilesOf, residentViewOf, viewOf } from './partition-views.js';
import { runBuiltinOpTask } from './run-builtin-op.js';

/** Built-in reductions over partitions this small run on the agent's own thread: a worker hop would cost more. */
const INLINE_BYTES = INLINE_REDUCE_BYTES;
export interface TaskContext {
  store: PartitionStore;
  pool: WorkerPool;
  kernels: KernelCache;
  /** Blocks of the partition done, as threads finish them. */
  onBlocksDone: (blocks: number) => void;
  /** Lines the kernel printed over the partition, in order, and lines a thread left out. */
  onOutput?: (lines: KernelOutputLine[], dropped?: DroppedLines) => void;
  signal: AbortSignal;
  /** Counts the task's outcome and blocks (the agent's metrics). */
  tally: AgentTally;
}

export interface TaskOutcome {
  /** The partition's folded partial (reduce only; absent for a partition with no rows). */
  partial?: unknown;
  blocks: number;
}

/**
 * A built-in reduction over a small partition, run right here on the agent's own thread: its
 * outcome at once (no worker hop, nothing to cancel, no abort wiring), or undefined when the
 * task is not such a one (a file-backed partition never is: its rows are read on the worker
 * threads). Throws what runTask would (the partition missing, bad params).
 */
export function runInlineTask(task: Task, store: PartitionStore): TaskOutcome | undefined {
  const kernel = task.kernel;
  if (kernel.kind !== 'builtin' || task.output !== undefined) return undefined;
  const lease = store.acquire(task.arrayId, task.partitionIndex);
  try {
    const partition = lease.partition;
    return partition.kind === 'resident' && partition.meta.byteLength <= INLINE_BYTES ? reduceInline(kernel, partition) : undefined;
  } finally {
    // Read only: the buffer is as clean as before.
    lease.release(true);
  }
}

/** Runs one partition's share of a job on this agent's worker threads, and counts how it ended. */
export async function runTask(task: Task, context: TaskContext): Promise<TaskOutcome> {
  try {
    const outcome = await runTaskUncounted(task, context);
    context.tally.taskSucceeded(outcome.blocks);
    return outcome;
  } catch (error) {
    context.tally.taskFailed(error);
    throw error;
  }
}

async function runTaskUncounted(task: Task, context: TaskContext): Promise<TaskOutcome> {
  const inline = runInlineTask(task, context.store);
  if (inline !== undefined) return inline;
  // Leases keep the buffers from being recycled for another array while threads use them,
  // even if the array is deleted mid-task.
  const input = context.store.acquire(task.arrayId, task.partitionIndex);
  let output: PartitionLease | undefined;
  try {
    if (task.output !== undefined) output = context.store.acquire(task.output.arrayId, task.partitionIndex);
  } catch (error) {
    input.release(true);
    throw error;
  }
  const leases = output === undefined ? [input] : [input, output];
  // The task's own signal: a batch that fails stops its sibling batches at once (their threads
  // are terminated), instead of letting them run on until the coordinator's task.cancel.
  const stop = new AbortController();
  setMaxListeners(0, stop.signal);
  const onJobAbort = () => stop.abort(context.signal.reason);
  let stopListening: (() => void) | undefined;
  if (context.signal.aborted) onJobAbort();
  else stopListening = whenJobAborted(context.signal, onJobAbort);
  let clean = false;
  try {
    const outcome = await runOnPartition(task, input.partition, output?.partition, { ...context, signal: stop.signal });
    clean = true;
    // A map output partition written whole (a map, or a lost one rebuilt) may serve reduces.
    if (output !== undefined) output.partition.ready = true;
    return outcome;
  } catch (error) {
    stop.abort();
    throw error;
  } finally {
    stopListening?.();
    // Not clean: a thread may have been stopped mid-write, so the buffers are never recycled.
    for (const lease of leases) lease.release(clean);
  }
}

async function runOnPartition(
  task: Task,
  input: StoredPartition,
  output: StoredPartition | undefined,
  context: TaskContext,
): Promise<TaskOutcome> {
  const blocks = blocksOf(input);
  const watch = watchOf(task, input.meta, context);
  try {
    // A file-backed partition's file changed since it was registered: the job fails now, naming it.
    await checkFilesOf([input, output], task.with?.file);
    if (task.kernel.kind === 'builtin') return runBuiltinReduce(task.kernel, input, blocks, context, watch);
    if (task.kernel.kind === 'builtin-map' || task.kernel.kind === 'builtin-pair') return await runBuiltinOpTask(task, task.kernel, input, output, blocks, context, watch);
    const kernel = await moduleKernel(task, context, output === undefined ? [input.dtype] : [input.dtype, output.dtype]);
    const base = { kernel, input: viewOf(input), blocks, shape: input.shape, params: task.params };
    if (output === undefined) {
      if (task.kernel.kind !== 'reduce') throw new KernelError('a reduce task needs a reduce kernel');
      if (blocks.length === 0) return { blocks: 0 };
      const combine = task.kernel.combine;
      const results = await context.pool.runShared(blocks.length, (claims) => ({ kind: 'reduce', ...base, claims, combine }), context.signal, watch);
      const partials = inBlockOrder(results, blocks.length);
      if (partials === undefined) return { partial: results.find((r) => r.blockIndexes === undefined)!.partials[0], blocks: blocks.length };
      const folded = await context.pool.run({ kind: 'combine', kernel: { ...kernel, exportName: combine }, partials }, context.signal, watch);
      return { partial: folded.partials[0], blocks: blocks.length };
    }
    const results = await context.pool.runShared(blocks.length, (claims) => ({ kind: 'map', ...base, output: viewOf(output, 'output'), claims }), context.signal, watch);
    inBlockOrder(results, blocks.length);
    return { blocks: blocks.length };
  } catch (error) {
    throw withPartition(error as SharcError, task, input.meta);
  }
}

/** A built-in reduction over a partition of at most INLINE_BYTES, on this thread. */
function reduceInline(builtin: BuiltinKernel, input: ResidentPartition): TaskOutcome {
  // Any client may send a job: its op and params are checked against the array here too.
  checkBuiltinKernel(builtin, input.shape, true);
  const blocks = blocksOf(input);
  // No progress event: the result itself tells the coordinator these blocks are done.
  const partials = reduceBuiltinBlocks(builtin, residentViewOf(input), blocks);
  return { partial: foldOp(builtin, input.dtype, colsOf(input.shape), partials), blocks: blocks.length };
}

async function runBuiltinReduce(builtin: BuiltinKernel, input: StoredPartition, blocks: Block[], context: TaskContext, watch: RequestWatch): Promise<TaskOutcome> {
  if (input.kind === 'resident' && input.meta.byteLength <= INLINE_BYTES) return reduceInline(builtin, input);
  checkBuiltinKernel(builtin, input.shape, true);
  // Threads take the blocks one at a time (as for module kernels): a thread that starts late
  // or runs slow leaves its share to the others instead of holding the partition's end back.
  const kernel: WorkerKernel = { kind: 'builtin', op: builtin.op, params: builtin.params };
  const results = await context.pool.runShared(
    blocks.length,
    (claims) => ({ kind: 'reduce', kernel, input: viewOf(input), blocks, claims, shape: input.shape, params: undefined }),
    context.signal,
    watch,
  );
  // A histogram's partials come one per request: counts add exactly in any order.
  const partials = builtin.op === 'histogram' ? results.flatMap((result) => result.partials) : inBlockOrder(results, blocks.length)!;
  return { partial: foldOp(builtin, input.dtype, colsOf(input.shape), partials), blocks: blocks.length };
}

/**
 * The partials of shared-block requests put back in block order (what the reduce folds, left to
 * right, whichever thread ran each block); or undefined when one request ran every block and
 * folded them itself. (Progress came from the threads as they went: see watchOf.)
 */
function inBlockOrder(results: RequestResult[], blockCount: number): unknown[] | undefined {
  const partials = new Array<unknown>(blockCount);
  let folded = false;
  for (const { partials: values, blockIndexes } of results) {
    if (blockIndexes === undefined) {
      folded = true;
      continue;
    }
    for (let i = 0; i < values.length; i++) partials[blockIndexes[i]!] = values[i];
  }
  return folded ? undefined : partials;
}

/**
 * What the task's worker requests report as they run: blocks done (the job's progress moves
 * block by block, not partition by partition) and the kernel's output, tagged with the
 * partition and with the rows of the block that printed it (the partition's rows for what a
 * kernel prints outside a block: loading its module, combining).
 */
function watchOf(task: Task, partition: PartitionMeta, context: TaskContext): RequestWatch {
  const { onOutput } = context;
  if (onOutput === undefined) return { onBlocksDone: context.onBlocksDone };
  const rowEnd = partition.rowStart + partition.rowCount;
  return {
    onBlocksDone: context.onBlocksDone,
    onOutput: (lines, dropped) =>
      onOutput(
        lines.map((line) => ({
          partition: task.partitionIndex,
          rowStart: line.rowStart ?? partition.rowStart,
          rowEnd: line.rowEnd ?? rowEnd,
          stream: line.stream,
          text: line.text,
        })),
        dropped === 0 ? undefined : { count: dropped, partition: task.partitionIndex, rowStart: partition.rowStart, rowEnd },
      ),
  };
}

async function moduleKernel(task: Task, context: TaskContext, dtypes: DType[]): Promise<Extract<WorkerKernel, { kind: 'module' }>> {
  const kernel = task.kernel;
  if (kernel.kind !== 'reduce' && kernel.kind !== 'map') throw new KernelError('a built-in kernel has no module');
  const path = await context.kernels.pathOf(kernel.hash);
  const exportName = kernel.kind === 'reduce' ? kernel.partial : kernel.kernel;
  return { kind: 'module', path, exportName, label: `${kernel.module}#${exportName}`, dtypes };
}

/**
 * Names the array (as its user knows it), the partition and its rows in a kernel error (and in
 * a worker thread's failure), keeping the kernel's own message and stack.
 */
function withPartition(error: SharcError, task: Task, partition: PartitionMeta): SharcError {
  const threadFailure = error instanceof InternalError && typeof error.details.reason === 'string';
  if (!(error instanceof KernelError) && !threadFailure) return error;
  const ErrorClass = error instanceof KernelError ? KernelError : InternalError;
  const array = task.arrayName === undefined ? task.arrayId : `'${escapeForTerminal(task.arrayName)}'`;
  const rows = partition.rowCount === 0 ? 'no rows' : `rows ${partition.rowStart}..${partition.rowStart + partition.rowCount - 1}`;
  const wrapped = new ErrorClass(`partition ${task.partitionIndex} of array ${array} (${rows}): ${error.message}`, {
    details: { ...error.details, partition: task.partitionIndex, arrayId: task.arrayId, ...(task.arrayName === undefined ? {} : { arrayName: task.arrayName }) },
    retryable: error.retryable,
    ...(error.cause === undefined ? {} : { cause: error.cause }),
  });
  if (error.stack !== undefined) wrapped.stack = error.stack;
  return wrapped;
}
