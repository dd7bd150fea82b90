import type { AgentInfo, ArrayMeta, JobStatus } from '@sharc/protocol';
import type { ClusterView } from '../coordinator.js';
import type { ClusterEvents } from '../observe/cluster-events.js';
import { compareNatural, PLACEMENT_MAP_MAX_PARTITIONS, type DashboardAgent, type DashboardArray, type DashboardArrayShare, type DashboardJob, type DashboardSnapshot } from './dashboard-state.js';

/** What the dashboard reads of a coordinator. */
export interface DashboardSource {
  view(): ClusterView;
  readonly events: Pick<ClusterEvents, 'on' | 'recent'>;
  readonly options: { readonly cluster: string };
}

/** The cluster as the page sees it, placement summarized (see summarizeArray), with the last events. */
export function dashboardSnapshot(source: DashboardSource): DashboardSnapshot {
  return { ...dashboardState(source), events: [...source.events.recent()] };
}

/** The snapshot without its events: what the stream compares each second. */
export function dashboardState(source: DashboardSource): Omit<DashboardSnapshot, 'events'> {
  const view = source.view();
  return {
    cluster: source.options.cluster,
    at: Date.now(),
    agents: view.agents.map(summarizeAgent),
    arrays: view.arrays.map(summarizeArray),
    jobs: view.jobs.map(summarizeJob),
  };
}

export function summarizeAgent(agent: AgentInfo & { state: 'alive' | 'dead' }): DashboardAgent {
  return {
    id: agent.id,
    host: agent.host,
    pid: agent.pid,
    state: agent.state,
    threads: agent.threads,
    memoryBytes: agent.memoryBytes,
    usedBytes: agent.usedBytes,
    partitions: agent.partitions,
    workInFlight: agent.workInFlight,
    ...(agent.direct === undefined ? {} : { direct: { ...agent.direct } }),
  };
}

export function summarizeJob(job: JobStatus): DashboardJob {
  const { jobId, kind, state, array, doneBlocks, totalBlocks, startedAt } = job;
  return { jobId, kind, state, array, doneBlocks, totalBlocks, startedAt };
}

/**
 * The catalog hands out a frozen ArrayMeta and a new one whenever the array changes, so a
 * summary is made once per change: an array of 262,144 partitions costs one pass when its
 * placement moves, not one per second per page.
 */
const summaries = new WeakMap<ArrayMeta, DashboardArray>();

/**
 * An array without its per-partition list: per agent, the partitions it serves and the copies
 * it holds; for arrays small enough, which agent serves each partition.
 */
export function summarizeArray(meta: ArrayMeta): DashboardArray {
  const known = summaries.get(meta);
  if (known !== undefined) return known;
  const lost = new Set(meta.lostPartitions ?? []);
  const shareOf = new Map<string, DashboardArrayShare>();
  const share = (agent: string) => {
    let found = shareOf.get(agent);
    if (found === undefined) shareOf.set(agent, (found = { agent, serving: 0, copies: 0 }));
    return found;
  };
  let bytes = 0;
  let minCopies = Infinity;
  let maxCopies = 0;
  for (const partition of meta.partitions) {
    bytes += partition.byteLength;
    if (lost.has(partition.index)) continue;
    const serving = share(partition.agentId);
    serving.serving += 1;
    serving.copies += 1;
    for (const replica of partition.replicas ?? []) share(replica).copies += 1;
    const copies = 1 + (partition.replicas?.length ?? 0);
    minCopies = Math.min(minCopies, copies);
    maxCopies = Math.max(maxCopies, copies);
  }
  const shares = [...shareOf.values()].sort((a, b) => compareNatural(a.agent, b.agent));
  const summary: DashboardArray = {
    id: meta.id,
    name: meta.name,
    dtype: meta.dtype,
    shape: [...meta.shape],
    partitions: meta.partitions.length,
    bytes,
    createdAt: meta.createdAt,
    copies: { min: maxCopies === 0 ? 0 : minCopies, max: maxCopies },
    lost: lost.size,
    shares,
    ...(meta.file === undefined ? {} : { file: meta.file.path }),
  };
  if (meta.partitions.length <= PLACEMENT_MAP_MAX_PARTITIONS) {
    const indexOf = new Map(shares.map((entry, index) => [entry.agent, index]));
    const placement = new Array<number>(meta.partitions.length).fill(-1);
    for (const partition of meta.partitions) {
      if (!lost.has(partition.index)) placement[partition.index] = indexOf.get(partition.agentId) ?? -1;
    }
    summary.placement = placement;
  }
  summaries.set(meta, summary);
  return summary;
}
