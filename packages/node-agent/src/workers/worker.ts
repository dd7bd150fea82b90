/**
 * The worker-thread entry: runs kernels over blocks of rows of a partition that lives in a
 * SharedArrayBuffer shared with the agent and every other worker. Kernel failures come back as
 * data (with the kernel's message and stack), never as a crash of the thread.
 */
import { pathToFileURL } from 'node:url';
import { KernelError, assertSerialisable, colsOf, exportedFunction, foldOp, foldPartials, kernelFailure, toErrorData } from '@sharc/protocol/core';
import { blockView } from './block-view.js';
import { runBuiltinOpRequest } from './ops/op-request.js';
import { reduceBuiltinBlocks } from './reduce-blocks.js';
import type { WorkerKernel, WorkerReply, WorkerRequest } from './worker-protocol.js';

process.setSourceMapsEnabled(true);

const modules = new Map<string, Promise<Record<string, unknown>>>();

async function loadExport(kernel: Extract<WorkerKernel, { kind: 'module' }>): Promise<(...args: unknown[]) => unknown> {
  let loading = modules.get(kernel.path);
  if (loading === undefined) {
    loading = import(pathToFileURL(kernel.path).href) as Promise<Record<string, unknown>>;
    modules.set(kernel.path, loading);
  }
  let module: Record<string, unknown>;
  try {
    module = await loading;
  } catch (error) {
    modules.delete(kernel.path);
    throw new KernelError(`kernel module ${kernel.label} failed to load: ${(error as Error).message}`, { cause: error });
  }
  return exportedFunction(module, kernel.exportName, kernel.label.split('#')[0] ?? kernel.label);
}

async function run(request: WorkerRequest): Promise<unknown[]> {
  switch (request.kind) {
    case 'reduce': {
      const { kernel, input, shape, params } = request;
      const partials: unknown[] = [];
      if (kernel.kind === 'builtin') {
        const partials = reduceBuiltinBlocks(kernel, input, request.blocks);
        // Histogram counts add exactly, in any order: one partial per request instead of one
        // bins-long array per block crossing back to the agent.
        if (kernel.op === 'histogram' && partials.length > 1) return [foldOp(kernel, input.dtype, input.cols, partials)];
        return partials;
      }
      const partial = await loadExport(kernel);
      for (const block of request.blocks) {
        const ctx = { rowStart: block.rowStart, rowCount: block.rowCount, cols: colsOf(shape), shape, params };
        let value: unknown;
        try {
          value = await partial(blockView(input, block), ctx);
        } catch (error) {
          throw Object.assign(kernelFailure(error, kernel.label, `on rows ${block.rowStart}..${block.rowStart + block.rowCount - 1}`), {
            rowStart: block.rowStart,
          });
        }
        assertSerialisable(value, `partial returned by ${kernel.label} for rows starting at ${block.rowStart}`);
        partials.push(value);
      }
      return partials;
    }
    case 'map': {
      const { kernel, input, output, shape, params } = request;
      const fn = await loadExport(kernel);
      for (const block of request.blocks) {
        const ctx = { rowStart: block.rowStart, rowCount: block.rowCount, cols: colsOf(shape), shape, params };
        try {
          await fn(blockView(input, block), blockView(output, block), ctx);
        } catch (error) {
          throw Object.assign(kernelFailure(error, kernel.label, `on rows ${block.rowStart}..${block.rowStart + block.rowCount - 1}`), {
            rowStart: block.rowStart,
          });
        }
      }
      return [];
    }
    case 'builtin-op':
      return runBuiltinOpRequest(request);
    case 'combine': {
      const combine = await loadExport(request.kernel);
      const acc = await foldPartials(request.partials, combine, request.kernel.label);
      assertSerialisable(acc, `result of ${request.kernel.label}`);
      return [acc];
    }
  }
}

export default async function handle(request: WorkerRequest): Promise<WorkerReply> {
  try {
    return { ok: true, partials: await run(request) };
  } catch (error) {
    const rowStart = (error as { rowStart?: unknown }).rowStart;
    return { ok: false, error: toErrorData(error), ...(typeof rowStart === 'number' ? { rowStart } : {}) };
  }
}
