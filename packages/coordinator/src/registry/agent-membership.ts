import { CONTROL_TIMEOUT_MS, toErrorData, type AgentInfo, type Logger, type MessageBus, type MessageOf } from '@sharc/protocol';
import type { PartitionAllocator } from '../placement/partition-allocator.js';
import type { PartitionRecovery } from '../recovery/partition-recovery.js';
import type { StateStore } from '../state/state-store.js';
import type { AgentRegistry } from './agent-registry.js';
import type { ArrayCatalog } from './array-catalog.js';

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

  constructor(private readonly deps: MembershipDeps) {}

  heartbeat(message: MessageOf<'agent.heartbeat'>): void {
    // Unknown (this coordinator restarted) or declared dead and back (a network cut healed).
    if (this.deps.agents.heartbeat(message.agentId, message) !== 'alive') this.greet(message.agentId);
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
