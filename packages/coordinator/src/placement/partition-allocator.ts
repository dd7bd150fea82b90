import {
  CONTROL_TIMEOUT_MS,
  bytesPerElement,
  colsOf,
  holdersOf,
  reservedBytesOf,
  rowsOf,
  toErrorData,
  type AgentInfo,
  type ArrayMeta,
  type BackingFile,
  type DType,
  type Logger,
  type PartitionMeta,
  type Request,
  type Shape,
} from '@sharc/protocol';
import { randomBytes } from 'node:crypto';
import type { AgentClient, ControlRequestType } from '../agents/agent-client.js';
import type { AgentRegistry } from '../registry/agent-registry.js';
import { balancePrimaries, type ServingCounts } from './balance-primaries.js';
import { addReplicas, placePartitions, placeRowRanges } from './place-partitions.js';

/**
 * What a partition of `meta` takes of its agent's memory limit, as the agent counts it: its
 * bytes (see AgentRegistry.book), or nothing for a file-backed array (its rows stay in the file).
 */
export function heldBytes(meta: { file?: BackingFile | undefined }, partition: { byteLength: number }): number {
  return meta.file === undefined ? partition.byteLength : 0;
}

/**
 * Places the partitions of a new array where a stored array with the same row ranges has
 * its partitions (`template`: their serving agents), wherever that agent is alive and has
 * room: two arrays put alike then meet row for row on one agent, so a binary op or `dot`
 * over them reads both in place and moves no byte. Partitions whose template agent cannot
 * take them keep the placement they were given.
 */
export function alignWith(placed: PartitionMeta[], template: string[] | undefined, agents: ReadonlyArray<{ id: string; freeBytes: number }>): PartitionMeta[] {
  if (template === undefined || template.length !== placed.length) return placed;
  const free = new Map(agents.map((a) => [a.id, a.freeBytes]));
  for (const p of placed) free.set(p.agentId, (free.get(p.agentId) ?? 0) - reservedBytesOf(p.byteLength));
  return placed.map((p, i) => {
    const target = template[i]!;
    const room = free.get(target);
    const reserved = reservedBytesOf(p.byteLength);
    if (target === p.agentId || room === undefined || room < reserved) return p;
    free.set(target, room - reserved);
    free.set(p.agentId, free.get(p.agentId)! + reserved);
    return { ...p, agentId: target };
  });
}

/** A request that puts a copy of a partition on an agent. */
type CopyRequest = Request<'partition.allocate' | 'partition.load' | 'partition.fetch'>;

/**
 * Puts placed partitions into effect on the agents: books their memory in the registry,
 * sends the allocation (or load, seal, free) messages, and undoes everything on failure.
 */
export class PartitionAllocator {
  constructor(
    private readonly client: AgentClient,
    private readonly agents: AgentRegistry,
    private readonly logger: Logger,
    /** Partitions each agent serves of the arrays already stored: the tie-break for a new array's primaries. */
    private readonly servingLoad: () => ServingCounts = () => new Map(),
    /** The serving agents of a stored array whose partitions have exactly these row ranges, if any (see alignWith). */
    private readonly layoutLike: (ranges: ReadonlyArray<{ rowStart: number; rowCount: number }>) => string[] | undefined = () => undefined,
  ) {}

  /**
   * A new array's metadata, its partitions placed on the alive agents with room, each with
   * `copies - 1` replicas on other agents (fewer when fewer agents are alive), and the serving
   * copies spread evenly over the agents holding copies.
   */
  place(name: string, dtype: DType, shape: Shape, partitions: number | undefined, copies = 1): ArrayMeta {
    const agents = this.agents.alive().map((a) => ({ id: a.id, freeBytes: this.agents.freeBytes(a.id) }));
    const placed = placePartitions(
      { rows: rowsOf(shape), rowBytes: colsOf(shape) * bytesPerElement(dtype), ...(partitions === undefined ? {} : { partitions }) },
      agents,
    );
    const aligned = alignWith(placed, this.layoutLike(placed), agents);
    const balanced = balancePrimaries(addReplicas(aligned, agents, copies), { servedElsewhere: this.servingLoad() });
    return { id: newArrayId(), name, dtype, shape, partitions: balanced, createdAt: Date.now() };
  }

  /**
   * A new file-backed array's metadata: its row ranges (cut as for a resident array) spread
   * over the alive agents by count, since they take no memory; one copy each (the file is
   * where a lost partition's rows are, so any agent can serve it again at once).
   */
  placeFileBacked(name: string, dtype: DType, shape: Shape, partitions: number | undefined, file: BackingFile): ArrayMeta {
    const placed = placeRowRanges(
      { rows: rowsOf(shape), rowBytes: colsOf(shape) * bytesPerElement(dtype), ...(partitions === undefined ? {} : { partitions }) },
      this.agents.alive().map((a) => a.id),
      this.servingLoad(),
    );
    return { id: newArrayId(), name, dtype, shape, partitions: placed, createdAt: Date.now(), file };
  }

  /**
   * Sends one allocation message per copy of each partition. Memory is booked first so
   * concurrent puts cannot both claim it; on any failure everything allocated is freed again.
   */
  async allocate(
    meta: ArrayMeta,
    messageFor: (p: PartitionMeta) => CopyRequest,
    timeoutFor: (p: PartitionMeta) => number = () => CONTROL_TIMEOUT_MS,
    onEach: (p: PartitionMeta) => void = () => undefined,
  ): Promise<void> {
    const copies = meta.partitions.flatMap((p) => holdersOf(p).map((agentId) => ({ p, agentId })));
    for (const { p, agentId } of copies) this.agents.book(agentId, heldBytes(meta, p), 1);
    const results = await Promise.allSettled(
      copies.map(async ({ p, agentId }) => {
        await this.callAgent(agentId, messageFor(p), timeoutFor(p));
        if (agentId === p.agentId) onEach(p);
      }),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) {
      await this.release(meta);
      throw failed.reason;
    }
  }

  /**
   * Allocates every copy of every partition of a new array (an upload's, with its transfer
   * token, or a map output's): one partitions.allocate message per agent and ALLOCATE_BATCH
   * partitions, so an array of many partitions costs few messages. Memory is booked first so
   * concurrent puts cannot both claim it; on any failure everything allocated is freed again.
   */
  async allocateAll(meta: ArrayMeta, transferToken?: string): Promise<void> {
    const byAgent = new Map<string, PartitionMeta[]>();
    for (const p of meta.partitions) {
      for (const agentId of holdersOf(p)) {
        this.agents.book(agentId, heldBytes(meta, p), 1);
        let list = byAgent.get(agentId);
        if (list === undefined) byAgent.set(agentId, (list = []));
        list.push(p);
      }
    }
    const { id: arrayId, dtype, shape } = meta;
    // One batch after the other on each agent, the agents in parallel: all at once, the last
    // batches would wait behind the others past the agent client's resend time and be sent again, for nothing.
    const results = await Promise.allSettled(
      [...byAgent].map(async ([agentId, partitions]) => {
        for (let start = 0; start < partitions.length; start += ALLOCATE_BATCH) {
          const batch = partitions.slice(start, start + ALLOCATE_BATCH);
          await this.callAgent(agentId, {
            type: 'partitions.allocate',
            arrayId,
            dtype,
            shape,
            partitions: batch,
            ...(transferToken === undefined ? {} : { transferToken }),
            ...(meta.file === undefined ? {} : { file: meta.file }),
          });
        }
      }),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) {
      await this.release(meta);
      throw failed.reason;
    }
  }

  /** Unbooks the array's memory and tells its agents to free it (an agent that does not answer is logged). */
  async release(meta: ArrayMeta): Promise<void> {
    // A partition lost for good is booked nowhere: its agents came back without it.
    const lost = new Set(meta.lostPartitions ?? []);
    const holders = new Set<string>();
    for (const p of meta.partitions) {
      for (const agentId of holdersOf(p)) {
        holders.add(agentId);
        if (!lost.has(p.index)) this.agents.book(agentId, heldBytes(meta, p), -1);
      }
    }
    // A dead agent would only make this wait out the timeout; when it comes back the
    // coordinator's greeting tells it what to keep.
    const alive = [...holders].filter((id) => this.agents.isAlive(id));
    await Promise.all(
      alive.map((id) =>
        this.callAgent(id, { type: 'partition.free', arrayId: meta.id })
          .catch((error: unknown) => this.logger.warn('an agent did not free an array', { arrayId: meta.id, agentId: id, error: toErrorData(error) })),
      ),
    );
  }

  /** Sends `message` once to every agent holding a partition of the array. */
  async tellAgentsOf(meta: ArrayMeta, message: Request<ControlRequestType>): Promise<void> {
    const agentIds = new Set(meta.partitions.flatMap(holdersOf));
    await Promise.all([...agentIds].map((id) => this.callAgent(id, message)));
  }

  /** The agents holding the array's partitions, as clients need them for the data plane. */
  agentsOf(meta: ArrayMeta): AgentInfo[] {
    const ids = new Set(meta.partitions.flatMap(holdersOf));
    return [...ids].flatMap((id) => {
      const info = this.agents.get(id);
      return info === undefined ? [] : [info];
    });
  }

  /**
   * Books and allocates one copy of one partition on `agentId` (recovery); unbooks it if that
   * fails. A copy of a file-backed partition (the message names its `file`) books nothing.
   */
  async allocateCopy(agentId: string, arrayId: string, partition: PartitionMeta, message: CopyRequest, timeoutMs = CONTROL_TIMEOUT_MS): Promise<void> {
    const held = 'file' in message && message.file !== undefined ? 0 : partition.byteLength;
    this.agents.book(agentId, held, 1);
    try {
      await this.callAgent(agentId, message, timeoutMs);
    } catch (error) {
      await this.releaseCopy(agentId, arrayId, partition, held);
      throw error;
    }
  }

  /** Unbooks one copy of one partition (`held`: see heldBytes) and, if its agent is alive, frees it there. */
  async releaseCopy(agentId: string, arrayId: string, partition: PartitionMeta, held = partition.byteLength): Promise<void> {
    this.agents.book(agentId, held, -1);
    if (!this.agents.isAlive(agentId)) return;
    await this.callAgent(agentId, { type: 'partition.free', arrayId, partitionIndex: partition.index })
      .catch((error: unknown) => this.logger.warn('an agent did not free a partition', { arrayId, agentId, partition: partition.index, error: toErrorData(error) }));
  }

  /** The alive agent with the most room for a partition of `byteLength` bytes (reservedBytesOf), other than those in `exclude`. */
  roomiestAgent(byteLength: number, exclude: ReadonlySet<string> = new Set()): string | undefined {
    const reserved = reservedBytesOf(byteLength);
    let best: string | undefined;
    for (const agent of this.agents.alive()) {
      const room = this.agents.freeBytes(agent.id);
      if (exclude.has(agent.id) || room < reserved) continue;
      if (best === undefined || room > this.agents.freeBytes(best)) best = agent.id;
    }
    return best;
  }

  /** A control request to one agent, through the agent client (its policy for dead agents and resends). */
  private async callAgent(agentId: string, message: Request<ControlRequestType>, timeoutMs = CONTROL_TIMEOUT_MS): Promise<void> {
    await this.client.control(agentId, message, { timeoutMs });
  }
}

/**
 * Partitions in one partitions.allocate message: about 100 bytes each, so a message stays
 * well under the 1 MiB max_payload a stock nats-server has, and an agent's event loop is
 * never held long by one.
 */
const ALLOCATE_BATCH = 4096;

export function newArrayId(): string {
  return randomBytes(8).toString('hex');
}
