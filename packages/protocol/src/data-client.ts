import net from 'node:net';
import { FrameReader, encodeFrameHeader, parseDataReply, type DataReply, type DataRequest } from './data-plane.js';
import { ConnectionError, fromErrorData } from './errors.js';
import type { AgentInfo } from './messages.js';
import { DATA_READ_IDLE_TIMEOUT_MS } from './timeouts.js';

/**
 * The client side of an agent's TCP data port (see data-plane.ts): streams partition bytes to
 * the agent, or reads them back straight into the caller's buffer. Clients use it, and agents
 * too, to copy a partition from another agent.
 */

/** Moves partition bytes between this client and the agents. */
export interface DataPlane {
  /** Writes `bytes` into a partition; resolves when the agent has stored all of them. */
  write(agent: AgentInfo, request: Extract<DataRequest, { op: 'write' }>, bytes: Uint8Array, signal?: AbortSignal): Promise<void>;
  /**
   * Reads a partition's bytes into `target` (exactly `request.byteLength` long). Fails with a
   * retryable ConnectionError naming the agent when nothing arrives for DATA_READ_IDLE_TIMEOUT_MS.
   */
  read(agent: AgentInfo, request: Extract<DataRequest, { op: 'read' }>, target: Uint8Array, signal?: AbortSignal): Promise<void>;
}

/** The data plane of a real cluster: a TCP connection to each agent's data port. */
export const tcpDataPlane: DataPlane = { write: writePartition, read: readPartition };

function writePartition(agent: AgentInfo, request: Extract<DataRequest, { op: 'write' }>, bytes: Uint8Array, signal?: AbortSignal): Promise<void> {
  return exchange(agent, request, (socket) => socket.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)), undefined, signal);
}

function readPartition(agent: AgentInfo, request: Extract<DataRequest, { op: 'read' }>, target: Uint8Array, signal?: AbortSignal): Promise<void> {
  return exchange(agent, request, () => undefined, target, signal, DATA_READ_IDLE_TIMEOUT_MS);
}

function exchange(
  agent: AgentInfo,
  request: DataRequest,
  sendBody: (socket: net.Socket) => void,
  target: Uint8Array | undefined,
  signal: AbortSignal | undefined,
  /** Reads: fail when no byte moves for this long (a write's body may sit in socket buffers as long as the network takes). */
  idleMs?: number,
): Promise<void> {
  const address = `${agent.dataHost}:${agent.dataPort}`;
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    /** The connection opening, then each socket read: the idle timeout's evidence of life. */
    let progress = 0;
    // Aborting closes the socket at once: no byte moves after the caller has given up.
    const onAbort = () => settle(signal?.reason instanceof Error ? signal.reason : new ConnectionError('data transfer aborted'));
    const settle = (error?: Error) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      if (error === undefined) resolve();
      else reject(error);
    };
    if (signal?.aborted) {
      reject(signal.reason instanceof Error ? signal.reason : new ConnectionError('data transfer aborted'));
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    const reader = new FrameReader<DataReply>(parseDataReply, (reply) => {
      if (!reply.ok) throw fromErrorData(reply.error);
      if (reply.byteLength !== (target?.length ?? 0)) {
        throw new ConnectionError(`agent ${agent.id} sent ${reply.byteLength} bytes, expected ${target?.length ?? 0}`);
      }
      return { target: target ?? new Uint8Array(0), end: () => settle() };
    });
    // The reply body is read by the kernel straight into `target` (socket onread): no
    // intermediate chunks, no copy in JavaScript.
    const socket = net.connect({
      host: agent.dataHost,
      port: agent.dataPort,
      noDelay: true,
      onread: {
        buffer: () => reader.nextBuffer(),
        callback: (bytesRead: number) => {
          if (settled) return false;
          progress++;
          try {
            reader.commit(bytesRead);
          } catch (error) {
            settle(error as Error);
          }
          return true;
        },
      },
    });
    if (idleMs !== undefined) {
      // A paused agent's kernel still accepts the connection and the request: only silence tells.
      // The verdict waits one turn of the event loop: when this process itself was stopped,
      // the timer runs before the connection or the bytes that came meanwhile are seen.
      socket.setTimeout(idleMs, () => {
        const before = progress;
        setImmediate(() => {
          if (progress !== before) return;
          settle(
            new ConnectionError(
              `agent ${agent.id} at ${address} sent nothing for ${idleMs / 1000} s while partition ${request.partitionIndex} of array ${request.arrayId} was read from it: it is paused, overloaded or cut off`,
              { retryable: true, details: { agentId: agent.id } },
            ),
          );
        });
      });
    }
    socket.on('connect', () => {
      progress++;
      socket.write(encodeFrameHeader(request));
      sendBody(socket);
    });
    socket.on('error', (error) =>
      // A refused write is answered with an error frame and a close; prefer that frame, which
      // arrives before the close, over the write error it may cause here.
      setImmediate(() =>
        settle(new ConnectionError(`data transfer with agent ${agent.id} at ${address} failed: ${error.message}`, { cause: error, retryable: true })),
      ),
    );
    socket.on('close', () =>
      settle(new ConnectionError(`agent ${agent.id} at ${address} closed the data connection early`, { retryable: true })),
    );
  });
}
