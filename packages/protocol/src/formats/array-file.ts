import { open } from 'node:fs/promises';
import { bytesPerElement, type DType } from '../dtypes.js';
import { CancelledError, FileFormatError, InvalidArgumentError } from '../errors.js';
import type { FileSource } from '../messages.js';
import { elementCount, parseShape, type Shape } from '../shape.js';
import { NPY_MAX_HEADER_BYTES, parseNpyHeader } from './npy.js';

/**
 * Array files (.npy, or raw bytes of a declared layout) as both agents (`fromFile`: each reads
 * its own rows) and clients (`sharc put FILE`: the client streams rows to the agents) read them.
 * `where` ends each error message: who could not read the file and what to do.
 */

export interface FileLayout {
  dtype: DType;
  shape: Shape;
  /** Byte offset of element 0 in the file. */
  dataOffset: number;
}

/** Reads what an array file holds (npy header, or the raw layout the caller declared) and checks its size. */
export async function inspectFile(source: FileSource, where = ''): Promise<FileLayout> {
  const handle = await openFile(source.path, where);
  try {
    const { size } = await handle.stat();
    let layout: FileLayout;
    if (source.format === 'npy') {
      const head = new Uint8Array(Math.min(size, NPY_MAX_HEADER_BYTES));
      await handle.read(head, 0, head.length, 0);
      const header = parseNpyHeader(head, source.path);
      layout = { dtype: header.dtype, shape: parseShape(header.shape), dataOffset: header.dataOffset };
    } else {
      if (source.dtype === undefined || source.shape === undefined) {
        throw new InvalidArgumentError(`raw file ${source.path} needs a dtype and a shape: pass { format: 'raw', dtype, shape }`);
      }
      layout = { dtype: source.dtype, shape: parseShape(source.shape), dataOffset: source.byteOffset ?? 0 };
    }
    const needed = layout.dataOffset + elementCount(layout.shape) * bytesPerElement(layout.dtype);
    if (size < needed) {
      throw new FileFormatError(
        `${source.path} is truncated: shape [${layout.shape.join(', ')}] of ${layout.dtype} needs ${needed} bytes, the file has ${size}`,
        { details: { path: source.path, size, needed } },
      );
    }
    return layout;
  } finally {
    await handle.close();
  }
}

const READ_CHUNK_BYTES = 16 * 1024 * 1024;

/** Reads `target.length` bytes at `position` of the file straight into `target` (a view of a partition). */
export async function readRange(filePath: string, position: number, target: Uint8Array, signal?: AbortSignal, where = ''): Promise<void> {
  const handle = await openFile(filePath, where);
  try {
    let done = 0;
    while (done < target.length) {
      if (signal?.aborted) throw new CancelledError(`reading ${filePath} was cancelled`);
      const length = Math.min(READ_CHUNK_BYTES, target.length - done);
      const { bytesRead } = await handle.read(target, done, length, position + done);
      if (bytesRead === 0) {
        throw new FileFormatError(`${filePath} ended after ${position + done} bytes, expected at least ${position + target.length}`, {
          details: { path: filePath },
        });
      }
      done += bytesRead;
    }
  } finally {
    await handle.close();
  }
}

async function openFile(filePath: string, where: string) {
  try {
    return await open(filePath, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable' : (error as Error).message;
    throw new FileFormatError(`${filePath} ${why}${where}`, {
      cause: error,
      details: { path: filePath },
    });
  }
}
