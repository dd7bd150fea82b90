import { compareNatural } from '../dashboard-state.js';

/**
 * One colour per agent, the same in the agents table and every placement map, kept for as long
 * as the page is open (an agent that joins later gets the next one).
 */
const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#b07aa1', '#76b7b2', '#edc948', '#9c755f', '#ff9da7', '#8cd17d', '#86bcb6', '#d37295', '#a0cbe8'];

export class AgentColors {
  private readonly assigned = new Map<string, string>();

  /** Gives colours to agents not seen yet, in name order (agent-2 before agent-10). */
  learn(agentIds: Iterable<string>): void {
    const fresh = [...agentIds].filter((id) => !this.assigned.has(id)).sort(compareNatural);
    for (const id of fresh) this.assigned.set(id, PALETTE[this.assigned.size % PALETTE.length]!);
  }

  of(agentId: string): string {
    if (!this.assigned.has(agentId)) this.learn([agentId]);
    return this.assigned.get(agentId)!;
  }
}
