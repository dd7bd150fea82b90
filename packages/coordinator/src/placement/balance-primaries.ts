import type { PartitionMeta } from '@sharc/protocol';

/** How many partitions each agent serves (as the primary copy), by agent id. */
export type ServingCounts = ReadonlyMap<string, number>;

export interface BalanceOptions {
  /** Whether the agent may serve now (alive): others neither take a primary nor give one up. Default: all may. */
  canServe?: (agentId: string) => boolean;
  /** Partitions the agents serve of other arrays: the tie-break between holders this array loads equally. */
  servedElsewhere?: ServingCounts;
  /** Partitions whose primary must stay where it is (a rebuild of it is in progress). */
  pinned?: (index: number) => boolean;
}

/**
 * The holder that should serve a partition: the one serving the fewest partitions of the array
 * (`inArray`), then of all arrays (`overall`), then the first in `candidates` order, so the
 * same state always gives the same answer.
 */
export function choosePrimary(candidates: readonly string[], inArray: ServingCounts, overall: ServingCounts = new Map()): string | undefined {
  let best: string | undefined;
  for (const id of candidates) {
    if (best === undefined) {
      best = id;
      continue;
    }
    const load = inArray.get(id) ?? 0;
    const bestLoad = inArray.get(best) ?? 0;
    if (load < bestLoad || (load === bestLoad && (overall.get(id) ?? 0) < (overall.get(best) ?? 0))) best = id;
  }
  return best;
}

/**
 * Spreads the serving copies (each partition's `agentId`; tasks run and reads come from there)
 * evenly over the agents holding copies of an array. A partition's primary moves to another of
 * its holders while that holder serves at least two of the array's partitions fewer, or one
 * fewer and at least two fewer of all arrays: each move makes the load strictly more even, so
 * this ends, and a balanced array is left as it is (no partition moves for nothing).
 * Returns the partitions, those that moved as new objects with the old primary among the
 * replicas in the new one's place.
 */
export function balancePrimaries(partitions: readonly PartitionMeta[], options: BalanceOptions = {}): PartitionMeta[] {
  const canServe = options.canServe ?? (() => true);
  const pinned = options.pinned ?? (() => false);
  const result = [...partitions];
  const inArray = new Map<string, number>();
  const overall = new Map(options.servedElsewhere ?? []);
  const add = (id: string, n: number) => {
    inArray.set(id, (inArray.get(id) ?? 0) + n);
    overall.set(id, (overall.get(id) ?? 0) + n);
  };
  for (const p of result) if (canServe(p.agentId)) add(p.agentId, 1);
  for (let moved = true; moved; ) {
    moved = false;
    for (const [position, partition] of result.entries()) {
      const primary = partition.agentId;
      if (pinned(partition.index) || !canServe(primary)) continue;
      const others = (partition.replicas ?? []).filter(canServe);
      const target = choosePrimary(others, inArray, overall);
      if (target === undefined) continue;
      const fewer = (inArray.get(primary) ?? 0) - (inArray.get(target) ?? 0);
      const fewerOverall = (overall.get(primary) ?? 0) - (overall.get(target) ?? 0);
      if (fewer < 2 && !(fewer === 1 && fewerOverall >= 2)) continue;
      result[position] = { ...partition, agentId: target, replicas: (partition.replicas ?? []).map((id) => (id === target ? primary : id)) };
      add(primary, -1);
      add(target, 1);
      moved = true;
    }
  }
  return result;
}

/** How many of the partitions each agent serves. */
export function servingCounts(partitions: readonly PartitionMeta[], counts = new Map<string, number>()): Map<string, number> {
  for (const p of partitions) counts.set(p.agentId, (counts.get(p.agentId) ?? 0) + 1);
  return counts;
}
