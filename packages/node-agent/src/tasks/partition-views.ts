import { InvalidArgumentError, colsOf, type BackingFile } from '@sharc/protocol';
import { checkBackingFileNow } from '../storage/file-ranges.js';
import type { ResidentPartition, StoredPartition } from '../storage/partition-store.js';
import type { PartitionView, ResidentView } from '../workers/worker-protocol.js';

/**
 * How worker threads see a partition: its shared memory (with its WebAssembly.Memory when it
 * has one and `withMemory`), or, file-backed, its file: read from, or written to when it is
 * the task's `output`.
 */
export function viewOf(partition: StoredPartition, role: 'input' | 'output' = 'input', withMemory = true): PartitionView {
  const rows = { dtype: partition.dtype, rowStart: partition.meta.rowStart, cols: colsOf(partition.shape) };
  if (partition.kind === 'file') {
    if (role === 'output' && !partition.writable) {
      throw new InvalidArgumentError(`partition ${partition.meta.index} of ${partition.arrayId} is rows of ${partition.file.path}, not a map output: it is never written`);
    }
    // A map output read later (its modification time moved as it was written): its size is checked, not its time.
    return { file: partition.file, ...(role === 'output' ? { write: true } : partition.writable ? { written: true } : {}), partitionBytes: partition.meta.byteLength, ...rows };
  }
  return residentViewOf(partition, withMemory);
}

/** A resident partition's shared memory as threads (and the agent's own thread) read it in place. */
export function residentViewOf(partition: ResidentPartition, withMemory = true): ResidentView {
  const rows = { dtype: partition.dtype, rowStart: partition.meta.rowStart, cols: colsOf(partition.shape) };
  return { buffer: partition.buffer, ...(withMemory && partition.memory !== undefined ? { memory: partition.memory } : {}), ...rows };
}

/** Whether the partition's rows are in this agent's memory (the agent's own thread may then run small work on them). */
export function isResident(partition: StoredPartition | undefined): boolean {
  return partition === undefined || partition.kind === 'resident';
}

/**
 * Refuses a task whose file-backed partitions' files (or second array's file) changed since
 * they were registered, before any thread is given it: a FileFormatError naming the file.
 */
export async function checkFilesOf(partitions: Array<StoredPartition | undefined>, otherFile?: BackingFile): Promise<void> {
  const checks: Array<Promise<void>> = [];
  for (const partition of partitions) if (partition?.kind === 'file') checks.push(checkBackingFileNow(partition.file, partition.writable));
  if (otherFile !== undefined) checks.push(checkBackingFileNow(otherFile));
  if (checks.length > 0) await Promise.all(checks);
}
