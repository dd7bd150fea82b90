import { reservedBytesOf, type AgentInfo, type Logger } from '@sharc/protocol';
import type { ClusterEvents } from '../observe/cluster-events.js';
import { LivenessSweep } from './liveness-sweep.js';

export type AgentState = 'alive' | 'dead';

interface AgentRecord {
  info: AgentInfo;
  lastSeen: number;
  state: AgentState;
  /** Bytes of partitions the coordinator has placed on the agent (its own ledger, ahead of heartbeats). */
  placedBytes: number;
  /** When it was declared dead. */
  diedAt?: number;
}

/**
 * The agents of the cluster and whether they are alive: an agent that has not been heard from
 * for `deadAfterMs` is declared dead (and alive again when it comes back).
 */
export class AgentRegistry {
  private readonly agents = new Map<string, AgentRecord>();
  private readonly sweeper: LivenessSweep | undefined;
  /** Woken when their agent is declared dead (see untilDead). */
  private readonly deathWaiters = new Map<string, Set<() => void>>();
  /** Whether this coordinator's connection to NATS is cut now. */
  private cutOff = false;
  /** Until when this coordinator could not hear agents (cut off, without its lease, or not running). */
  private deafUntil = 0;

  constructor(
    private readonly deadAfterMs: number,
    private readonly logger: Logger,
    private readonly onDead: (agentId: string) => void = () => undefined,
    private readonly active: () => boolean = () => true,
    private readonly events?: ClusterEvents,
  ) {
    // Infinity turns liveness off: agents in the client's own process (the embedded cluster)
    // share its event loop, and a busy user loop must not get them declared dead.
    if (Number.isFinite(deadAfterMs)) this.sweeper = new LivenessSweep(Math.max(100, Math.floor(deadAfterMs / 4)), (now, stalled) => this.sweep(now, stalled));
  }

  /**
   * Records an agent (again). A known agent registering from another process (or host) was
   * restarted: whatever the old process held is gone, and `onDead` hears of it first, as if
   * it had been declared dead, so its partitions are served elsewhere before it counts again.
   */
  register(info: AgentInfo): void {
    const existing = this.agents.get(info.id);
    if (existing !== undefined && existing.state === 'alive' && (existing.info.pid !== info.pid || existing.info.host !== info.host)) {
      this.logger.warn('agent restarted: its old process is gone', { agent: info.id, oldPid: existing.info.pid, pid: info.pid });
      this.declareDead(existing);
    }
    this.agents.set(info.id, { info, lastSeen: Date.now(), state: 'alive', // What the agent says it holds is the truth: a restarted agent holds nothing.
      placedBytes: info.usedBytes,
    });
    this.logger.info(existing ? (existing.state === 'dead' ? 'agent is back' : 'agent re-registered') : 'agent registered', {
      agent: info.id,
      host: info.host,
      threads: info.threads,
    });
    this.events?.note({ kind: 'agent.joined', agent: info.id, host: info.host, threads: info.threads, again: existing !== undefined });
  }

  /**
   * Records a heartbeat. An agent declared dead stays dead until it registers again: the
   * coordinator first tells it which of its partitions still count (others moved meanwhile).
   */
  heartbeat(agentId: string, usage: Pick<AgentInfo, 'usedBytes' | 'partitions' | 'workInFlight' | 'direct'>): 'alive' | 'dead' | 'unknown' {
    const record = this.agents.get(agentId);
    if (record === undefined) return 'unknown';
    record.lastSeen = Date.now();
    record.info = { ...record.info, usedBytes: usage.usedBytes, partitions: usage.partitions, workInFlight: usage.workInFlight };
    // Reduces clients sent straight to the agent: the coordinator hears of them only here.
    if (usage.direct !== undefined) record.info.direct = usage.direct;
    if (record.state === 'dead') this.logger.warn('a dead agent is heard from again; asking it to rejoin', { agent: agentId });
    return record.state;
  }

  /**
   * Resolves when the agent is next declared dead (silent too long, or restarted). `forget()`
   * drops the wait, so requests that ended do not pile up on a long-lived agent.
   */
  untilDead(agentId: string): { dead: Promise<void>; forget: () => void } {
    let wake!: () => void;
    const dead = new Promise<void>((resolve) => (wake = resolve));
    const waiters = this.deathWaiters.get(agentId) ?? new Set();
    this.deathWaiters.set(agentId, waiters.add(wake));
    const forget = () => {
      waiters.delete(wake);
      if (waiters.size === 0 && this.deathWaiters.get(agentId) === waiters) this.deathWaiters.delete(agentId);
    };
    return { dead, forget };
  }

  isAlive(agentId: string): boolean {
    return this.agents.get(agentId)?.state === 'alive';
  }

  get(agentId: string): AgentInfo | undefined {
    return this.agents.get(agentId)?.info;
  }

  alive(): AgentInfo[] {
    return [...this.agents.values()].filter((r) => r.state === 'alive').map((r) => r.info);
  }

  all(): Array<AgentInfo & { state: AgentState }> {
    // usedBytes and partitions as the agent last reported them (heartbeats, every second).
    return [...this.agents.values()].map((r) => ({ ...r.info, state: r.state }));
  }

  /**
   * Forgets agents dead for longer than `afterMs` that nothing is placed on any more (`placed`
   * says 0): an agent started without --name registers under a new id each time it is started,
   * and the dead ones would stay in nodes(), the dashboard and the per-agent metrics for good.
   * One that comes back later registers as a new agent. Returns the ids forgotten.
   */
  forgetDead(afterMs: number, placed: (agentId: string) => number, now = Date.now()): string[] {
    const forgotten: string[] = [];
    for (const [id, record] of this.agents) {
      if (record.state === 'dead' && record.diedAt !== undefined && now - record.diedAt > afterMs && placed(id) === 0) {
        this.agents.delete(id);
        forgotten.push(id);
      }
    }
    return forgotten;
  }

  /** When each agent was last heard from (registration or heartbeat), in ms since the epoch. */
  lastHeard(): Map<string, number> {
    return new Map([...this.agents.values()].map((r) => [r.info.id, r.lastSeen]));
  }

  freeBytes(agentId: string): number {
    const record = this.agents.get(agentId);
    return record === undefined ? 0 : Math.max(0, record.info.memoryBytes - record.placedBytes);
  }

  /**
   * Books (positive) or releases (negative) a placed partition of `byteLength` bytes on an
   * agent: what the agent reserves for it (reservedBytesOf), so free bytes here are the agent's.
   */
  book(agentId: string, byteLength: number, direction: 1 | -1): void {
    const record = this.agents.get(agentId);
    if (record === undefined) return;
    record.placedBytes = Math.max(0, record.placedBytes + direction * reservedBytesOf(byteLength));
  }

  close(): void {
    this.sweeper?.close();
  }

  /**
   * This coordinator's own connection to NATS was cut (`false`) or is back (`true`). While cut
   * off it hears no agent, so their silence then says nothing of them.
   */
  connected(connected: boolean): void {
    this.cutOff = !connected;
    this.deafUntil = Date.now();
  }

  private sweep(now: number, stalled: boolean): void {
    // A coordinator cut off itself (from NATS, unsure of its lease: it ignores heartbeats then,
    // or not running) must not judge agents it cannot hear: their silence counts from when it hears again.
    if (!this.active() || this.cutOff || stalled) {
      this.deafUntil = now;
      return;
    }
    for (const record of this.agents.values()) {
      const silentForMs = now - Math.max(record.lastSeen, this.deafUntil);
      if (record.state === 'alive' && silentForMs > this.deadAfterMs) {
        this.logger.warn('agent declared dead', { agent: record.info.id, silentForMs });
        this.declareDead(record);
      }
    }
  }

  private declareDead(record: AgentRecord): void {
    record.state = 'dead';
    record.diedAt = Date.now();
    this.events?.note({ kind: 'agent.dead', agent: record.info.id });
    const waiters = this.deathWaiters.get(record.info.id);
    this.deathWaiters.delete(record.info.id);
    for (const wake of waiters ?? []) wake();
    this.onDead(record.info.id);
  }
}
