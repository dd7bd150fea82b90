import type { PartitionMeta } from './messages.js';

/** Every agent holding a copy of the partition: the one that serves it first, then its replicas. */
export function holdersOf(partition: PartitionMeta): string[] {
  return [partition.agentId, ...(partition.replicas ?? [])];
}
