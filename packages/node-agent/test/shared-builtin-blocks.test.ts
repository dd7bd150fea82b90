/**
 * Built-in reductions whose blocks the pool's threads claim one at a time (as run-task.ts runs a
 * partition bigger than it reduces inline): the partials, put back in block order by the index
 * each request reports and folded left to right, equal bit for bit the fold of the same blocks
 * reduced one after another on this thread, for every op family (plain reductions, argmin/argmax,
 * var/std, norm, histogram, axis 0) in WebAssembly and in the JS loops.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLogger, finishOp, foldOp, type BuiltinKernel, type OpPartial } from '@sharc/protocol';
import { createSharedMemory } from '../src/wasm/wasm-api.js';
import { WASM_PAGE_BYTES } from '../src/wasm/memory-layout.js';
import { WorkerPool } from '../src/workers/pool.js';
import { reduceBuiltinBlocks } from '../src/workers/reduce-blocks.js';
import type { Block, PartitionView } from '../src/workers/worker-protocol.js';

const ROWS = 40_000;
const COLS = 3;
const ROWS_PER_BLOCK = 997;

const KERNELS: BuiltinKernel[] = [
  { op: 'sum' },
  { op: 'min' },
  { op: 'max' },
  { op: 'mean' },
  { op: 'argmin' },
  { op: 'argmax' },
  { op: 'var', params: { ddof: 1 } },
  { op: 'std' },
  { op: 'norm' },
  { op: 'histogram', params: { bins: 17, range: [-3, 250] } },
  { op: 'sum', params: { axis: 0 } },
  { op: 'std', params: { axis: 0, ddof: 1 } },
];

function blocksOf(rows: number): Block[] {
  const blocks: Block[] = [];
  for (let rowStart = 0; rowStart < rows; rowStart += ROWS_PER_BLOCK) blocks.push({ rowStart, rowCount: Math.min(ROWS_PER_BLOCK, rows - rowStart) });
  return blocks;
}

describe('built-in reductions with blocks claimed one at a time by the threads', () => {
  let pool: WorkerPool;
  before(() => {
    pool = new WorkerPool({ threads: 2, threadHeapMb: 64, logger: createLogger('shared builtin test') });
  });
  after(async () => {
    await pool?.close();
  });

  for (const dtype of ['float64', 'float32'] as const) {
    for (const inWasm of [true, false]) {
      it(`${dtype}, ${inWasm ? 'WebAssembly' : 'JS loops'}: every op folds to the result of the blocks run in order on one thread`, async () => {
        const bytes = dtype === 'float64' ? 8 : 4;
        const memory = createSharedMemory(Math.ceil((ROWS * COLS * bytes) / WASM_PAGE_BYTES) + 1);
        const values = dtype === 'float64' ? new Float64Array(memory.buffer, 0, ROWS * COLS) : new Float32Array(memory.buffer, 0, ROWS * COLS);
        let state = 12345;
        for (let i = 0; i < values.length; i++) {
          state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
          // Ties of the extreme in several blocks: the first one must win whichever thread ran it.
          values[i] = state % 1000 === 0 ? -7 : state % 1001 === 0 ? 300 : 1e4 + (state / 2 ** 32) * 200;
        }
        const view: PartitionView = { buffer: memory.buffer, ...(inWasm ? { memory } : {}), dtype, rowStart: 0, cols: COLS };
        const blocks = blocksOf(ROWS);
        for (const kernel of KERNELS) {
          const results = await pool.runShared(
            blocks.length,
            (claims) => ({ kind: 'reduce', kernel: { kind: 'builtin', op: kernel.op, params: kernel.params }, input: view, blocks, claims, shape: [ROWS, COLS], params: undefined }),
            AbortSignal.timeout(60_000),
          );
          const ran = results.flatMap((r) => r.blockIndexes ?? []).sort((a, b) => a - b);
          assert.deepEqual(ran, blocks.map((_, i) => i), `${kernel.op}: every block ran once`);
          let partials: unknown[];
          if (kernel.op === 'histogram') partials = results.flatMap((r) => r.partials);
          else {
            partials = new Array<unknown>(blocks.length);
            for (const { partials: values, blockIndexes } of results) blockIndexes!.forEach((index, k) => (partials[index] = values[k]));
          }
          const expected = foldOp(kernel, dtype, COLS, reduceBuiltinBlocks(kernel, view, blocks));
          const actual = foldOp(kernel, dtype, COLS, partials);
          const what = `${dtype} ${kernel.op} ${JSON.stringify(kernel.params ?? {})}`;
          assert.deepEqual(actual, expected, what);
          assert.deepEqual(finishOp(kernel, actual as OpPartial, dtype), finishOp(kernel, expected, dtype), what);
        }
      });
    }
  }
});
