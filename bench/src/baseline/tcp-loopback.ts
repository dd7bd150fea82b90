import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { stopProcess } from '@sharc/test-support';
import { SEND_BACK } from './tcp-wire.js';

const PEER_FILE = new URL('./tcp-peer.js', import.meta.url);
const PEER_READY_TIMEOUT_MS = 10_000;
const HOST = '127.0.0.1';
/** The ACK is one byte; it is read into its own small buffer. */
const ACK_SCRATCH_BYTES = 64;
/** Upper bound for one socket read into the target (the SDK uses the same). */
const MAX_READ_BYTES = 8 * 1024 * 1024;

export interface RoundTrip {
  /** From connecting to the peer's ACK (every byte stored on the other side). */
  uploadMs: number;
  /** From asking for the bytes to holding the last of them. */
  downloadMs: number;
}

/**
 * The transfer baseline: plain node sockets on loopback to a separate node process, no
 * framing, no control messages. One connection per round trip, like sharc's data port.
 */
export class TcpLoopbackPeer {
  private constructor(
    private readonly child: ChildProcess,
    private readonly port: number,
    readonly byteLength: number,
  ) {}

  static async start(byteLength: number): Promise<TcpLoopbackPeer> {
    const child = spawn(process.execPath, [fileURLToPath(PEER_FILE), String(byteLength)], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      return new TcpLoopbackPeer(child, await readyPort(child), byteLength);
    } catch (error) {
      await stopProcess(child);
      throw error;
    }
  }

  /**
   * Sends `source` to the peer and receives it back into `target` (allocated once by the
   * caller). Reads land straight in `target` (socket `onread`), as the SDK's toArray does.
   */
  roundTrip(source: Buffer, target: Buffer): Promise<RoundTrip> {
    const { byteLength } = this;
    if (source.length !== byteLength || target.length !== byteLength) {
      throw new RangeError(`source and target must be ${byteLength} bytes`);
    }
    return new Promise((resolve, reject) => {
      const ackScratch = Buffer.alloc(ACK_SCRATCH_BYTES);
      const start = performance.now();
      let uploadMs = Number.NaN;
      let downloadStart = Number.NaN;
      let received = -1; // -1 until the ACK has arrived
      let done = false;
      const socket = net.connect({
        host: HOST,
        port: this.port,
        noDelay: true,
        onread: {
          buffer: () => (received < 0 ? ackScratch : target.subarray(received, Math.min(byteLength, received + MAX_READ_BYTES))),
          callback: (bytesRead: number) => {
            if (received < 0) {
              uploadMs = performance.now() - start;
              received = 0;
              downloadStart = performance.now();
              socket.write(SEND_BACK);
              return true;
            }
            received += bytesRead;
            if (received === byteLength) {
              const downloadMs = performance.now() - downloadStart;
              done = true;
              socket.destroy();
              resolve({ uploadMs, downloadMs });
            }
            return true;
          },
        },
      });
      socket.on('connect', () => socket.write(source));
      socket.on('error', (error) => {
        done = true;
        reject(error);
      });
      socket.on('close', () => {
        if (!done) reject(new Error(`raw TCP peer closed the connection after ${received} bytes`));
      });
    });
  }

  stop(): Promise<void> {
    return stopProcess(this.child);
  }
}

function readyPort(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => finish(new Error(`raw TCP peer not ready within ${PEER_READY_TIMEOUT_MS} ms`)), PEER_READY_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      const match = /listening (\d+)/.exec(seen);
      if (match?.[1] !== undefined) finish(undefined, Number(match[1]));
    };
    const onExit = (code: number | null) => finish(new Error(`raw TCP peer exited (code ${code}) before it was ready`));
    const finish = (error: Error | undefined, port?: number) => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      if (port !== undefined) resolve(port);
      else reject(error);
    };
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
}
