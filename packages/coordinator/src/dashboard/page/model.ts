import type { ClusterEvent, DashboardAgent, DashboardArray, DashboardJob, DashboardSnapshot, DashboardUpdate } from '../dashboard-state.js';

export type JobFinished = Extract<ClusterEvent, { kind: 'job.finished' }>;

/** Finished jobs the page lists, newest first. */
const MAX_FINISHED = 50;
/** Failures and recoveries the page lists, newest first. */
const MAX_INCIDENTS = 100;
/** Kernel labels of jobs remembered from job.started (a running job's status does not carry it). */
const MAX_KERNELS = 1000;

/** What the page knows: the last snapshot with the updates and events since applied. */
export class DashboardModel {
  cluster = '';
  agents: DashboardAgent[] = [];
  readonly arrays = new Map<string, DashboardArray>();
  jobs: DashboardJob[] = [];
  /** Newest first. */
  finished: JobFinished[] = [];
  /** Newest first. */
  incidents: ClusterEvent[] = [];
  readonly kernels = new Map<string, string>();
  /** The coordinator's clock minus this browser's (for how long a job has run). */
  private clockSkewMs = 0;

  /** The coordinator's clock now, as near as this page can tell. */
  serverNow(): number {
    return Date.now() + this.clockSkewMs;
  }

  applySnapshot(snapshot: DashboardSnapshot): void {
    this.cluster = snapshot.cluster;
    this.syncClock(snapshot.at);
    this.agents = snapshot.agents;
    this.arrays.clear();
    for (const array of snapshot.arrays) this.arrays.set(array.id, array);
    this.jobs = snapshot.jobs;
    this.finished = [];
    this.incidents = [];
    for (const event of snapshot.events) this.applyEvent(event);
  }

  applyUpdate(update: DashboardUpdate): void {
    this.syncClock(update.at);
    if (update.agents !== undefined) this.agents = update.agents;
    if (update.jobs !== undefined) this.jobs = update.jobs;
    for (const array of update.arrays ?? []) this.arrays.set(array.id, array);
    for (const id of update.removedArrays ?? []) this.arrays.delete(id);
  }

  /** One cluster event; a summed one that grew comes again under its id and replaces the old. */
  applyEvent(event: ClusterEvent): void {
    if (event.kind === 'job.started') {
      this.kernels.set(event.job, event.kernel);
      if (this.kernels.size > MAX_KERNELS) this.kernels.delete(this.kernels.keys().next().value!);
      return;
    }
    if (event.kind === 'job.finished') {
      this.finished = upsertNewestFirst(this.finished, event, MAX_FINISHED);
      // Its last status may still list it as running until the next update.
      this.jobs = this.jobs.filter((job) => job.jobId !== event.job);
      if (event.outcome !== 'failed') return;
    }
    if (event.kind === 'agent.joined' && !event.again) return;
    this.incidents = upsertNewestFirst(this.incidents, event, MAX_INCIDENTS);
  }

  private syncClock(serverAt: number): void {
    this.clockSkewMs = serverAt - Date.now();
  }
}

function upsertNewestFirst<T extends { id: number }>(list: T[], item: T, max: number): T[] {
  const rest = list.filter((existing) => existing.id !== item.id);
  const at = rest.findIndex((existing) => existing.id < item.id);
  if (at === -1) rest.push(item);
  else rest.splice(at, 0, item);
  return rest.slice(0, max);
}
