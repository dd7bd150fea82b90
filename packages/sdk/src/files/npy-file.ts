import { open, rename, unlink } from 'node:fs/promises';
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
  const partial = `${file}.partial-${process.pid}-${Date.now()}`;
  let handle;
  try {
    handle = await open(partial, 'w');
  } catch (error) {
    throw new FileFormatError(`cannot write ${file}: ${(error as Error).message}`, { cause: error, details: { path: file } });
  }
  let complete = false;
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
    complete = true;
  } finally {
    await handle.close();
    if (!complete) await unlink(partial).catch(() => undefined);
  }
  await rename(partial, file);
}
