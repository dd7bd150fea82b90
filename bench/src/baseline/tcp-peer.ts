/**
 * The far end of the raw TCP baseline, run as its own node process like an agent:
 * `node tcp-peer.js <byteLength>`. For each connection it receives exactly `byteLength` bytes
 * into a buffer allocated once at start (copying each chunk in, as the agent's data port does),
 * answers one ACK byte, and on the client's next byte sends the whole buffer back.
 * Prints `listening <port>` when ready.
 */
import net from 'node:net';
import { ACK, parseByteLength } from './tcp-wire.js';

const byteLength = parseByteLength(process.argv[2]);
const body = Buffer.alloc(byteLength);

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  let received = 0;
  socket.on('data', (chunk: Buffer) => {
    if (received < byteLength) {
      if (chunk.length > byteLength - received) {
        socket.destroy(new Error(`client sent ${received + chunk.length} bytes, expected ${byteLength}`));
        return;
      }
      body.set(chunk, received);
      received += chunk.length;
      if (received === byteLength) socket.write(ACK);
      return;
    }
    socket.write(body);
  });
  socket.on('error', () => socket.destroy());
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening ${(server.address() as net.AddressInfo).port}\n`);
});
