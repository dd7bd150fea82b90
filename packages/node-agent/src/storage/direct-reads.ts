import net from 'node:net';

export interface DirectReads {
  /** Where the next read should land; never empty. */
  buffer: () => Uint8Array;
  /** Called with the byte count of each read; return false to pause. */
  callback: (bytesRead: number) => boolean;
}

/**
 * Moves an accepted connection onto a socket that reads with `onread`, so the kernel writes
 * each body straight into the partition's SharedArrayBuffer.
 *
 * Why: Node offers `onread` only on sockets it creates (`net.connect`, `new net.Socket`), not on
 * ones a server accepts, and the alternative (copying each 64 KiB 'data' chunk into shared
 * memory) measured about 3x slower for uploads on this project's machines. The server is
 * created with `pauseOnConnect`, so nothing has been read yet when the handle moves. This uses
 * the socket's `_handle` and the `handle` constructor option that Node's own cluster and
 * child_process code rely on; where they are missing, it returns undefined and the caller
 * reads with 'data' events instead.
 */
export function withDirectReads(accepted: net.Socket, onread: DirectReads): net.Socket | undefined {
  const internals = accepted as unknown as { _handle?: unknown };
  const handle = internals._handle;
  if (handle === undefined || handle === null) return undefined;
  internals._handle = null;
  accepted.destroy();
  const options = { handle, readable: true, writable: true, onread } as unknown as net.SocketConstructorOpts;
  const socket = new net.Socket(options);
  socket.resume();
  return socket;
}
