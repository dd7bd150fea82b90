import { constants as fsConstants } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { formatNpyHeader } from './npy.js';
import { bytesPerElement, type DType } from '../dtypes.js';
import { CancelledError, FileFormatError, InvalidArgumentError } from '../errors.js';
import type { BackingFile, FileSource } from '../messages.js';
import { colsOf, elementCount, parseShape, type Shape } from '../shape.js';
import { hasNpyMagic, NPY_MAX_HEADER_BYTES, parseNpyHeader, type NpyHeader } from './npy.js';

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

/** What inspectFile read: the layout, and the file's size and modification time then. */
export interface InspectedFile extends FileLayout {
  size: number;
  mtimeMs: number;
}

/**
 * Reads what an array file holds and checks that it is what the caller described, so that no
 * byte is stored as something it is not:
 * - a file that starts with the .npy magic is read as .npy: its header gives dtype and shape;
 *   a dtype or shape given must agree with it, and `format: 'raw'` or a `byteOffset` is refused;
 * - anything else is raw little-endian bytes of the given dtype and shape (both needed), which
 *   must cover the file exactly; with a `byteOffset` (0 included) they state a range of the
 *   file instead, which must lie inside it.
 * Every refusal names the file, its size, what the description needs, and the fix.
 */
export async function inspectFile(source: FileSource, where = ''): Promise<InspectedFile> {
  const handle = await openFile(source.path, where);
  try {
    const { size, mtimeMs } = await regularFileStats(handle, source.path, where);
    const head = new Uint8Array(Math.min(size, NPY_MAX_HEADER_BYTES));
    await handle.read(head, 0, head.length, 0);
    const layout = hasNpyMagic(head) && source.format !== 'raw' ? npyLayout(source, head, size) : rawLayout(source, head, size);
    return { ...layout, size, mtimeMs };
  } finally {
    await handle.close();
  }
}

/**
 * Checks that a file still holds what an array was loaded from, before a partition is read
 * from it (at load, and again when a lost partition is read again, maybe days later): the
 * same dtype and shape with element 0 at the same byte, and the size that goes with them. A
 * file that changed since is refused with a FileFormatError saying so, rather than read as
 * something it no longer is. (Bytes rewritten in place at the same size cannot be told apart.)
 */
export async function checkFileUnchanged(source: FileSource, expected: FileLayout, where = ''): Promise<void> {
  const handle = await openFile(source.path, where);
  try {
    const { size } = await regularFileStats(handle, source.path, where);
    const head = new Uint8Array(Math.min(size, NPY_MAX_HEADER_BYTES));
    await handle.read(head, 0, head.length, 0);
    const dataBytes = elementCount(expected.shape) * bytesPerElement(expected.dtype);
    let now: string | undefined;
    if (hasNpyMagic(head) && source.format !== 'raw') {
      let header: NpyHeader;
      try {
        header = parseNpyHeader(head, source.path);
      } catch (error) {
        throw changed(source, expected, (error as Error).message);
      }
      if (
        header.dtype !== expected.dtype ||
        !sameShape(header.shape, expected.shape) ||
        header.dataOffset !== expected.dataOffset ||
        size !== header.dataOffset + dataBytes
      ) {
        now = `it is a .npy file of ${header.dtype} [${header.shape.join(', ')}] from byte ${header.dataOffset} now, ${size} bytes in all`;
      }
    } else if (source.dtype === undefined || source.format === 'npy') {
      now = `it is not a .npy file now (${size} bytes)`;
    } else if (source.byteOffset === undefined ? size !== dataBytes : expected.dataOffset + dataBytes > size) {
      now = `it has ${size} bytes now`;
    }
    if (now !== undefined) throw changed(source, expected, now);
  } finally {
    await handle.close();
  }
}

function changed(source: FileSource, expected: FileLayout, why: string): FileFormatError {
  return new FileFormatError(
    `${source.path} is no longer the file the array was loaded from (${expected.dtype} [${expected.shape.join(', ')}] from byte ${expected.dataOffset}): ${why}. ` +
      'Put the file back as it was, or load it again as a new array',
    { details: { path: source.path } },
  );
}

function npyLayout(source: FileSource, head: Uint8Array, size: number): FileLayout {
  const header = parseNpyHeader(head, source.path);
  const layout: FileLayout = { dtype: header.dtype, shape: parseShape(header.shape), dataOffset: header.dataOffset };
  const described = `${layout.dtype} [${layout.shape.join(', ')}]`;
  const given = [
    ...(source.dtype !== undefined && source.dtype !== layout.dtype ? [`dtype ${source.dtype}`] : []),
    ...(source.shape !== undefined && !sameShape(source.shape, layout.shape) ? [`shape [${source.shape.join(', ')}]`] : []),
  ];
  if (given.length > 0) {
    throw new InvalidArgumentError(
      `${source.path} is a .npy file of ${described} (its header), but ${given.join(' and ')} ${given.length > 1 ? 'were' : 'was'} given: ` +
        'drop dtype/shape (--dtype/--shape); they come from its header',
      { details: { path: source.path, size, header: { dtype: layout.dtype, shape: [...layout.shape] } } },
    );
  }
  if (source.byteOffset !== undefined) {
    throw new InvalidArgumentError(
      `${source.path} is a .npy file of ${described}: its header says where the data starts (byte ${layout.dataOffset}); drop byteOffset (--byte-offset)`,
      { details: { path: source.path, size } },
    );
  }
  const needed = layout.dataOffset + elementCount(layout.shape) * bytesPerElement(layout.dtype);
  if (size !== needed) {
    throw new FileFormatError(
      `${source.path} is ${size < needed ? 'truncated' : 'not a plain .npy file'}: its header says ${described}, which needs ${needed} bytes ` +
        `(${layout.dataOffset} of header), the file has ${size}. Write it again with numpy.save`,
      { details: { path: source.path, size, needed } },
    );
  }
  return layout;
}

function rawLayout(source: FileSource, head: Uint8Array, size: number): FileLayout {
  if (source.format === 'npy') parseNpyHeader(head, source.path); // throws: the file has no .npy magic
  if (hasNpyMagic(head)) {
    const header = parseNpyHeader(head, source.path);
    throw new InvalidArgumentError(
      `${source.path} is a .npy file of ${header.dtype} [${header.shape.join(', ')}] (its header), not raw bytes: ` +
        "drop format: 'raw'; dtype and shape come from its header",
      { details: { path: source.path, size } },
    );
  }
  if (source.dtype === undefined && source.shape === undefined) {
    // Nothing said it was raw: the file is not what it was taken for.
    throw new FileFormatError(
      `${source.path} (${size} bytes) is not a .npy file (it does not start with the \\x93NUMPY magic): ` +
        'if it holds raw little-endian bytes, give both dtype and shape (--dtype and --shape)',
      { details: { path: source.path, size } },
    );
  }
  if (source.dtype === undefined || source.shape === undefined) {
    throw new InvalidArgumentError(`${source.path} holds raw bytes (no .npy magic): give both dtype and shape (--dtype and --shape)`, {
      details: { path: source.path, size },
    });
  }
  const layout: FileLayout = { dtype: source.dtype, shape: parseShape(source.shape), dataOffset: source.byteOffset ?? 0 };
  const itemBytes = bytesPerElement(layout.dtype);
  const dataBytes = elementCount(layout.shape) * itemBytes;
  const described = `shape [${layout.shape.join(', ')}] of ${layout.dtype}`;
  if (source.byteOffset === undefined && dataBytes !== size) {
    const rowBytes = colsOf(layout.shape) * itemBytes;
    const rows = rowBytes === 0 ? undefined : size / rowBytes;
    const fits =
      rows !== undefined && Number.isInteger(rows)
        ? `give the shape that covers it (${layout.shape.length === 1 ? `[${rows}]` : `[${rows}, ${colsOf(layout.shape)}]`})`
        : `no ${layout.dtype} shape with ${colsOf(layout.shape)} column(s) covers ${size} bytes: check the dtype`;
    throw new InvalidArgumentError(
      `${source.path} has ${size} bytes, but ${described} needs ${dataBytes}: ` +
        `${fits}, or give byteOffset (--byte-offset) to read only the bytes the shape covers from there`,
      { details: { path: source.path, size, needed: dataBytes } },
    );
  }
  if (layout.dataOffset + dataBytes > size) {
    throw new InvalidArgumentError(
      `${source.path} has ${size} bytes, but ${described} from byte ${layout.dataOffset} needs bytes ${layout.dataOffset}..${layout.dataOffset + dataBytes}: ` +
        'give a smaller shape or byteOffset (--shape, --byte-offset)',
      { details: { path: source.path, size, needed: layout.dataOffset + dataBytes } },
    );
  }
  return layout;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((dim, i) => dim === b[i]);
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

async function regularFileStats(handle: FileHandle, filePath: string, where: string): Promise<{ size: number; mtimeMs: number }> {
  const stats = await handle.stat();
  if (!stats.isFile()) {
    throw new FileFormatError(`${filePath} is not a regular file (${stats.isDirectory() ? 'a directory' : 'a device, pipe or socket'})${where}`, {
      details: { path: filePath },
    });
  }
  return { size: stats.size, mtimeMs: stats.mtimeMs };
}

/**
 * Refuses a file-backed array's file that is not the one it was registered from: a size or a
 * modification time other than those recorded means it was rewritten, truncated or appended to
 * since, and its rows may no longer be what the array's dtype and shape say (read anyway, a
 * job would give wrong results without a word). `stats` are the file's now (fstat of an open
 * handle, or stat of the path).
 */
export function checkBackingFile(file: BackingFile, stats: { size: number; mtimeMs: number }, where = ''): void {
  if (stats.size === file.size && stats.mtimeMs === file.mtimeMs) return;
  const what = [
    ...(stats.size === file.size ? [] : [`${stats.size < file.size ? 'shrunk' : 'grew'} from ${file.size} to ${stats.size} bytes`]),
    ...(stats.mtimeMs === file.mtimeMs ? [] : [`was modified at ${new Date(stats.mtimeMs).toISOString()} (registered at ${new Date(file.mtimeMs).toISOString()})`]),
  ].join(' and ');
  throw new FileFormatError(
    `${file.path} changed since the file-backed array was made from it: it ${what}${where}. ` +
      'Its rows may no longer be what the array says; register it again (fromFile, sharc put --agents-read --stream) to use it as it is now',
    { details: { path: file.path, size: stats.size, mtimeMs: stats.mtimeMs, expectedSize: file.size, expectedMtimeMs: file.mtimeMs } },
  );
}

/**
 * Creates the .npy file of `dtype` and `shape` a map writes its output into: the header, then
 * every data byte (left as a hole the filesystem fills with zeros). Refuses an existing file
 * unless `replace`. Returns where the data starts.
 */
export async function createNpyFile(filePath: string, dtype: DType, shape: Shape, replace: boolean, where = ''): Promise<{ dataOffset: number; size: number }> {
  const header = formatNpyHeader(dtype, shape);
  const size = header.length + elementCount(shape) * bytesPerElement(dtype);
  if (!Number.isSafeInteger(size)) throw new InvalidArgumentError(`${filePath} cannot be created: ${dtype} ${JSON.stringify(shape)} is more bytes than a file can hold${where}`);
  let handle: FileHandle;
  try {
    // Non-blocking: opening a FIFO for writing would wait for a reader forever (it fails at once, ENXIO).
    handle = await open(filePath, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_NONBLOCK | (replace ? fsConstants.O_TRUNC : fsConstants.O_EXCL));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'EEXIST'
        ? 'exists: give replace (--replace) to overwrite it, or another path'
        : code === 'ENOENT'
          ? 'cannot be created: its directory does not exist'
          : code === 'EACCES'
            ? 'cannot be created: permission denied'
            : `cannot be created: ${(error as Error).message}`;
    throw new FileFormatError(`${filePath} ${why}${where}`, { cause: error, details: { path: filePath } });
  }
  try {
    // A device (/dev/null, /dev/full) or a pipe would take the rows and keep none of them.
    if (!(await handle.stat()).isFile()) {
      throw new FileFormatError(`${filePath} is not a regular file (a directory, device, pipe or socket): a map's output file must be one${where}`, { details: { path: filePath } });
    }
    try {
      await handle.write(header, 0, header.length, 0);
      await handle.truncate(size);
    } catch (error) {
      // A full disk, a quota, a file larger than the filesystem allows: nothing half made is left.
      await unlink(filePath).catch(() => undefined);
      throw new FileFormatError(`${filePath} cannot be created with its ${size} bytes: ${(error as Error).message}${where}`, { cause: error, details: { path: filePath } });
    }
  } finally {
    await handle.close();
  }
  return { dataOffset: header.length, size };
}

async function openFile(filePath: string, where: string) {
  try {
    // Non-blocking: opening a FIFO would wait for a writer forever, holding one of the process's
    // few I/O threads (O_NONBLOCK changes nothing for a regular file; the file is refused as not one).
    return await open(filePath, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable' : (error as Error).message;
    throw new FileFormatError(`${filePath} ${why}${where}`, {
      cause: error,
      details: { path: filePath },
    });
  }
}
