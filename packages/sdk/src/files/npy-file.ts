import { open, rename, stat, unlink } from 'node:fs/promises';
import { FileFormatError, formatNpyHeader, type DType, type Shape } from '@sharc/protocol';

/**
 * Writes a `.npy` file piece by piece: the header first, then each partition's bytes at its
 * offset as it arrives, so saving never needs the whole array in the client's memory. The bytes
 * go to a temporary file beside `file` that replaces it only once complete: a cancelled or
 * failed save leaves an existing file as it was.
 */
export async function writeNpy(
  file: string,
  dtype: DType,
  shape: Shape,
  writeBody: (writeAt: (bytes: Uint8Array, bodyOffset: number) => Promise<void>) => Promise<void>,
): Promise<void> {
  const cannotWrite = (error: unknown, why = reasonOf(error as NodeJS.ErrnoException)) =>
    new FileFormatError(`cannot write ${file}: ${why}`, { cause: error, details: { path: file } });
  // Checked first so a directory fails at once, not after the whole array was fetched.
  const existing = await stat(file).catch(() => undefined);
  if (existing?.isDirectory()) throw cannotWrite(undefined, 'it is a directory (give a file path)');
  const partial = `${file}.partial-${process.pid}-${Date.now()}`;
  let handle;
  try {
    handle = await open(partial, 'w');
  } catch (error) {
    throw cannotWrite(error);
  }
  let complete = false;
  try {
    try {
      const header = formatNpyHeader(dtype, shape);
      await handle.write(header, 0, header.length, 0);
      await writeBody(async (bytes, bodyOffset) => {
        let done = 0;
        while (done < bytes.length) {
          const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, header.length + bodyOffset + done);
          done += bytesWritten;
        }
      });
    } finally {
      await handle.close();
    }
    try {
      await rename(partial, file);
    } catch (error) {
      throw cannotWrite(error);
    }
    complete = true;
  } finally {
    // Whatever failed (the fetch, a write, the close or the rename), no partial file stays behind.
    if (!complete) await unlink(partial).catch(() => undefined);
  }
}

/** Why a file could not be written, in words that name no temporary file. */
function reasonOf(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return 'its directory does not exist';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'it is a directory (give a file path)';
    case 'ENOSPC':
      return 'no space left on the device';
    default:
      return error.message;
  }
}
