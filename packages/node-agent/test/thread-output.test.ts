/**
 * What worker threads report while a request runs (real threads of a WorkerPool): every line a
 * kernel prints, tagged with the rows of its block and its stream, comes to the request's watch
 * before the request resolves (or rejects); blocks done come as they finish, not only at the
 * end; and output printed while no request runs goes to the agent's log, never raw to stdout.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KernelError, type Logger } from '@sharc/protocol';
import { WorkerPool } from '../src/workers/pool.js';
import type { Block, ThreadOutputLine, WorkerRequest } from '../src/workers/worker-protocol.js';

const KERNEL_MODULE = `
export function loud(block, ctx) {
  console.log('out', ctx.rowStart);
  console.error('err', ctx.rowStart);
  process.stdout.write('unended ' + ctx.rowStart);
  return block.length;
}
export function loudThenThrow(block, ctx) {
  console.warn('about to fail at', ctx.rowStart);
  throw new Error('kernel failed');
}
export function slow(block, ctx) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ctx.params.ms);
  return block.length;
}
export function late() {
  setTimeout(() => console.log('printed after the kernel returned'), 20);
  return 0;
}
`;

describe('worker threads report kernel output and blocks done as a request runs', () => {
  let dir: string;
  let pool: WorkerPool;
  const logged: Array<{ level: string; message: string; fields?: Record<string, unknown> }> = [];
  const logger: Logger = {
    debug: (message, fields) => void logged.push({ level: 'debug', message, ...(fields === undefined ? {} : { fields }) }),
    info: (message, fields) => void logged.push({ level: 'info', message, ...(fields === undefined ? {} : { fields }) }),
    warn: (message, fields) => void logged.push({ level: 'warn', message, ...(fields === undefined ? {} : { fields }) }),
    error: (message, fields) => void logged.push({ level: 'error', message, ...(fields === undefined ? {} : { fields }) }),
  };
  const blocks: Block[] = [0, 10, 20, 30].map((rowStart) => ({ rowStart, rowCount: 10 }));

  const request = (exportName: string, params?: unknown): WorkerRequest => ({
    kind: 'reduce',
    kernel: { kind: 'module', path: path.join(dir, 'kernels.mjs'), exportName, label: `kernels.mjs#${exportName}`, dtypes: ['float64'] },
    input: { buffer: new SharedArrayBuffer(40 * 8), dtype: 'float64', rowStart: 0, cols: 1 },
    blocks,
    shape: [40],
    params,
  });

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-thread-output-'));
    await writeFile(path.join(dir, 'kernels.mjs'), KERNEL_MODULE);
    pool = new WorkerPool({ threads: 2, threadHeapMb: 64, logger });
  });
  after(async () => {
    await pool?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('hands every line to the watch, in order, with its stream and block rows, before the request resolves', async () => {
    const lines: ThreadOutputLine[] = [];
    let blocksDone = 0;
    const result = await pool.run(request('loud'), undefined, { onOutput: (more) => lines.push(...more), onBlocksDone: (n) => (blocksDone += n) });
    assert.deepEqual(result.partials, [10, 10, 10, 10]);
    assert.equal(blocksDone, 4);
    const rows = (rowStart: number) => ({ rowStart, rowEnd: rowStart + 10 });
    // A write without a newline ends its line at the next write that has one (the next block's
    // console.log), or at the request's end, outside any block.
    assert.deepEqual(lines, [
      { stream: 'stdout', text: 'out 0', ...rows(0) },
      { stream: 'stderr', text: 'err 0', ...rows(0) },
      { stream: 'stdout', text: 'unended 0out 10', ...rows(10) },
      { stream: 'stderr', text: 'err 10', ...rows(10) },
      { stream: 'stdout', text: 'unended 10out 20', ...rows(20) },
      { stream: 'stderr', text: 'err 20', ...rows(20) },
      { stream: 'stdout', text: 'unended 20out 30', ...rows(30) },
      { stream: 'stderr', text: 'err 30', ...rows(30) },
      { stream: 'stdout', text: 'unended 30' },
    ]);
  });

  it('hands on what a failing kernel printed before the request rejects', async () => {
    const lines: ThreadOutputLine[] = [];
    await assert.rejects(pool.run(request('loudThenThrow'), undefined, { onOutput: (more) => lines.push(...more) }), KernelError);
    assert.deepEqual(lines, [{ stream: 'stderr', text: 'about to fail at 0', rowStart: 0, rowEnd: 10 }]);
  });

  it('reports blocks done while the request runs, not only when it ends', async () => {
    const reports: number[] = [];
    await pool.run(request('slow', { ms: 150 }), undefined, { onBlocksDone: (n) => reports.push(n) });
    assert.equal(reports.reduce((a, b) => a + b, 0), 4);
    assert.ok(reports.length >= 2, `blocks came in several reports: ${reports.join(', ')}`);
  });

  it('logs output printed while no request ran (a stray timer) instead of writing it raw', async () => {
    await pool.run(request('late'), undefined, {});
    const deadline = Date.now() + 10_000;
    while (!logged.some((l) => l.fields?.text === 'printed after the kernel returned') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    const entry = logged.find((l) => l.fields?.text === 'printed after the kernel returned');
    assert.deepEqual(entry, { level: 'info', message: 'kernel output while no job ran on its thread', fields: { stream: 'stdout', text: 'printed after the kernel returned' } });
  });
});
