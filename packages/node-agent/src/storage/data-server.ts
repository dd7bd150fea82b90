import type { FileHandle } from 'node:fs/promises';
import net from 'node:net';
import {
  FrameReader,
  encodeFrameHeader,
  parseDataRequest,
  toErrorData,
  type BodySink,
  type DataRequest,
  type Logger,
} from '@sharc/protocol';
import { withDirectReads } from './direct-reads.js';
import type { AgentTally } from '../metrics/agent-tally.js';
import { FILE_CHUNK_BYTES, openBackingFile, readFileRange } from './file-ranges.js';
import type { PartitionStore, Transfer } from './partition-store.js';

const IDLE_TIMEOUT_MS = 120_000;

/**
 * The agent's TCP data port: clients stream partition bytes straight into the partition's
 * SharedArrayBuffer (`write`) and read them back (`read`), without NATS in between. Bytes go
 * from the socket into the shared buffer with one copy, and out of it with none.
 */
export class DataServer {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    private readonly store: PartitionStore,
    private readonly logger: Logger,
    private readonly tally: AgentTally,
  ) {
    this.server = net.createServer({ pauseOnConnect: true }, (socket) => this.accept(socket));
  }

  /** Listens and returns the bound port (`port` 0 picks a free one). */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as net.AddressInfo).port);
      });
    });
  }

  close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(accepted: net.Socket): void {
    const reader = new FrameReader(parseDataRequest, (request) => this.handle(socket, request));
    const refuse = (error: unknown) => {
      this.logger.warn('refused a data request', { remote: socket.remoteAddress, error: (error as Error).message });
      socket.end(encodeFrameHeader({ ok: false, error: toErrorData(error) }));
      socket.destroySoon();
    };
    const direct = withDirectReads(accepted, {
      buffer: () => reader.nextBuffer(),
      callback: (bytesRead) => {
        try {
          reader.commit(bytesRead);
        } catch (error) {
          refuse(error);
        }
        return true;
      },
    });
    const socket = direct ?? accepted;
    if (direct === undefined) {
      socket.on('data', (chunk: Buffer) => {
        try {
          reader.push(chunk);
        } catch (error) {
          refuse(error);
        }
      });
      socket.resume();
    }
    this.sockets.add(socket);
    socket.setNoDelay(true);
    // A peer that stalls without closing must not hold a partition's buffer forever.
    socket.setTimeout(IDLE_TIMEOUT_MS, () => socket.destroy());
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', (error) => this.logger.debug('data connection error', { error: error.message }));
  }

  private handle(socket: net.Socket, request: DataRequest): BodySink {
    const transfer = this.store.openTransfer(request);
    // A connection that breaks off mid-transfer ends its use of the partition, as broken.
    const onClose = () => transfer.done(false);
    socket.once('close', onClose);
    const finish = () => {
      socket.off('close', onClose);
      transfer.done(true);
    };
    if (transfer.kind === 'file') {
      return { target: new Uint8Array(0), end: () => void this.streamFile(socket, transfer, finish) };
    }
    if (request.op === 'write') {
      return {
        target: transfer.bytes,
        end: () => {
          finish();
          this.tally.dataBytesReceived += request.byteLength;
          socket.write(encodeFrameHeader({ ok: true, byteLength: 0 }));
        },
      };
    }
    const { bytes } = transfer;
    return {
      target: new Uint8Array(0),
      end: () => {
        socket.write(encodeFrameHeader({ ok: true, byteLength: request.byteLength }));
        socket.write(bytes, (error) => {
          if (error) return;
          finish();
          this.tally.dataBytesSent += request.byteLength;
        });
      },
    };
  }

  /**
   * A read of a file-backed partition: the range from its file, FILE_CHUNK_BYTES at a time,
   * each chunk read while the one before is being sent, and no more read while the socket
   * holds a chunk it has not sent (memory per transfer: about three chunks, whatever the
   * range). A file that changed is refused before any byte goes (an error frame); one that
   * shrinks mid-range breaks the connection, which the reader sees as a failed read.
   */
  private async streamFile(socket: net.Socket, transfer: Extract<Transfer, { kind: 'file' }>, finish: () => void): Promise<void> {
    let handle: FileHandle;
    try {
      handle = await openBackingFile(transfer.file, transfer.written);
    } catch (error) {
      this.logger.warn('refused a data request', { remote: socket.remoteAddress, error: (error as Error).message });
      socket.end(encodeFrameHeader({ ok: false, error: toErrorData(error) }));
      socket.destroySoon();
      return;
    }
    try {
      const { byteLength, position } = transfer;
      const readChunk = async (offset: number) => {
        const chunk = Buffer.allocUnsafe(Math.min(FILE_CHUNK_BYTES, byteLength - offset));
        await readFileRange(handle, transfer.file, chunk, position + offset);
        return chunk;
      };
      socket.write(encodeFrameHeader({ ok: true, byteLength }));
      let next: Promise<Buffer> | undefined = byteLength > 0 ? readChunk(0) : undefined;
      let sent = 0;
      while (next !== undefined) {
        const chunk = await next;
        sent += chunk.length;
        next = sent < byteLength ? readChunk(sent) : undefined;
        // Not left unhandled while the socket drains; awaited (and thrown) on the next turn.
        next?.catch(() => undefined);
        if (socket.destroyed) return;
        const last = next === undefined;
        const flushed = socket.write(chunk, (error) => {
          if (error || !last) return;
          finish();
          this.tally.dataBytesSent += byteLength;
        });
        if (!flushed && !last) await drained(socket);
      }
      if (byteLength === 0) {
        finish();
      }
    } catch (error) {
      this.logger.warn('a file-backed partition read broke off', { path: transfer.file.path, error: (error as Error).message });
      socket.destroy();
    } finally {
      await handle.close();
    }
  }
}

/** Resolves when the socket wants more (or is gone: the loop then sees it destroyed). */
function drained(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}
