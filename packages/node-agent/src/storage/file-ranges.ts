/**
 * Byte ranges of file-backed partitions' files, read and written on the agent's own thread with
 * asynchronous I/O: the few places that do not go through the worker threads (a slice's copy,
 * the second array's rows gathered for a binary op, data-plane reads of a file-backed
 * partition). Worker threads read their blocks with workers/file-blocks.ts.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
// The core entry only: worker threads (workers/file-blocks.ts) open files through here too.
import { FileFormatError, checkBackingFile, type BackingFile } from '@sharc/protocol/core';

/** Bytes moved between a file and memory in one call at most: bounds what a copy holds. */
export const FILE_CHUNK_BYTES = 4 * 1024 * 1024;
/** Ends a file error: the path is read on the agent's host. */
const ON_AGENT = ' (on the agent host)';

/**
 * Refuses a file that is no longer what its file-backed array was made from: its size and
 * modification time (a map output being written: its size only, as writes move its time).
 * Run before a task is handed to the threads, so a changed file fails the job at once with a
 * FileFormatError naming it (the threads check again when they open it).
 */
export async function checkBackingFileNow(file: BackingFile, writable = false): Promise<void> {
  let stats;
  try {
    stats = await stat(file.path);
  } catch (error) {
    throw missing(file.path, error);
  }
  checkBackingFile(file, writable ? { size: stats.size, mtimeMs: file.mtimeMs } : stats, ON_AGENT);
}

/** Opens `file` and checks it is unchanged (see checkBackingFileNow); close the handle after. */
export async function openBackingFile(file: BackingFile, writable = false): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    // Non-blocking: a file replaced by a FIFO would block the open until a writer comes, holding
    // one of the agent's few I/O threads for good; O_NONBLOCK changes nothing for a regular file.
    handle = await open(file.path, (writable ? constants.O_RDWR : constants.O_RDONLY) | constants.O_NONBLOCK);
  } catch (error) {
    throw missing(file.path, error);
  }
  try {
    const stats = await handle.stat();
    checkBackingFile(file, writable ? { size: stats.size, mtimeMs: file.mtimeMs } : stats, ON_AGENT);
    return handle;
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/** Fills `target` from `position` of the open `file`; a file that ends first shrank: a FileFormatError naming it. */
export async function readFileRange(handle: FileHandle, file: BackingFile, target: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < target.length; ) {
    const length = Math.min(FILE_CHUNK_BYTES, target.length - done);
    const { bytesRead } = await handle.read(target, done, length, position + done);
    if (bytesRead === 0) {
      const { size } = await handle.stat();
      throw new FileFormatError(
        `${file.path} ended at byte ${position + done}, before the ${target.length} bytes at ${position}: it shrank from ${file.size} to ${size} bytes${ON_AGENT}`,
        { details: { path: file.path, size, expectedSize: file.size } },
      );
    }
    done += bytesRead;
  }
}

/** Writes all of `source` at `position` of the open file. */
export async function writeFileRange(handle: FileHandle, source: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < source.length; ) {
    const { bytesWritten } = await handle.write(source, done, Math.min(FILE_CHUNK_BYTES, source.length - done), position + done);
    done += bytesWritten;
  }
}

/**
 * Opens a file-backed array's file with blocking I/O (the agent's in-process reads, and the
 * worker threads): its descriptor, or a FileFormatError saying why it cannot be opened.
 */
export function openBackingFileSync(path: string, write: boolean, where = ON_AGENT): number {
  try {
    // Non-blocking, as in openBackingFile: a FIFO would block this thread in open() until a writer comes.
    return openSync(path, (write ? constants.O_RDWR : constants.O_RDONLY) | constants.O_NONBLOCK);
  } catch (error) {
    throw missing(path, error, where);
  }
}

function missing(path: string, error: unknown, where = ON_AGENT): FileFormatError {
  const code = (error as NodeJS.ErrnoException).code;
  const why = code === 'ENOENT' ? 'no longer exists' : code === 'EACCES' ? 'cannot be opened: permission denied' : `cannot be opened: ${(error as Error).message}`;
  return new FileFormatError(`${path} ${why}${where}: a file-backed array's rows are read from it; register the file again once it is back`, {
    cause: error,
    details: { path },
  });
}

/**
 * readFileRange with blocking reads, for the in-process data plane (Agent.localData, whose
 * reads are synchronous): the file is opened and checked for the one read.
 */
export function readFileRangeSync(file: BackingFile, target: Uint8Array, position: number, written = false): void {
  const fd = openBackingFileSync(file.path, false);
  try {
    const stats = fstatSync(fd);
    checkBackingFile(file, written ? { size: stats.size, mtimeMs: file.mtimeMs } : stats, ON_AGENT);
    for (let done = 0; done < target.length; ) {
      const read = readSync(fd, target, done, Math.min(FILE_CHUNK_BYTES, target.length - done), position + done);
      if (read === 0) {
        checkBackingFile(file, fstatSync(fd), ON_AGENT);
        throw new FileFormatError(`${file.path} ended at byte ${position + done}, before the ${target.length} bytes at ${position}: it shrank${ON_AGENT}`, {
          details: { path: file.path },
        });
      }
      done += read;
    }
  } finally {
    closeSync(fd);
  }
}
