import { DataConnectionPool } from './data-connections.js';
import type { DataRequest } from './data-plane.js';
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

/** One pool per process: clients, and agents copying partitions from each other, reuse connections. */
const connections = new DataConnectionPool();

function writePartition(agent: AgentInfo, request: Extract<DataRequest, { op: 'write' }>, bytes: Uint8Array, signal?: AbortSignal): Promise<void> {
  return connections.transfer(agent, request, bytes, undefined, signal);
}

function readPartition(agent: AgentInfo, request: Extract<DataRequest, { op: 'read' }>, target: Uint8Array, signal?: AbortSignal): Promise<void> {
  return connections.transfer(agent, request, undefined, target, signal, DATA_READ_IDLE_TIMEOUT_MS);
}
