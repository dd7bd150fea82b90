/**
 * The far end of the raw TCP baseline, run as its own node process like an agent:
 * `node tcp-peer.js <byteLength>`. For each connection it receives exactly `byteLength` bytes
 * into a buffer allocated once at start, answers one ACK byte, and on the client's next byte
 * sends the whole buffer back. Prints `listening <port>` when ready.
 *
 * It receives the way the agent's data port does: the kernel reads straight into the buffer
 * (socket `onread`). Node offers `onread` only on sockets it creates, so an accepted
 * connection's handle is moved onto a new socket, as the agent does; where that is not
 * possible it falls back to copying each 'data' chunk in.
 */
import net from 'node:net';
import { ACK, parseByteLength } from './tcp-wire.js';

/** Upper bound for one socket read into the body (the agent and the SDK use the same). */
const MAX_READ_BYTES = 8 * 1024 * 1024;
/** Reads after the body (the client's one-byte request) land here. */
const SCRATCH_BYTES = 64;

const byteLength = parseByteLength(process.argv[2]);
const body = Buffer.alloc(byteLength);

function serve(accepted: net.Socket): void {
  let received = 0;
  const scratch = Buffer.alloc(SCRATCH_BYTES);
  /** Counts `bytesRead` new body bytes (or a request, once the body is in). */
  const onBytes = (socket: net.Socket, bytesRead: number) => {
    if (received < byteLength) {
      received += bytesRead;
      if (received === byteLength) socket.write(ACK);
      return;
    }
    socket.write(body);
  };
  const direct = withDirectReads(accepted, {
    buffer: () => (received < byteLength ? body.subarray(received, Math.min(byteLength, received + MAX_READ_BYTES)) : scratch),
    callback: (bytesRead) => {
      onBytes(socket, bytesRead);
      return true;
    },
  });
  const socket = direct ?? accepted;
  if (direct === undefined) {
    // The client sends exactly the body, then waits for the ACK: a chunk never runs past it.
    socket.on('data', (chunk: Buffer) => {
      if (received < byteLength) body.set(chunk, received);
      onBytes(socket, chunk.length);
    });
    socket.resume();
  }
  socket.setNoDelay(true);
  socket.on('error', () => socket.destroy());
}

interface DirectReads {
  buffer: () => Uint8Array;
  callback: (bytesRead: number) => boolean;
}

/** The accepted connection's handle on a new socket that reads with `onread`, or undefined. */
function withDirectReads(accepted: net.Socket, onread: DirectReads): net.Socket | undefined {
  const internals = accepted as unknown as { _handle?: unknown };
  const handle = internals._handle;
  if (handle === undefined || handle === null) return undefined;
  internals._handle = null;
  accepted.destroy();
  const socket = new net.Socket({ handle, readable: true, writable: true, onread } as unknown as net.SocketConstructorOpts);
  socket.resume();
  return socket;
}

const server = net.createServer({ pauseOnConnect: true }, serve);
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening ${(server.address() as net.AddressInfo).port}\n`);
});
