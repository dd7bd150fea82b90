import { toErrorData, type AgentInfo, type Logger, type MessageOf } from '@sharc/protocol';
import type { AgentClient } from '../agents/agent-client.js';
import type { PartitionRecovery } from '../recovery/partition-recovery.js';
import type { StateStore } from '../state/state-store.js';
import type { AgentRegistry } from './agent-registry.js';
import type { ArrayCatalog } from './array-catalog.js';

/** Heartbeats in a row (a second apart) an agent may hold more than the catalog places on it before it is told what counts. */
const SURPLUS_HEARTBEATS = 3;
export interface MembershipDeps {
  client: AgentClient;
  agents: AgentRegistry;
  arrays: ArrayCatalog;
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
    const settled = !this.deps.client.busyWith(agentId) && (message.tasks?.length ?? 0) === 0 && !this.greeting.has(agentId);
    // Kept by the catalog as placement changes, not counted per heartbeat.
    const placed = settled ? (this.deps.arrays.placedCopies().get(agentId) ?? 0) : 0;
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
        if (!held.has(`${arrayId}#${index}`)) recovery.copyLost(arrayId, index, info.id, this.deps.rejoined());
      }
    }
    // Copies lost with it (or while no agent had room) are made again, on it if it has the
    // room, and it takes its share of the primaries; once the others are back, too.
    void this.deps.rejoined().then(() => recovery.restoreAllCopies());
  }

  private greet(agentId: string): void {
    if (this.greeting.has(agentId)) return;
    this.greeting.add(agentId);
    const { client, arrays, logger } = this.deps;
    // Not alive in the registry (unknown, or declared dead): asked all the same.
    client
      .control(agentId, { type: 'agent.hello', keep: arrays.partitionsOnAgent(agentId) }, { unregistered: true })
      .then((reply) => this.register(reply.agent, reply.holds))
      .catch((error: unknown) => logger.warn('an unknown agent did not answer', { agentId, error: toErrorData(error) }))
      .finally(() => this.greeting.delete(agentId));
  }
}

