import {
  ConnectionError,
  InternalError,
  PROTOCOL_VERSION,
  bytesPerElement,
  colsOf,
  escapeForTerminal,
  tcpDataPlane,
  type Task,
} from '@sharc/protocol';
import { openBackingFile, readFileRange } from '../storage/file-ranges.js';
import type { PartitionLease, PartitionStore } from '../storage/partition-store.js';
import type { PartitionView } from '../workers/worker-protocol.js';

/** The second input array of a task, as the coordinator describes it (task.with). */
export type OtherArray = NonNullable<Task['with']>;

export interface OtherRows {
  /** The second array's rows, addressed like the first's (rows counted from the array's start). */
  view: PartitionView;
  release(clean: boolean): void;
}

/**
 * Gets the rows [rowStart, rowStart + rowCount) of the second array of a binary op or `dot` onto
 * this agent. When a copy held here covers them all (both arrays put with the same
 * partitioning, the common case), they are read in place: no byte moves. Otherwise they are
 * gathered into a buffer of the task's own, from the copies held here and over the data
 * port of the agents serving the others (the buffer is the task's: it is not counted in the
 * agent's memory limit, and is garbage once the task ends).
 *
 * A file-backed second array (`other.file`) is read by the worker threads from its file, block
 * by block, as the first array is: nothing is gathered here.
 *
 * A holder that cannot be read (it died, or NATS and TCP disagree on its state) fails the task
 * with a retryable ConnectionError: the coordinator runs it again once the partition is served
 * elsewhere. A copy the coordinator says is here but is not fails with the store's
 * missing-partition error, which makes the coordinator move that copy.
 */
export async function otherRows(other: OtherArray, rows: { rowStart: number; rowCount: number }, store: PartitionStore, signal: AbortSignal): Promise<OtherRows> {
  const cols = colsOf(other.shape);
  const rowBytes = cols * bytesPerElement(other.dtype);
  const end = rows.rowStart + rows.rowCount;
  if (other.file !== undefined) {
    return { view: { file: other.file, partitionBytes: rows.rowCount * rowBytes, dtype: other.dtype, rowStart: rows.rowStart, cols }, release: () => undefined };
  }
  const overlapping = other.sources.filter(({ partition }) => partition.rowStart < end && partition.rowStart + partition.rowCount > rows.rowStart);
  const covering = overlapping.find(({ partition, local }) => local === true && partition.rowStart <= rows.rowStart && partition.rowStart + partition.rowCount >= end);
  if (covering !== undefined) {
    const lease = store.acquire(other.arrayId, covering.partition.index);
    const held = lease.partition;
    if (held.kind === 'file') {
      // A file-backed copy the coordinator did not say was one: its file, read by the threads.
      lease.release(true);
      const view = { file: held.file, ...(held.writable ? { written: true } : {}), partitionBytes: rows.rowCount * rowBytes, dtype: other.dtype, rowStart: rows.rowStart, cols };
      return { view, release: () => undefined };
    }
    return { view: { buffer: held.buffer, dtype: other.dtype, rowStart: covering.partition.rowStart, cols }, release: (clean) => lease.release(clean) };
  }
  const buffer = new SharedArrayBuffer(rows.rowCount * rowBytes);
  const target = new Uint8Array(buffer);
  let covered = 0;
  await Promise.all(
    overlapping.map(async ({ partition, holder, local }) => {
      const from = Math.max(rows.rowStart, partition.rowStart);
      const to = Math.min(end, partition.rowStart + partition.rowCount);
      covered += to - from;
      const into = target.subarray((from - rows.rowStart) * rowBytes, (to - rows.rowStart) * rowBytes);
      const byteOffset = (from - partition.rowStart) * rowBytes;
      if (local === true) {
        const lease: PartitionLease = store.acquire(other.arrayId, partition.index);
        try {
          const held = lease.partition;
          if (held.kind === 'resident') {
            into.set(new Uint8Array(held.buffer, byteOffset, into.length));
            return;
          }
          const handle = await openBackingFile(held.file, held.writable);
          try {
            await readFileRange(handle, held.file, into, held.file.dataOffset + held.meta.rowStart * rowBytes + byteOffset);
          } finally {
            await handle.close();
          }
        } finally {
          lease.release(true);
        }
        return;
      }
      try {
        await tcpDataPlane.read(holder, { v: PROTOCOL_VERSION, op: 'read', arrayId: other.arrayId, partitionIndex: partition.index, byteOffset, byteLength: into.length }, into, signal);
      } catch (error) {
        if (signal.aborted) throw error;
        const name = other.arrayName === undefined ? other.arrayId : `'${escapeForTerminal(other.arrayName)}'`;
        throw new ConnectionError(
          `could not read rows ${from}..${to - 1} of the second array ${name} from agent ${holder.id}: ${(error as Error).message}; the task runs again once they are served`,
          { cause: error, retryable: true, details: { holder: holder.id, arrayId: other.arrayId, partition: partition.index } },
        );
      }
    }),
  );
  if (covered !== rows.rowCount) {
    throw new InternalError(`the second array's partitions cover ${covered} of rows ${rows.rowStart}..${end - 1}`, { retryable: true });
  }
  return { view: { buffer, dtype: other.dtype, rowStart: rows.rowStart, cols }, release: () => undefined };
}
