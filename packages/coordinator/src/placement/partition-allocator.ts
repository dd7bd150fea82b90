import {
  CONTROL_TIMEOUT_MS,
  bytesPerElement,
  colsOf,
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
import { placePartitions } from './place-partitions.js';

/**
 * Puts placed partitions into effect on the agents: books their memory in the registry,
 * sends the allocation (or load, seal, free) messages, and undoes everything on failure.
 */
export class PartitionAllocator {
  constructor(
    private readonly bus: MessageBus,
    private readonly agents: AgentRegistry,
    private readonly cluster: string,
    private readonly logger: Logger,
  ) {}

  /** A new array's metadata, its partitions placed on the alive agents with room. */
  place(name: string, dtype: DType, shape: Shape, partitions: number | undefined): ArrayMeta {
    const placed = placePartitions(
      { rows: rowsOf(shape), rowBytes: colsOf(shape) * bytesPerElement(dtype), ...(partitions === undefined ? {} : { partitions }) },
      this.agents.alive().map((a) => ({ id: a.id, freeBytes: this.agents.freeBytes(a.id) })),
    );
    return { id: newArrayId(), name, dtype, shape, partitions: placed, createdAt: Date.now() };
  }

  /**
   * Sends one allocation message per partition. Memory is booked first so concurrent puts
   * cannot both claim it; on any failure everything allocated is freed again.
   */
  async allocate(
    meta: ArrayMeta,
    messageFor: (p: PartitionMeta) => Outgoing,
    timeoutFor: (p: PartitionMeta) => number = () => CONTROL_TIMEOUT_MS,
    onEach: (p: PartitionMeta) => void = () => undefined,
  ): Promise<void> {
    for (const p of meta.partitions) this.agents.book(p.agentId, p.byteLength, 1);
    const results = await Promise.allSettled(
      meta.partitions.map(async (p) => {
        await this.bus.call(this.agentSubject(p.agentId), messageFor(p), 'ok', { timeoutMs: timeoutFor(p) });
        onEach(p);
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
    for (const p of meta.partitions) this.agents.book(p.agentId, p.byteLength, -1);
    // A dead agent would only make this wait out the timeout; when it comes back the
    // coordinator's greeting tells it what to keep.
    const alive = [...new Set(meta.partitions.map((p) => p.agentId))].filter((id) => this.agents.isAlive(id));
    await Promise.all(
      alive.map((id) =>
        this.bus
          .call(this.agentSubject(id), { type: 'partition.free', arrayId: meta.id }, 'ok', { timeoutMs: CONTROL_TIMEOUT_MS })
          .catch((error: unknown) => this.logger.warn('an agent did not free an array', { arrayId: meta.id, agentId: id, error: toErrorData(error) })),
      ),
    );
  }

  /** Sends `message` once to every agent holding a partition of the array. */
  async tellAgentsOf(meta: ArrayMeta, message: Outgoing): Promise<void> {
    const agentIds = new Set(meta.partitions.map((p) => p.agentId));
    await Promise.all([...agentIds].map((id) => this.bus.call(this.agentSubject(id), message, 'ok', { timeoutMs: CONTROL_TIMEOUT_MS })));
  }

  /** The agents holding the array's partitions, as clients need them for the data plane. */
  agentsOf(meta: ArrayMeta): AgentInfo[] {
    const ids = new Set(meta.partitions.map((p) => p.agentId));
    return [...ids].flatMap((id) => {
      const info = this.agents.get(id);
      return info === undefined ? [] : [info];
    });
  }

  agentSubject(agentId: string): string {
    return subjectFor(this.cluster, { to: 'agent', agentId, verb: 'control' });
  }
}

export function newArrayId(): string {
  return randomBytes(8).toString('hex');
}
