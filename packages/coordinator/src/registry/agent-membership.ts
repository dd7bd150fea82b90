import { CONTROL_TIMEOUT_MS, toErrorData, type AgentInfo, type Logger, type MessageBus, type MessageOf } from '@sharc/protocol';
import type { PartitionAllocator } from '../placement/partition-allocator.js';
import type { PartitionRecovery } from '../recovery/partition-recovery.js';
import type { StateStore } from '../state/state-store.js';
import type { AgentRegistry } from './agent-registry.js';
import type { ArrayCatalog, ArrayRecord } from './array-catalog.js';

/** Heartbeats in a row (a second apart) an agent may hold more than the catalog places on it before it is told what counts. */
const SURPLUS_HEARTBEATS = 3;

export interface MembershipDeps {
  bus: MessageBus;
  agents: AgentRegistry;
  arrays: ArrayCatalog;
  placement: PartitionAllocator;
  recovery: PartitionRecovery;
  state: StateStore;
  logger: Logger;
  /** Resolves once a restarted coordinator's agents had their chance to rejoin. */
  rejoined(): Promise<void>;
}

/**
 * Agents joining and rejoining: registrations (with what the agent holds), heartbeats, and
 * the greeting that tells an agent this coordinator does not know, or declared dead, which of
 * its partitions still count before it serves again.
 */
export class AgentMembership {
  private readonly greeting = new Set<string>();
  /** Heartbeats in a row in which an agent held more than placed on it, with nothing on its way. */
  private readonly surplus = new Map<string, number>();

  /** Partitions placed on each agent, as of catalog revision `revision`. */
  private placed: { revision: number; counts: Map<string, number> } | undefined;

  constructor(private readonly deps: MembershipDeps) {}

  /**
   * How many partitions (any copy, none lost for good) the catalog places on the agent:
   * counted for every agent in one pass when the catalog changed, not on every heartbeat of
   * every agent (which walked every partition of the cluster once a second per agent).
   */
  private placedOn(agentId: string): number {
    const { revision } = this.deps.arrays;
    if (this.placed?.revision !== revision) this.placed = { revision, counts: placedCounts(this.deps.arrays.all()) };
    return this.placed.counts.get(agentId) ?? 0;
  }

  heartbeat(message: MessageOf<'agent.heartbeat'>): void {
    // Unknown (this coordinator restarted) or declared dead and back (a network cut healed).
    if (this.deps.agents.heartbeat(message.agentId, message) !== 'alive') return this.greet(message.agentId);
    this.checkHoldings(message);
  }

  /**
   * An agent that holds more partitions than the catalog places on it, heartbeat after
   * heartbeat while nothing that changes what it holds is on its way (no control request, no
   * task), keeps copies nobody will free: a partition.free, or the reply to a copy it made, was
   * lost while NATS was away (NATS core delivers at most once). It is greeted again: told what
   * still counts, it frees the rest.
   */
  private checkHoldings(message: MessageOf<'agent.heartbeat'>): void {
    const { agentId } = message;
    const settled = !this.deps.placement.busyWith(agentId) && (message.tasks?.length ?? 0) === 0 && !this.greeting.has(agentId);
    // Counted once per catalog change (placedOn), not per heartbeat: every agent beats every second.
    const placed = settled ? this.placedOn(agentId) : 0;
    if (!(settled && message.partitions > placed)) {
      this.surplus.delete(agentId);
      return;
    }
    const strikes = (this.surplus.get(agentId) ?? 0) + 1;
    this.surplus.set(agentId, strikes);
    if (strikes < SURPLUS_HEARTBEATS) return;
    this.surplus.delete(agentId);
    this.deps.logger.warn('an agent holds partitions the catalog does not place on it; telling it what counts', { agentId, held: message.partitions, placed });
    this.greet(agentId);
  }

  /**
   * An agent (re)registers with what it holds. Partitions the catalog places on it that it
   * lacks (it restarted with empty memory, say, while the coordinator was down too) are served
   * elsewhere, as if that copy had died with an agent: such a copy will not come back, and a
   * partition whose every copy went that way with no source to rebuild it from is lost for good.
   */
  register(info: AgentInfo, holds: ReadonlyArray<{ arrayId: string; partitions: number[] }> = []): void {
    const { agents, arrays, recovery, state } = this.deps;
    agents.register(info);
    state.saveAgent(info.id);
    const held = new Set(holds.flatMap(({ arrayId, partitions }) => partitions.map((index) => `${arrayId}#${index}`)));
    for (const { arrayId, partitions } of arrays.partitionsOnAgent(info.id)) {
      const record = arrays.find(arrayId);
      if (record === undefined || record.state === 'pending') continue;
      for (const index of partitions) {
        // Judged once the other agents of a restarted coordinator are back: they hold the other copies.
        if (!held.has(`${arrayId}#${index}`)) recovery.copyLost(record, index, info.id, this.deps.rejoined());
      }
    }
    // Copies lost with it (or while no agent had room) are made again, on it if it has the
    // room, and it takes its share of the primaries; once the others are back, too.
    void this.deps.rejoined().then(() => recovery.restoreAllCopies());
  }

  private greet(agentId: string): void {
    if (this.greeting.has(agentId)) return;
    this.greeting.add(agentId);
    const { bus, placement, arrays, logger } = this.deps;
    bus
      .call(placement.agentSubject(agentId), { type: 'agent.hello', keep: arrays.partitionsOnAgent(agentId) }, 'agent.register', { timeoutMs: CONTROL_TIMEOUT_MS })
      .then((reply) => this.register(reply.agent, reply.holds))
      .catch((error: unknown) => logger.warn('an unknown agent did not answer', { agentId, error: toErrorData(error) }))
      .finally(() => this.greeting.delete(agentId));
  }
}

/** How many partitions (any copy, none lost for good) the arrays place on each agent. */
function placedCounts(records: ReadonlyArray<ArrayRecord>): Map<string, number> {
  const counts = new Map<string, number>();
  const add = (agentId: string) => counts.set(agentId, (counts.get(agentId) ?? 0) + 1);
  for (const { meta } of records) {
    const lost = meta.lostPartitions === undefined || meta.lostPartitions.length === 0 ? undefined : new Set(meta.lostPartitions);
    for (const p of meta.partitions) {
      if (lost?.has(p.index) === true) continue;
      add(p.agentId);
      for (const replica of p.replicas ?? []) add(replica);
    }
  }
  return counts;
}
