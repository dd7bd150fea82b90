/**
 * The worker-thread entry: runs kernels over blocks of rows of a partition that lives in a
 * SharedArrayBuffer shared with the agent and every other worker. Kernel failures come back as
 * data (with the kernel's message and stack), never as a crash of the thread.
 */
import { pathToFileURL } from 'node:url';
import { FileFormatError, KernelError, assertSerialisable, colsOf, exportedFunction, foldOp, foldPartials, kernelFailure, toErrorData } from '@sharc/protocol/core';
import { detachedFromWindow, openBlocks, type BlockSource } from './file-blocks.js';
import { runBuiltinOpRequest } from './ops/op-request.js';
import { builtinBlockReducer } from './reduce-blocks.js';
import { threadOutput } from './thread-output.js';
import type { Block, BlockClaims, MapBlocksRequest, ReduceBlocksRequest, WorkerKernel, WorkerReply, WorkerRequest } from './worker-protocol.js';

process.setSourceMapsEnabled(true);
threadOutput.install();

const modules = new Map<string, Promise<Record<string, unknown>>>();

/**
 * The kernel's export from this thread's copy of its module for the kernel's view dtypes. The
 * copies are distinct module instances (the URL's query names the dtypes), so V8 compiles and
 * profiles each apart: a kernel run over float64 in one job and int32 in the next keeps two
 * monomorphic copies instead of one polymorphic one.
 */
async function loadExport(kernel: Extract<WorkerKernel, { kind: 'module' }>): Promise<(...args: unknown[]) => unknown> {
  const url = `${pathToFileURL(kernel.path).href}?views=${kernel.dtypes.join(',')}`;
  let loading = modules.get(url);
  if (loading === undefined) {
    loading = import(url) as Promise<Record<string, unknown>>;
    modules.set(url, loading);
  }
  let module: Record<string, unknown>;
  try {
    module = await loading;
  } catch (error) {
    modules.delete(url);
    throw new KernelError(`kernel module ${kernel.label} failed to load: ${(error as Error).message}`, { cause: error });
  }
  return exportedFunction(module, kernel.exportName, kernel.label.split('#')[0] ?? kernel.label);
}

/**
 * Calls `next(index)` for each block the request runs, in order: all of `blocks`, or, with
 * claims, each block this thread takes before its sibling requests have taken the rest. Returns
 * the indexes of the blocks it ran.
 */
async function forEachBlock(request: ReduceBlocksRequest | MapBlocksRequest, next: (block: Block) => unknown): Promise<number[]> {
  const { blocks, claims } = request;
  const ran: number[] = [];
  for (let index = claimed(claims, 0); index < blocks.length; index = claimed(claims, index + 1)) {
    const block = blocks[index]!;
    threadOutput.block(block);
    try {
      const result = next(block);
      // A kernel that returns a value goes on to the next block at once; only a promise is awaited.
      if (isThenable(result)) await result;
    } catch (error) {
      // A file-backed block that could not be read (the file changed): the file's fault, not the kernel's.
      if (error instanceof FileFormatError) throw error;
      throw Object.assign(kernelFailure(error, request.kernel.kind === 'module' ? request.kernel.label : request.kernel.op, `on rows ${block.rowStart}..${block.rowStart + block.rowCount - 1}`), {
        rowStart: block.rowStart,
      });
    }
    ran.push(index);
    threadOutput.blockDone();
  }
  return ran;
}

/** The index of the block to run next: `following` without claims, else the next one nobody has taken. */
function claimed(claims: BlockClaims | undefined, following: number): number {
  return claims === undefined ? following : Atomics.add(claims, 0, 1);
}

/** The partials left-folded in order with the kernel's combine export. */
async function fold(kernel: Extract<WorkerKernel, { kind: 'module' }>, partials: unknown[]): Promise<unknown> {
  const acc = await foldPartials(partials, await loadExport(kernel), kernel.label);
  assertSerialisable(acc, `result of ${kernel.label}`);
  return acc;
}

function serialisable(partial: unknown, label: string, block: Block): unknown {
  assertSerialisable(partial, `partial returned by ${label} for rows starting at ${block.rowStart}`);
  return detachedFromWindow(partial);
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

async function run(request: WorkerRequest): Promise<{ partials: unknown[]; blockIndexes?: number[] }> {
  switch (request.kind) {
    case 'reduce': {
      const input = openBlocks(request.input, 'input');
      try {
        return await reduce(request, input);
      } finally {
        input.close();
      }
    }
    case 'map': {
      const input = openBlocks(request.input, 'input');
      try {
        const output = openBlocks(request.output, 'output');
        try {
          return await map(request, input, output);
        } finally {
          output.close();
        }
      } finally {
        input.close();
      }
    }
    case 'builtin-op':
      // Block by block, so that the agent hears of each as it is done.
      return { partials: runBuiltinOpRequest(request, () => threadOutput.blockDone()) };
    case 'combine':
      return { partials: [await fold(request.kernel, request.partials)] };
  }
}

async function reduce(request: ReduceBlocksRequest, input: BlockSource): Promise<{ partials: unknown[]; blockIndexes?: number[] }> {
  const { kernel, shape, params } = request;
  const partials: unknown[] = [];
  if (kernel.kind === 'builtin') {
    const reduceBlock = builtinBlockReducer(kernel, input);
    const blockIndexes = await forEachBlock(request, (block) => void partials.push(reduceBlock(block)));
    const ran = request.claims === undefined ? {} : { blockIndexes };
    // Histogram counts add exactly, in any order: one partial per request instead of one
    // bins-long array per block crossing back to the agent.
    if (kernel.op === 'histogram' && partials.length > 1) return { partials: [foldOp(kernel, input.dtype, input.cols, partials)], ...ran };
    return { partials, ...ran };
  }
  const partial = await loadExport(kernel);
  const cols = colsOf(shape);
  const blockIndexes = await forEachBlock(request, (block) => {
    const value = partial(input.rows(block), { rowStart: block.rowStart, rowCount: block.rowCount, cols, shape, params });
    if (!isThenable(value)) return void partials.push(serialisable(value, kernel.label, block));
    return Promise.resolve(value).then((settled) => void partials.push(serialisable(settled, kernel.label, block)));
  });
  // A request that ran every block of its partition folds them: no trip to a thread for the combine.
  if (request.combine === undefined || partials.length === 0 || blockIndexes.length < request.blocks.length) return { partials, blockIndexes };
  const combine = { ...kernel, exportName: request.combine, label: `${kernel.label.split('#')[0] ?? kernel.label}#${request.combine}` };
  return { partials: [await fold(combine, partials)] };
}

async function map(request: MapBlocksRequest, input: BlockSource, output: BlockSource): Promise<{ partials: unknown[]; blockIndexes: number[] }> {
  const { kernel, shape, params } = request;
  const fn = await loadExport(kernel);
  const cols = colsOf(shape);
  const blockIndexes = await forEachBlock(request, (block) => {
    const result = fn(input.rows(block), output.rows(block), { rowStart: block.rowStart, rowCount: block.rowCount, cols, shape, params });
    // A file output's rows go to the file once the kernel is done with them (awaited when it returns a promise).
    if (!isThenable(result)) return output.written(block);
    return Promise.resolve(result).then(() => output.written(block));
  });
  return { partials: [], blockIndexes };
}

export default async function handle(request: WorkerRequest): Promise<WorkerReply> {
  threadOutput.begin(request.watch ?? 0);
  let reply: WorkerReply;
  try {
    reply = { ok: true, ...(await run(request)) };
  } catch (error) {
    const rowStart = (error as { rowStart?: unknown }).rowStart;
    reply = { ok: false, error: toErrorData(error), ...(typeof rowStart === 'number' ? { rowStart } : {}) };
  }
  return { ...reply, ...threadOutput.end() };
}
