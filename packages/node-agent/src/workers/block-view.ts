import { bytesPerElement, viewOf, type TypedArray } from '@sharc/protocol/core';
import type { Block, PartitionView } from './worker-protocol.js';

/** A typed-array view of exactly the rows of `block`, over the partition's shared memory. */
export function blockView(part: PartitionView, block: Block): TypedArray {
  const bytesPerRow = part.cols * bytesPerElement(part.dtype);
  const localRow = block.rowStart - part.rowStart;
  return viewOf(part.dtype, part.buffer, localRow * bytesPerRow, block.rowCount * part.cols);
}
