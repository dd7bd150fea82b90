import { bytesPerElement, colsOf, rowsPerBlock } from '@sharc/protocol';
import type { StoredPartition } from '../storage/partition-store.js';
import type { Block } from '../workers/worker-protocol.js';

/** The partition's rows cut into blocks (see BLOCK_TARGET_BYTES in @sharc/protocol). */
export function blocksOf(partition: StoredPartition): Block[] {
  const perBlock = rowsPerBlock(colsOf(partition.shape) * bytesPerElement(partition.dtype));
  const blocks: Block[] = [];
  const end = partition.meta.rowStart + partition.meta.rowCount;
  for (let rowStart = partition.meta.rowStart; rowStart < end; rowStart += perBlock) {
    blocks.push({ rowStart, rowCount: Math.min(perBlock, end - rowStart) });
  }
  return blocks;
}

/** Splits blocks into at most `batches` runs of consecutive blocks, one worker request each. */
export function batchesOf(blocks: Block[], batches: number): Block[][] {
  const count = Math.max(1, Math.min(batches, blocks.length));
  const result: Block[][] = [];
  for (let i = 0; i < count; i++) {
    const from = Math.floor((i * blocks.length) / count);
    const to = Math.floor(((i + 1) * blocks.length) / count);
    result.push(blocks.slice(from, to));
  }
  return result.filter((batch) => batch.length > 0);
}
