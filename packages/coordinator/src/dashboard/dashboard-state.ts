/**
 * What the dashboard's page receives: the JSON of `/api/state` and of the `/api/events` stream.
 * Plain types and constants with no runtime imports: the page's own code (page/, type-checked
 * for the browser) reads the same declarations, so a field renamed here breaks its build, not
 * its users.
 */
import type { ClusterEvent } from '../observe/cluster-events.js';

export type { ClusterEvent };

/** Arrays of at most this many partitions carry a placement map (partition → serving agent). */
export const PLACEMENT_MAP_MAX_PARTITIONS = 4096;

export interface DashboardAgent {
  id: string;
  host: string;
  pid: number;
  state: 'alive' | 'dead';
  threads: number;
  memoryBytes: number;
  usedBytes: number;
  /** Partition copies the coordinator places on it. */
  partitions: number;
  /** Block requests running or queued on its worker threads. */
  workInFlight: number;
  /** Reduces clients sent straight to it: running now, and batches and partitions so far. */
  direct?: { batches: number; partitions: number; running: number };
}

/** One agent's share of an array. */
export interface DashboardArrayShare {
  agent: string;
  /** Partitions it serves (tasks run there, reads come from there). */
  serving: number;
  /** Copies it holds, serving ones included. */
  copies: number;
}

export interface DashboardArray {
  id: string;
  name: string;
  dtype: string;
  shape: number[];
  partitions: number;
  /** Bytes of one copy of the whole array. */
  bytes: number;
  createdAt: number;
  /** Copies per partition: the fewest and the most of any partition (lost ones left out). */
  copies: { min: number; max: number };
  /** Partitions lost for good. */
  lost: number;
  /** A file-backed array's file: its rows stay there, read as jobs run (no memory held). */
  file?: string;
  /** Agents holding any of it, by id. */
  shares: DashboardArrayShare[];
  /**
   * Partition i is served by `shares[placement[i]].agent`, or lost (-1). Only for arrays of at
   * most PLACEMENT_MAP_MAX_PARTITIONS partitions.
   */
  placement?: number[];
}

export interface DashboardJob {
  jobId: string;
  kind: 'reduce' | 'map';
  state: 'queued' | 'running';
  array: string;
  doneBlocks: number;
  totalBlocks: number;
  startedAt: number;
}

/** The whole picture: `/api/state`, and the first message of the stream (`event: snapshot`). */
export interface DashboardSnapshot {
  cluster: string;
  /** The coordinator's clock when it was taken (ms since the epoch). */
  at: number;
  agents: DashboardAgent[];
  arrays: DashboardArray[];
  jobs: DashboardJob[];
  /** The last events, oldest first (ClusterEvents.recent()). */
  events: ClusterEvent[];
}

/**
 * What changed since the previous message to this page (`event: update`, about once a
 * second): each part present only when it changed.
 */
export interface DashboardUpdate {
  at: number;
  agents?: DashboardAgent[];
  jobs?: DashboardJob[];
  /** Arrays that are new or changed. */
  arrays?: DashboardArray[];
  /** Ids of arrays gone. */
  removedArrays?: string[];
}

/** Names of the stream's messages (the SSE `event:` field). */
export const STREAM_EVENTS = {
  snapshot: 'snapshot',
  update: 'update',
  /** One ClusterEvent (JSON), as it happens; a summed one again as it grows (same id). */
  cluster: 'cluster',
} as const;

/** How agents are ordered on the page and in summaries: agent-2 before agent-10. */
export function compareNatural(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}
