/**
 * Rows are cut into blocks of about this many bytes; a block is the unit a worker thread runs
 * a kernel on and the unit of progress. The cut depends only on the partition and the row
 * size, never on the thread count, so for a given array (whose partitions are fixed when it is
 * stored) a reduce folds the same partials in the same order every time: results are
 * bit-for-bit repeatable whatever the threads, load or timing.
 */
export const BLOCK_TARGET_BYTES = 4 * 1024 * 1024;

export function rowsPerBlock(rowBytes: number): number {
  return Math.max(1, Math.floor(BLOCK_TARGET_BYTES / Math.max(1, rowBytes)));
}

export function blockCount(rowCount: number, rowBytes: number): number {
  return Math.ceil(rowCount / rowsPerBlock(rowBytes));
}

/**
 * A built-in reduction over a partition this small runs on the agent's own thread, at once: a
 * worker hop would cost more. A client sending reduces straight to agents counts on it too:
 * such work answers within its message's turn, so several jobs may share one message.
 */
export const INLINE_REDUCE_BYTES = 256 * 1024;
