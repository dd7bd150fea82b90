import { CONTROL_TIMEOUT_MS, holdersOf, toErrorData, type AgentInfo, type Logger, type MessageBus, type MessageOf } from '@sharc/protocol';
import type { PartitionAllocator } from '../placement/partition-allocator.js';
import type { PartitionRecovery } from '../recovery/partition-recovery.js';
import type { StateStore } from '../state/state-store.js';
import type { AgentRegistry } from './agent-registry.js';
import type { ArrayCatalog } from './array-catalog.js';

/** Heartbeats in a row (a second apart) an agent may hold more than the catalog places on it before it is told what counts. */
const SURPLUS_HEARTBEATS = 3;
/**
 * How old the count of partitions placed on each agent may be when a heartbeat is checked
 * against it. Counted for every agent in one pass over the catalog, at most this often:
 * counting per heartbeat cost O(partitions) each, and at 1,000 agents (a heartbeat a
 * millisecond) it took the whole event loop. Under a heartbeat period, so no two heartbeats
 * of one agent in a row are judged on the same count: a count from just before a change
 * can add one strike, never SURPLUS_HEARTBEATS.
 */
const PLACED_COUNT_MAX_AGE_MS = 500;

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
  private placedCounts: { at: number; byAgent: Map<string, number> } | undefined;

  constructor(private readonly deps: MembershipDeps) {}

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

  /** Copies of partitions (none lost for good) the catalog places on the agent: see PLACED_COUNT_MAX_AGE_MS. */
  private placedOn(agentId: string): number {
    const now = Date.now();
    if (this.placedCounts === undefined || now - this.placedCounts.at >= PLACED_COUNT_MAX_AGE_MS) {
      const byAgent = new Map<string, number>();
      for (const record of this.deps.arrays.all()) {
        const lost = new Set(record.meta.lostPartitions ?? []);
        for (const partition of record.meta.partitions) {
          if (lost.has(partition.index)) continue;
          for (const id of holdersOf(partition)) byAgent.set(id, (byAgent.get(id) ?? 0) + 1);
        }
      }
      this.placedCounts = { at: now, byAgent };
    }
    return this.placedCounts.byAgent.get(agentId) ?? 0;
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

