import net from 'node:net';
import { FrameReader, encodeFrameHeader, parseDataReply, type DataReply, type DataRequest } from './data-plane.js';
import { ConnectionError, fromErrorData } from './errors.js';
import type { AgentInfo } from './messages.js';

/**
 * Connections to agents' data ports, kept open between transfers: a put or toArray of many
 * small partitions sends one request after another on a few connections per agent, instead of
 * opening and closing a TCP connection per partition (which cost more than moving the bytes
 * and left thousands of sockets in TIME_WAIT). A connection carries one transfer at a time;
 * one that failed in any way is closed, never reused.
 */

/** An idle connection is closed after this long: well before the agent's own idle timeout (120 s). */
const IDLE_CLOSE_MS = 2_000;
/** Idle connections kept per agent address (the SDK runs up to 64 small transfers × 3 copies at once). */
const MAX_IDLE_PER_ADDRESS = 192;

/** One transfer on a connection: its request sent, its reply awaited. */
interface Transfer {
  agent: AgentInfo;
  request: DataRequest;
  target: Uint8Array | undefined;
  resolve(): void;
  reject(error: Error): void;
}

class DataConnection {
  readonly socket: net.Socket;
  private transfer: Transfer | undefined;
  /** Socket reads during the current transfer (the connection opening counts too): evidence of life. */
  progress = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  closed = false;

  constructor(
    readonly address: string,
    private readonly pool: DataConnectionPool,
    connect: (connection: DataConnection) => net.Socket,
  ) {
    this.socket = connect(this);
  }

  /** What the socket's onread callback does with bytes read into reader.nextBuffer(). */
  readonly reader = new FrameReader<DataReply>(parseDataReply, (reply) => {
    const transfer = this.transfer;
    if (transfer === undefined) throw new ConnectionError(`agent at ${this.address} sent a data reply nobody asked for`);
    if (!reply.ok) throw fromErrorData(reply.error);
    const expected = transfer.target?.length ?? 0;
    if (reply.byteLength !== expected) throw new ConnectionError(`agent ${transfer.agent.id} sent ${reply.byteLength} bytes, expected ${expected}`);
    return { target: transfer.target ?? new Uint8Array(0), end: () => this.finish() };
  });

  start(transfer: Transfer, body: Uint8Array | undefined, idleMs: number | undefined): void {
    clearTimeout(this.idleTimer);
    this.transfer = transfer;
    this.progress = 0;
    this.socket.ref();
    this.socket.setTimeout(idleMs ?? 0);
    // Header and body in one system call: a small partition's transfer is mostly its overhead.
    this.socket.cork();
    this.socket.write(encodeFrameHeader(transfer.request));
    if (body !== undefined) this.socket.write(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
    this.socket.uncork();
  }

  /** The reply's body is complete: the transfer succeeded, and the connection goes back to the pool. */
  private finish(): void {
    const transfer = this.transfer;
    this.transfer = undefined;
    this.socket.setTimeout(0);
    this.socket.unref();
    this.pool.release(this);
    transfer?.resolve();
  }

  /** Ends the connection; the transfer on it (if any) fails with `error`. */
  fail(error: Error): void {
    const transfer = this.transfer;
    this.transfer = undefined;
    this.close();
    transfer?.reject(error);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.idleTimer);
    this.pool.forget(this);
    this.socket.destroy();
  }

  get busy(): boolean {
    return this.transfer !== undefined;
  }

  idle(): void {
    this.idleTimer = setTimeout(() => this.close(), IDLE_CLOSE_MS);
    this.idleTimer.unref();
  }
}

/** Open connections to agents' data ports, idle ones by address. */
export class DataConnectionPool {
  private readonly idle = new Map<string, DataConnection[]>();

  /**
   * Runs one transfer: writes `request` (and `body`, for a write) on an idle connection to the
   * agent, or a new one, and resolves once the reply (and a read's bytes, straight into
   * `target`) arrived. Aborting `signal` closes the connection at once.
   */
  transfer(agent: AgentInfo, request: DataRequest, body: Uint8Array | undefined, target: Uint8Array | undefined, signal: AbortSignal | undefined, idleMs?: number): Promise<void> {
    const address = `${agent.dataHost}:${agent.dataPort}`;
    if (signal?.aborted) return Promise.reject(signal.reason instanceof Error ? signal.reason : new ConnectionError('data transfer aborted'));
    return new Promise<void>((resolve, reject) => {
      const connection = this.take(address) ?? this.open(address, agent);
      const onAbort = () => connection.fail(signal?.reason instanceof Error ? signal.reason : new ConnectionError('data transfer aborted'));
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => signal?.removeEventListener('abort', onAbort);
      const transfer: Transfer = {
        agent,
        request,
        target,
        resolve: () => {
          done();
          resolve();
        },
        reject: (error) => {
          done();
          reject(error);
        },
      };
      if (idleMs !== undefined) {
        // A paused agent's kernel still accepts the connection and the request: only silence tells.
        // The verdict waits one turn of the event loop: when this process itself was stopped,
        // the timer runs before the connection or the bytes that came meanwhile are seen.
        connection.socket.removeAllListeners('timeout');
        connection.socket.on('timeout', () => {
          const before = connection.progress;
          setImmediate(() => {
            if (connection.progress !== before || !connection.busy) return;
            connection.fail(
              new ConnectionError(
                `agent ${agent.id} at ${address} sent nothing for ${idleMs / 1000} s while partition ${request.partitionIndex} of array ${request.arrayId} was read from it: it is paused, overloaded or cut off`,
                { retryable: true, details: { agentId: agent.id } },
              ),
            );
          });
        });
      }
      connection.start(transfer, body, idleMs);
    });
  }

  private take(address: string): DataConnection | undefined {
    const idle = this.idle.get(address);
    const connection = idle?.pop();
    if (idle?.length === 0) this.idle.delete(address);
    return connection;
  }

  private open(address: string, agent: AgentInfo): DataConnection {
    return new DataConnection(address, this, (connection) => {
      // The reply body is read by the kernel straight into the transfer's target (socket
      // onread): no intermediate chunks, no copy in JavaScript.
      const socket = net.connect({
        host: agent.dataHost,
        port: agent.dataPort,
        noDelay: true,
        onread: {
          buffer: () => connection.reader.nextBuffer(),
          callback: (bytesRead: number) => {
            if (connection.closed) return false;
            connection.progress++;
            try {
              connection.reader.commit(bytesRead);
            } catch (error) {
              connection.fail(error as Error);
            }
            return true;
          },
        },
      });
      socket.on('connect', () => connection.progress++);
      socket.on('error', (error) =>
        // A refused write is answered with an error frame and a close; prefer that frame, which
        // arrives before the close, over the write error it may cause here.
        setImmediate(() =>
          connection.fail(new ConnectionError(`data transfer with agent ${agent.id} at ${address} failed: ${error.message}`, { cause: error, retryable: true })),
        ),
      );
      socket.on('close', () => connection.fail(new ConnectionError(`agent ${agent.id} at ${address} closed the data connection early`, { retryable: true })));
      return socket;
    });
  }

  /** A connection whose transfer succeeded: kept for the next one (closed after IDLE_CLOSE_MS unused). */
  release(connection: DataConnection): void {
    if (connection.closed) return;
    const idle = this.idle.get(connection.address) ?? [];
    if (idle.length >= MAX_IDLE_PER_ADDRESS) {
      connection.close();
      return;
    }
    idle.push(connection);
    this.idle.set(connection.address, idle);
    connection.idle();
  }

  /** A connection that closed: no longer offered. */
  forget(connection: DataConnection): void {
    const idle = this.idle.get(connection.address);
    if (idle === undefined) return;
    const at = idle.indexOf(connection);
    if (at >= 0) idle.splice(at, 1);
    if (idle.length === 0) this.idle.delete(connection.address);
  }
}
