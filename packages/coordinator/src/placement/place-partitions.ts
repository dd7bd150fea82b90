import { AgentHeap } from './agent-heap.js';
import { InsufficientMemoryError, NoAgentsError, InvalidArgumentError, formatBytes, reservedBytesOf, type PartitionMeta } from '@sharc/protocol';

/** Default partition size when the caller does not choose a count: big enough that per-partition overhead vanishes. */
export const DEFAULT_PARTITION_BYTES = 256 * 1024 * 1024;

export interface AgentCapacity {
  id: string;
  /** Room left under the agent's limit; a partition takes reservedBytesOf(byteLength) of it, as the agent counts it. */
  freeBytes: number;
}

export interface PlacementRequest {
  rows: number;
  rowBytes: number;
  /** Requested partition count; default: one per agent, more when partitions would exceed DEFAULT_PARTITION_BYTES. */
  partitions?: number;
}

/**
 * Splits `rows` into contiguous row ranges (a row is never split) and gives each to the agent
 * with room for it whose free memory the array fills least so far (the roomiest on a tie):
 * agents fill in proportion to their free memory, so an agent with less gets fewer partitions,
 * yet a small array spreads over every agent (its jobs run on all of them) even when their
 * free memory differs a little. Refuses, before anything is allocated, a request the agents
 * cannot hold.
 */
export function placePartitions(request: PlacementRequest, agents: AgentCapacity[]): PartitionMeta[] {
  if (agents.length === 0) {
    throw new NoAgentsError('no agent is registered: start one (sharc agent --servers URL), or use the embedded cluster', {
      retryable: true,
    });
  }
  // The rows alone: a lower bound of what the partitions reserve (placeInto checks each one).
  const totalBytes = request.rows * request.rowBytes;
  const freeBytes = agents.reduce((sum, agent) => sum + agent.freeBytes, 0);
  if (totalBytes > freeBytes) {
    throw new InsufficientMemoryError(
      `the array needs ${formatBytes(totalBytes)} but the cluster's ${agents.length} ${agents.length === 1 ? 'agent has' : 'agents have'} ${formatBytes(freeBytes)} free: ` +
        'delete arrays you no longer need, add agents, or raise their --memory',
      { details: { neededBytes: totalBytes, freeBytes } },
    );
  }
  // With the default count, agents of unequal free memory may fit the array only in finer
  // pieces: split further (up to one row per partition) before giving up.
  let count = partitionCount(request, agents.length);
  for (;;) {
    try {
      return placeInto(count, request, agents);
    } catch (error) {
      const finer = Math.min(request.rows, count * 2);
      if (request.partitions !== undefined || !(error instanceof InsufficientMemoryError) || finer === count) throw error;
      count = finer;
    }
  }
}

function placeInto(count: number, request: PlacementRequest, agents: AgentCapacity[]): PartitionMeta[] {
  const start = agents.map((agent) => agent.freeBytes);
  const free = [...start];
  // The share of its free memory the array already takes on each: the lower one gets it, then
  // the roomiest, then the first listed.
  const filled = (i: number) => (start[i]! > 0 ? (start[i]! - free[i]!) / start[i]! : 1);
  const before = (a: number, b: number) => {
    const fa = filled(a);
    const fb = filled(b);
    return fa < fb || (fa === fb && (free[a]! > free[b]! || (free[a] === free[b] && a < b)));
  };
  const heap = new AgentHeap(agents.keys(), before);
  const partitions: PartitionMeta[] = [];
  for (let index = 0; index < count; index++) {
    const rowStart = Math.floor((index * request.rows) / count);
    const rowCount = Math.floor(((index + 1) * request.rows) / count) - rowStart;
    const byteLength = rowCount * request.rowBytes;
    const reserved = reservedBytesOf(byteLength);
    const best = takeFirst(heap, (i) => free[i]! >= reserved);
    if (best === undefined) {
      throw new InsufficientMemoryError(
        `no agent has ${formatBytes(reserved)} free for partition ${index}: use more partitions or add agents`,
        { details: { neededBytes: reserved } },
      );
    }
    free[best] = free[best]! - reserved;
    heap.push(best);
    partitions.push({ index, rowStart, rowCount, byteLength, agentId: agents[best]!.id });
  }
  return partitions;
}

/**
 * A file-backed array's partitions: the row ranges placePartitions would cut, given to the
 * agents in turn, those serving fewest partitions of other arrays first (`load`). They take no
 * memory (the rows stay in the file), so only their number is spread.
 */
export function placeRowRanges(request: PlacementRequest, agentIds: string[], load: ReadonlyMap<string, number>): PartitionMeta[] {
  if (agentIds.length === 0) {
    throw new NoAgentsError('no agent is registered: start one (sharc agent --servers URL), or use the embedded cluster', { retryable: true });
  }
  const order = [...agentIds].sort((a, b) => (load.get(a) ?? 0) - (load.get(b) ?? 0));
  const count = partitionCount(request, order.length);
  const partitions: PartitionMeta[] = [];
  for (let index = 0; index < count; index++) {
    const rowStart = Math.floor((index * request.rows) / count);
    const rowCount = Math.floor(((index + 1) * request.rows) / count) - rowStart;
    partitions.push({ index, rowStart, rowCount, byteLength: rowCount * request.rowBytes, agentId: order[index % order.length]! });
  }
  return partitions;
}

/**
 * Pops the first agent in heap order that `fits`, putting back those skipped (their order is
 * unchanged); the caller pushes the one taken back once its key has changed.
 */
function takeFirst(heap: AgentHeap, fits: (i: number) => boolean): number | undefined {
  const skipped: number[] = [];
  let found: number | undefined;
  for (let i = heap.pop(); i !== undefined; i = heap.pop()) {
    if (fits(i)) {
      found = i;
      break;
    }
    skipped.push(i);
  }
  for (const i of skipped) heap.push(i);
  return found;
}

function partitionCount(request: PlacementRequest, agentCount: number): number {
  if (request.partitions !== undefined) {
    if (!Number.isInteger(request.partitions) || request.partitions < 1) {
      throw new InvalidArgumentError(`partitions must be a positive integer, got ${request.partitions}`);
    }
    return Math.max(1, Math.min(request.partitions, request.rows));
  }
  const bySize = Math.ceil((request.rows * request.rowBytes) / DEFAULT_PARTITION_BYTES);
  return Math.max(1, Math.min(Math.max(agentCount, bySize), request.rows));
}

/**
 * Gives each partition `copies - 1` replicas, each on a different agent than the partition's
 * other copies, on the agent with the most room left. Agents with equal room are taken in an
 * order drawn again each time one takes a replica (see tieOrder), not in the order they are listed: with a fixed order, the copies of one agent's partitions all
 * landed on its neighbour in that order, and agents that registered together (one process of
 * 100 agents killed) held each other's copies, so one death of a process lost partitions that
 * two copies should have kept. With fewer alive agents than copies, each partition gets as
 * many copies as there are agents. Refuses, before anything is allocated, copies the agents
 * cannot hold.
 */
export function addReplicas(partitions: PartitionMeta[], agents: AgentCapacity[], copies: number): PartitionMeta[] {
  const replicasEach = Math.min(copies, agents.length) - 1;
  if (replicasEach <= 0) return partitions;
  const position = new Map(agents.map((agent, i) => [agent.id, i]));
  const free = agents.map((agent) => agent.freeBytes);
  for (const p of partitions) {
    const i = position.get(p.agentId);
    if (i !== undefined) free[i] = free[i]! - reservedBytesOf(p.byteLength);
  }
  // The roomiest agent first; on a tie, the lower draw (drawn again each time an agent takes a replica).
  const draw = agents.map((_, i) => tieOrder(i, 0, agents.length));
  const turns = agents.map(() => 0);
  const heap = new AgentHeap(agents.keys(), (a, b) => free[a]! > free[b]! || (free[a] === free[b] && (draw[a]! < draw[b]! || (draw[a] === draw[b] && a < b))));
  return partitions.map((partition) => {
    const reserved = reservedBytesOf(partition.byteLength);
    const replicas: string[] = [];
    for (let r = 0; r < replicasEach; r++) {
      const taken = new Set([partition.agentId, ...replicas]);
      const best = takeFirst(heap, (i) => !taken.has(agents[i]!.id) && free[i]! >= reserved);
      if (best === undefined) {
        throw new InsufficientMemoryError(
          `${replicasEach + 1} copies of partition ${partition.index} (${formatBytes(partition.byteLength)} each) do not fit on ` +
            `${agents.length} agents`,
          {
            details: { neededBytes: reserved, copies: replicasEach + 1 },
            fix: { option: 'copies', value: 1, alternative: 'free memory (delete arrays, add agents)', note: "an agent's death then loses the array" },
          },
        );
      }
      free[best] = free[best]! - reserved;
      draw[best] = tieOrder(best, ++turns[best]!, agents.length);
      heap.push(best);
      replicas.push(agents[best]!.id);
    }
    return { ...partition, replicas };
  });
}

/**
 * Where agent `position` (of `count`) stands among agents of equal room when it takes its
 * `turn`-th replica: the agent list rotated by a shift drawn per turn (1 … count - 1). Agents
 * of equal room and equal turns (equal agents, equal partitions: a level) are then visited in
 * rotated order as the partitions' primaries come round in theirs, so the primary on agent j
 * gets its copy on agent j + shift: never on itself (no agent is skipped, so every agent's
 * share stays even), and on another agent at each level (the copies of one agent's partitions
 * spread over many). The same inputs always give the same placement.
 */
function tieOrder(position: number, turn: number, count: number): number {
  const shift = 1 + (mix(turn) % Math.max(1, count - 1));
  return (position - shift + count) % count;
}

/** A well-mixed 32-bit number from a small integer (murmur3's finalizer). */
function mix(value: number): number {
  let h = Math.imul(value + 1, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
