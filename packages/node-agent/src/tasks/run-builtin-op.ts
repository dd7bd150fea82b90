import { parseBuiltinMapParams, type KernelRef, type Task } from '@sharc/protocol';
import type { StoredPartition } from '../storage/partition-store.js';
import { runBuiltinOpRequest } from '../workers/ops/op-request.js';
import type { Block, BuiltinOpRequest } from '../workers/worker-protocol.js';
import { batchesOf } from './blocks.js';
import { otherRows, type OtherRows } from './other-rows.js';
import { isResident, viewOf } from './partition-views.js';
import { copySlice } from './slice-copy.js';
import type { RequestWatch } from '../workers/pool.js';
import type { TaskContext, TaskOutcome } from './run-task.js';

/** Partitions this small run on the agent's own thread: a worker hop would cost more (as run-task's INLINE_BYTES). */
const INLINE_BYTES = 256 * 1024;

type BuiltinOpKernel = Extract<KernelRef, { kind: 'builtin-map' | 'builtin-pair' }>;

/**
 * One partition's share of a built-in map (into `output`) or of `dot` (its partial: the sum of
 * its blocks' partials, left to right). The second array's rows, when there is one, are brought
 * here first (other-rows.ts).
 */
export async function runBuiltinOpTask(
  task: Task,
  kernel: BuiltinOpKernel,
  input: StoredPartition,
  output: StoredPartition | undefined,
  blocks: Block[],
  context: TaskContext,
  watch: RequestWatch,
): Promise<TaskOutcome> {
  if (kernel.kind === 'builtin-map' && kernel.op === 'slice') {
    if (output === undefined) throw new Error('slice needs an output partition');
    await copySlice(input, output, parseBuiltinMapParams('slice', kernel.params));
    return { blocks: blocks.length };
  }
  const params = kernel.kind === 'builtin-map' ? parseBuiltinMapParams(kernel.op, kernel.params) : undefined;
  let other: OtherRows | undefined;
  if (task.with !== undefined) other = await otherRows(task.with, input.meta, context.store, context.signal);
  let clean = false;
  try {
    const request: Omit<BuiltinOpRequest, 'blocks'> = {
      kind: 'builtin-op',
      kernel: { kind: 'builtin-op', op: kernel.op },
      params,
      input: viewOf(input, 'input', false),
      ...(other === undefined ? {} : { other: other.view }),
      ...(output === undefined ? {} : { output: viewOf(output, 'output', false) }),
    };
    let partials: unknown[];
    // File-backed rows are read (and written) on the worker threads only.
    const resident = isResident(input) && isResident(output) && other?.view.file === undefined;
    if (resident && input.meta.byteLength <= INLINE_BYTES) {
      partials = runBuiltinOpRequest({ ...request, blocks });
    } else {
      const results = await Promise.all(
        batchesOf(blocks, context.pool.threads).map(async (batch) => (await context.pool.run({ ...request, blocks: batch }, context.signal, watch)).partials),
      );
      partials = results.flat();
    }
    clean = true;
    if (kernel.kind === 'builtin-pair') return { partial: (partials as number[]).reduce((sum, p) => sum + p, 0), blocks: blocks.length };
    return { blocks: blocks.length };
  } finally {
    other?.release(clean);
  }
}
