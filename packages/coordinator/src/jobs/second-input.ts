import { NoAgentsError, holdersOf, type ArrayMeta, type PartitionMeta, type Task } from '@sharc/protocol';
import type { AgentRegistry } from '../registry/agent-registry.js';

/**
 * The second input array of a binary op or `dot` (a job's `with`). A task runs where the
 * first array's partition is served; this says, for the task's rows, which partitions of the
 * second array hold them and where: `local` when the task's own agent holds a copy (read in
 * place: the case of two arrays put with the same partitioning, which `put` places alike),
 * otherwise the agent serving it, read over its data port (node-agent tasks/other-rows.ts).
 */
export function secondInputOf(other: ArrayMeta, rows: { rowStart: number; rowCount: number }, agentId: string, agents: AgentRegistry): NonNullable<Task['with']> {
  const sources = overlappingPartitions(other, rows).map((partition) => {
    const local = holdersOf(partition).includes(agentId);
    const holderId = local ? agentId : partition.agentId;
    const holder = agents.get(holderId);
    if (holder === undefined) {
      throw new NoAgentsError(`agent ${holderId} serving partition ${partition.index} of '${other.name}' is unknown`, { retryable: true });
    }
    return { partition, holder, ...(local ? { local: true } : {}) };
  });
  return { arrayId: other.id, arrayName: other.name, dtype: other.dtype, shape: other.shape, sources, ...(other.file === undefined ? {} : { file: other.file }) };
}

/** The partitions of `array` holding some of the rows [rowStart, rowStart + rowCount). */
export function overlappingPartitions(array: ArrayMeta, rows: { rowStart: number; rowCount: number }): PartitionMeta[] {
  const end = rows.rowStart + rows.rowCount;
  return array.partitions.filter((p) => p.rowCount > 0 && p.rowStart < end && p.rowStart + p.rowCount > rows.rowStart);
}
