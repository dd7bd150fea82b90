import { DataLostError, PartitionLostError, quotedName, type ArrayMeta, type PartitionMeta } from '@sharc/protocol';

/**
 * What a user is told about a partition that has no live copy and no source. Two cases, told
 * apart because only one of them can heal:
 * - its agents are dead: they may come back with their memory (a network cut, a paused
 *   process), so the error is retryable;
 * - every agent that held a copy came back without it (restarted): it is lost for good, and the
 *   array can only be deleted and put again.
 */

/** The partition's copies were on agents that are dead now (they may come back with them). */
export function awaitingHoldersError(meta: ArrayMeta, partition: PartitionMeta, holders: readonly string[]): DataLostError {
  const where = holders.length === 1 ? `only on agent ${holders[0]}` : `on agents ${holders.join(', ')}`;
  return new DataLostError(
    `partition ${partition.index} of '${meta.name}' was stored ${where}, which died: it is served again if ${holders.length === 1 ? 'that agent comes' : 'one of them comes'} ` +
      'back with its memory (a network cut, a paused process). If it was restarted or is gone, the partition is lost: delete the array and put the array again ' +
      '(arrays put with { copies: 2 }, the default with 2+ agents, survive an agent)',
    { retryable: true, details: { array: meta.name, arrayId: meta.id, partition: partition.index, agentIds: [...holders] } },
  );
}

/** The array has partitions lost for good (`meta.lostPartitions`): never retryable. */
export function partitionLostError(meta: ArrayMeta, detail = 'every agent that held a copy restarted without it, and an uploaded array has no source to rebuild it from'): PartitionLostError {
  const lost = meta.lostPartitions ?? [];
  const which = `partition${lost.length === 1 ? '' : 's'} ${lost.join(', ')}`;
  return new PartitionLostError(
    `array '${meta.name}' has lost ${which} for good: ${detail}. ` +
      `Delete it (ref.delete(), or sharc rm ${quotedName(meta.name)}) and put it again, with { copies: 2 } (--copies 2) so that one agent's death loses nothing`,
    { retryable: false, details: { array: meta.name, arrayId: meta.id, partitions: [...lost] } },
  );
}
