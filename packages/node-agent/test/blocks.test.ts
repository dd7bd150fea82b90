/**
 * Blocks: a partition's rows are cut into blocks that cover it exactly once, whose boundaries
 * depend only on the partition and the row size (so reduce results are repeatable), and
 * batches hand consecutive blocks to threads in order.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BLOCK_TARGET_BYTES, type DType, type Shape } from '@sharc/protocol';
import { batchesOf, blocksOf } from '../src/tasks/blocks.js';
import type { StoredPartition } from '../src/storage/partition-store.js';
import type { Block } from '../src/workers/worker-protocol.js';

const BYTES: Record<DType, number> = { float64: 8, float32: 4, int64: 8, uint64: 8, int32: 4, uint32: 4, int16: 2, uint16: 2, int8: 1, uint8: 1, bool: 1 };

function partition(options: {
  dtype: DType;
  shape: Shape;
  rowStart: number;
  rowCount: number;
  arrayId?: string;
  index?: number;
  agentId?: string;
}): StoredPartition {
  const cols = options.shape.length === 2 ? options.shape[1] : 1;
  const byteLength = options.rowCount * cols * BYTES[options.dtype];
  return {
    kind: 'resident',
    arrayId: options.arrayId ?? 'arr-1',
    dtype: options.dtype,
    shape: options.shape,
    meta: {
      index: options.index ?? 0,
      rowStart: options.rowStart,
      rowCount: options.rowCount,
      byteLength,
      agentId: options.agentId ?? 'agent-0',
    },
    // blocksOf reads only the layout, so the bytes themselves need not be allocated.
    buffer: new SharedArrayBuffer(0),
    memory: undefined,
    reservedBytes: byteLength,
    transferToken: undefined,
    uploaded: false,
    written: 0,
    writing: false,
    ready: true,
    users: 0,
    freed: false,
    tainted: false,
  };
}

/** Blocks are in order, contiguous, non-empty, and cover [rowStart, rowStart + rowCount). */
function assertCoversPartition(blocks: Block[], rowStart: number, rowCount: number): void {
  let next = rowStart;
  for (const block of blocks) {
    assert.equal(block.rowStart, next, 'no gap and no overlap');
    assert.ok(block.rowCount > 0, 'no empty block');
    next += block.rowCount;
  }
  assert.equal(next, rowStart + rowCount, 'every row of the partition is in a block');
}

describe('blocksOf', () => {
  it('covers every row of a partition exactly once', () => {
    const cases: Array<[DType, Shape, number, number]> = [
      ['float64', [3_000_000], 0, 3_000_000],
      ['float64', [3_000_000], 1_000_000, 1_234_567],
      ['float32', [10_000, 1000], 2500, 2500],
      ['uint8', [100], 40, 60],
      ['int16', [5, 3], 0, 5],
      ['float64', [10, 1_000_000], 3, 7],
    ];
    for (const [dtype, shape, rowStart, rowCount] of cases) {
      const blocks = blocksOf(partition({ dtype, shape, rowStart, rowCount }));
      assertCoversPartition(blocks, rowStart, rowCount);
    }
  });

  it('cuts blocks of about BLOCK_TARGET_BYTES', () => {
    const rowBytes = 8;
    const blocks = blocksOf(partition({ dtype: 'float64', shape: [4_000_000], rowStart: 0, rowCount: 4_000_000 }));
    assert.ok(blocks.length > 1, 'a 32 MB partition is more than one block');
    for (const block of blocks.slice(0, -1)) assert.equal(block.rowCount * rowBytes, BLOCK_TARGET_BYTES);
    assert.ok(blocks.at(-1)!.rowCount * rowBytes <= BLOCK_TARGET_BYTES);
  });

  it('puts a row larger than BLOCK_TARGET_BYTES in a block of its own, never splitting it', () => {
    const blocks = blocksOf(partition({ dtype: 'float64', shape: [10, 1_000_000], rowStart: 3, rowCount: 4 }));
    assert.deepEqual(blocks, [
      { rowStart: 3, rowCount: 1 },
      { rowStart: 4, rowCount: 1 },
      { rowStart: 5, rowCount: 1 },
      { rowStart: 6, rowCount: 1 },
    ]);
  });

  it('gives an empty partition no blocks', () => {
    assert.deepEqual(blocksOf(partition({ dtype: 'float64', shape: [0], rowStart: 0, rowCount: 0 })), []);
  });

  it('cuts the same blocks for the same partition every time', () => {
    const make = () => partition({ dtype: 'float32', shape: [5_000_000, 2], rowStart: 1_000_000, rowCount: 3_333_333 });
    assert.deepEqual(blocksOf(make()), blocksOf(make()));
  });

  it('depends on the row size, not on the dtype, columns or which array, agent or index holds it', () => {
    const reference = blocksOf(partition({ dtype: 'float64', shape: [9_000_000], rowStart: 500, rowCount: 2_000_000 }));
    const sameRowBytes = [
      partition({ dtype: 'float32', shape: [9_000_000, 2], rowStart: 500, rowCount: 2_000_000 }),
      partition({ dtype: 'int16', shape: [9_000_000, 4], rowStart: 500, rowCount: 2_000_000 }),
      partition({ dtype: 'uint8', shape: [9_000_000, 8], rowStart: 500, rowCount: 2_000_000 }),
      partition({ dtype: 'float64', shape: [9_000_000], rowStart: 500, rowCount: 2_000_000, arrayId: 'other', index: 7, agentId: 'agent-9' }),
    ];
    assert.ok(reference.length > 1);
    for (const other of sameRowBytes) assert.deepEqual(blocksOf(other), reference, `${other.dtype} ${JSON.stringify(other.shape)}`);
  });

  it('cuts wider rows into blocks of fewer rows', () => {
    const narrow = blocksOf(partition({ dtype: 'float64', shape: [2_000_000], rowStart: 0, rowCount: 2_000_000 }));
    const wide = blocksOf(partition({ dtype: 'float64', shape: [2_000_000, 4], rowStart: 0, rowCount: 2_000_000 }));
    assert.ok(wide[0]!.rowCount < narrow[0]!.rowCount);
    assert.ok(wide.length > narrow.length);
  });
});

describe('batchesOf', () => {
  const blocks: Block[] = Array.from({ length: 10 }, (_, i) => ({ rowStart: i * 100, rowCount: 100 }));

  it('keeps every block, in order, in consecutive runs', () => {
    for (let batches = 1; batches <= 12; batches++) {
      const result = batchesOf(blocks, batches);
      assert.deepEqual(result.flat(), blocks, `${batches} batches`);
      assert.ok(result.every((batch) => batch.length > 0), 'no empty batch');
    }
  });

  it('makes the requested number of batches, at most one per block', () => {
    assert.equal(batchesOf(blocks, 1).length, 1);
    assert.equal(batchesOf(blocks, 3).length, 3);
    assert.equal(batchesOf(blocks, 10).length, 10);
    assert.equal(batchesOf(blocks, 64).length, 10);
  });

  it('makes batches of nearly equal size', () => {
    const sizes = batchesOf(blocks, 4).map((batch) => batch.length);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `sizes ${sizes.join(', ')}`);
  });

  it('treats a batch count below one as one', () => {
    assert.deepEqual(batchesOf(blocks, 0), [blocks]);
  });

  it('makes no batch from no blocks', () => {
    assert.deepEqual(batchesOf([], 4), []);
  });
});
