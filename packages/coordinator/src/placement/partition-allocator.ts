import {
  CONTROL_TIMEOUT_MS,
  ConnectionError,
  TimeoutError,
  bytesPerElement,
  colsOf,
  holdersOf,
  reservedBytesOf,
  rowsOf,
  subjectFor,
  toErrorData,
  type AgentInfo,
  type ArrayMeta,
  type DType,
  type Logger,
  type MessageBus,
  type Outgoing,
  type PartitionMeta,
  type Shape,
} from '@sharc/protocol';
import { randomBytes } from 'node:crypto';
import type { AgentRegistry } from '../registry/agent-registry.js';
import { balancePrimaries, type ServingCounts } from './balance-primaries.js';
import { addReplicas, placePartitions } from './place-partitions.js';

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

/**
 * Puts placed partitions into effect on the agents: books their memory in the registry,
 * sends the allocation (or load, seal, free) messages, and undoes everything on failure.
 */
export class PartitionAllocator {
  /** Control requests on their way, by agent. */
  private readonly inFlight = new Map<string, number>();

  constructor(
    private readonly bus: MessageBus,
    private readonly agents: AgentRegistry,
    private readonly cluster: string,
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
   * Sends one allocation message per copy of each partition. Memory is booked first so
   * concurrent puts cannot both claim it; on any failure everything allocated is freed again.
   */
  async allocate(
    meta: ArrayMeta,
    messageFor: (p: PartitionMeta) => Outgoing,
    timeoutFor: (p: PartitionMeta) => number = () => CONTROL_TIMEOUT_MS,
    onEach: (p: PartitionMeta) => void = () => undefined,
  ): Promise<void> {
    const copies = meta.partitions.flatMap((p) => holdersOf(p).map((agentId) => ({ p, agentId })));
    for (const { p, agentId } of copies) this.agents.book(agentId, p.byteLength, 1);
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
        this.agents.book(agentId, p.byteLength, 1);
        let list = byAgent.get(agentId);
        if (list === undefined) byAgent.set(agentId, (list = []));
        list.push(p);
      }
    }
    const batches: Array<{ agentId: string; partitions: PartitionMeta[] }> = [];
    for (const [agentId, partitions] of byAgent) {
      for (let start = 0; start < partitions.length; start += ALLOCATE_BATCH) batches.push({ agentId, partitions: partitions.slice(start, start + ALLOCATE_BATCH) });
    }
    const { id: arrayId, dtype, shape } = meta;
    const results = await Promise.allSettled(
      batches.map(({ agentId, partitions }) =>
        this.callAgent(agentId, { type: 'partitions.allocate', arrayId, dtype, shape, partitions, ...(transferToken === undefined ? {} : { transferToken }) }),
      ),
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
        if (!lost.has(p.index)) this.agents.book(agentId, p.byteLength, -1);
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
  async tellAgentsOf(meta: ArrayMeta, message: Outgoing): Promise<void> {
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

  /** Books and allocates one copy of one partition on `agentId` (recovery); unbooks it if that fails. */
  async allocateCopy(agentId: string, arrayId: string, partition: PartitionMeta, message: Outgoing, timeoutMs = CONTROL_TIMEOUT_MS): Promise<void> {
    this.agents.book(agentId, partition.byteLength, 1);
    try {
      await this.callAgent(agentId, message, timeoutMs);
    } catch (error) {
      await this.releaseCopy(agentId, arrayId, partition);
      throw error;
    }
  }

  /** Unbooks one copy of one partition and, if its agent is alive, frees it there. */
  async releaseCopy(agentId: string, arrayId: string, partition: PartitionMeta): Promise<void> {
    this.agents.book(agentId, partition.byteLength, -1);
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

  /**
   * A control request to one agent. It fails at once, retryably, for an agent declared dead,
   * and as soon as the agent is declared dead while it waits: an agent killed after it got the
   * request never answers, and the caller (a put, a map, a delete) would otherwise wait out
   * the whole timeout.
   */
  private async callAgent(agentId: string, message: Outgoing, timeoutMs = CONTROL_TIMEOUT_MS): Promise<void> {
    const died = () => new ConnectionError(`agent ${agentId} died before it answered ${message.type}`, { retryable: true, details: { agentId } });
    if (!this.agents.isAlive(agentId)) throw died();
    const death = this.agents.untilDead(agentId);
    this.inFlight.set(agentId, (this.inFlight.get(agentId) ?? 0) + 1);
    try {
      await Promise.race([this.ask(agentId, message, timeoutMs), death.dead.then(() => Promise.reject(died()))]);
    } finally {
      death.forget();
      const left = (this.inFlight.get(agentId) ?? 1) - 1;
      if (left === 0) this.inFlight.delete(agentId);
      else this.inFlight.set(agentId, left);
    }
  }

  /** Whether a control request to the agent is on its way (what it holds may be changing). */
  busyWith(agentId: string): boolean {
    return this.inFlight.has(agentId);
  }

  /**
   * Sends a control request. One that the agent may receive twice safely (it answers at once
   * and a repeat changes nothing) is sent again when no answer comes within
   * RESEND_AFTER_MS or nobody listens: the request or its reply may have been lost while NATS
   * was away (NATS core delivers at most once). Others wait for their one answer.
   */
  private async ask(agentId: string, message: Outgoing, timeoutMs: number): Promise<void> {
    const subject = this.agentSubject(agentId);
    if (!RESENDABLE.has(message.type)) {
      await this.bus.call(subject, message, 'ok', { timeoutMs });
      return;
    }
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = deadline - Date.now();
      try {
        await this.bus.call(subject, message, 'ok', { timeoutMs: Math.max(1, Math.min(left, RESEND_AFTER_MS)) });
        return;
      } catch (error) {
        const lost = (error instanceof TimeoutError || error instanceof ConnectionError) && error.retryable;
        if (!lost || Date.now() + RESEND_PAUSE_MS >= deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, RESEND_PAUSE_MS).unref());
      }
    }
  }

  agentSubject(agentId: string): string {
    return subjectFor(this.cluster, { to: 'agent', agentId, verb: 'control' });
  }
}

/**
 * Control requests an agent may get twice: allocating what it has returns it, seal and free
 * repeat as no-ops, and a load or fetch sent again answers with the copy being made (or made).
 */
const RESENDABLE: ReadonlySet<string> = new Set(['partition.allocate', 'partitions.allocate', 'partition.seal', 'partition.free', 'partition.load', 'partition.fetch']);
/**
 * Partitions in one partitions.allocate message: about 100 bytes each, so a message stays
 * well under the 1 MiB max_payload a stock nats-server has, and an agent's event loop is
 * never held long by one.
 */
const ALLOCATE_BATCH = 4096;
/** How long to wait for the answer to a resendable request before sending it again. */
const RESEND_AFTER_MS = 3_000;
/** Pause before sending again a request nobody answered (the agent may be resubscribing after NATS was away). */
const RESEND_PAUSE_MS = 250;

export function newArrayId(): string {
  return randomBytes(8).toString('hex');
}
