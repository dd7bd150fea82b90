/**
 * @sharc/coordinator: the cluster's registry of agents and arrays, partition placement and job
 * scheduling. One per cluster.
 *
 * ```ts
 * const transport = await connectNats({ servers, name: 'coordinator' });
 * const coordinator = await Coordinator.start(transport, { state: await KvStateStore.open(natsConnectionOf(transport)!, 'default', logger) });
 * ```
 */
export { Coordinator } from './coordinator.js';
export type { ClusterView } from './coordinator.js';
export { ClusterEvents, RECENT_EVENTS, COALESCE_MS } from './observe/cluster-events.js';
export type { ClusterEvent, ClusterEventBody, ClusterEventListener, PartitionEventKind, JobKind, JobOutcome } from './observe/cluster-events.js';
export { dashboardRoutes } from './dashboard/routes.js';
export type { DashboardStreamOptions } from './dashboard/event-stream.js';
export type { DashboardSource } from './dashboard/summarize.js';
export { PLACEMENT_MAP_MAX_PARTITIONS } from './dashboard/dashboard-state.js';
export type { DashboardSnapshot, DashboardUpdate, DashboardAgent, DashboardArray, DashboardArrayShare, DashboardJob } from './dashboard/dashboard-state.js';
export { resolveCoordinatorOptions } from './options.js';
export { MemoryStateStore } from './state/state-store.js';
export { KvStateStore } from './state/kv-state-store.js';
export { LeaderLease, DEFAULT_LEASE_MS } from './state/leader-lease.js';
export { MAX_STATE_REPLICAS } from './state/kv-bucket.js';
export type { StateStore, CoordinatorState, PersistedJob } from './state/state-store.js';
export { StateUnreadableError, STATE_FORMAT_VERSION } from './state/records.js';
export type { CoordinatorOptions, ResolvedCoordinatorOptions } from './options.js';
export { placePartitions, addReplicas, DEFAULT_PARTITION_BYTES } from './placement/place-partitions.js';
export type { AgentCapacity, PlacementRequest } from './placement/place-partitions.js';
export { balancePrimaries, choosePrimary } from './placement/balance-primaries.js';
export type { BalanceOptions, ServingCounts } from './placement/balance-primaries.js';
export { JobAdmission } from './jobs/admission.js';
export type { AdmissionState, AdmissionTicket } from './jobs/admission.js';
export { CoordinatorMetrics, JOB_DURATION_BUCKETS } from './metrics/coordinator-metrics.js';
export type { CoordinatorMetricsOptions } from './metrics/coordinator-metrics.js';
