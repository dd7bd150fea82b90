import { bytesPerElement, colsOf, type BuiltinMapParams } from '@sharc/protocol';
import { FILE_CHUNK_BYTES, openBackingFile, readFileRange, writeFileRange } from '../storage/file-ranges.js';
import type { StoredPartition } from '../storage/partition-store.js';

/**
 * The output partition's rows of a slice, copied from the input partition (the same index: see
 * slicedPartition), on the agent's own thread: a memcpy between resident partitions; from a
 * file-backed input's file and into a file-backed output's file with asynchronous reads and
 * writes of at most FILE_CHUNK_BYTES (a file to file copy holds one chunk).
 */
export async function copySlice(input: StoredPartition, output: StoredPartition, slice: BuiltinMapParams['slice']): Promise<void> {
  // An input partition outside the slice gives an output partition of no rows.
  if (output.meta.rowCount === 0) return;
  const rowBytes = colsOf(input.shape) * bytesPerElement(input.dtype);
  const firstRow = output.meta.rowStart + slice.start;
  const length = output.meta.rowCount * rowBytes;
  const inputOffset = (firstRow - input.meta.rowStart) * rowBytes;
  if (input.kind === 'resident' && output.kind === 'resident') {
    new Uint8Array(output.buffer, 0, length).set(new Uint8Array(input.buffer, inputOffset, length));
    return;
  }
  const source = input.kind === 'file' ? await openBackingFile(input.file, input.writable) : undefined;
  try {
    const target = output.kind === 'file' ? await openBackingFile(output.file, true) : undefined;
    try {
      const sourcePosition = input.kind === 'file' ? input.file.dataOffset + firstRow * rowBytes : 0;
      const targetPosition = output.kind === 'file' ? output.file.dataOffset + output.meta.rowStart * rowBytes : 0;
      if (output.kind === 'resident' && input.kind === 'file') {
        await readFileRange(source!, input.file, new Uint8Array(output.buffer, 0, length), sourcePosition);
        return;
      }
      if (input.kind === 'resident' && output.kind === 'file') {
        await writeFileRange(target!, new Uint8Array(input.buffer, inputOffset, length), targetPosition);
        return;
      }
      if (input.kind === 'file' && output.kind === 'file') {
        const chunk = new Uint8Array(Math.min(FILE_CHUNK_BYTES, length));
        for (let done = 0; done < length; done += chunk.length) {
          const part = chunk.subarray(0, Math.min(chunk.length, length - done));
          await readFileRange(source!, input.file, part, sourcePosition + done);
          await writeFileRange(target!, part, targetPosition + done);
        }
      }
    } finally {
      await target?.close();
    }
  } finally {
    await source?.close();
  }
}
