import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Coordinator } from '../coordinator.js';
import type { ClusterEvent, PartitionEventKind } from '../observe/cluster-events.js';

/**
 * Job durations, in seconds: from a small built-in reduce (milliseconds) to a long custom map
 * (an hour). Prometheus' histogram_quantile interpolates within a bucket.
 */
export const JOB_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

/** The counter each partition event adds its partitions to. */
const RECOVERY_COUNTERS: Record<PartitionEventKind, { name: string; help: string }> = {
  'partitions.moved': { name: 'sharc_partitions_moved_total', help: 'Partitions of dead agents now served by a live copy' },
  'partitions.rebuilt': { name: 'sharc_partitions_rebuilt_total', help: 'Partitions read again from their file or computed again from their map input' },
  'copies.remade': { name: 'sharc_copies_remade_total', help: 'New copies made of partitions that had lost one' },
  'partitions.lost': { name: 'sharc_partitions_lost_total', help: 'Partitions no agent holds and none can rebuild: lost for good' },
};

export interface CoordinatorMetricsOptions {
  /**
   * Also export this process's CPU, memory, event-loop lag and GC (prom-client's default
   * metrics, under their standard names: process_*, nodejs_*). Off for coordinators embedded
   * in a client's process, which is the client's to describe.
   * @default true
   */
  processMetrics?: boolean;
}

/**
 * The coordinator's Prometheus metrics (`/metrics`), in a registry of its own (several
 * coordinators in one process, as in tests, do not mix). Jobs and recoveries are counted as the
 * coordinator's events arrive (an O(1) increment each); everything per agent is read from the
 * coordinator when scraped, never per job.
 *
 * ```ts
 * const metrics = new CoordinatorMetrics(coordinator);
 * response.writeHead(200, { 'content-type': metrics.contentType }).end(await metrics.text());
 * ```
 */
export class CoordinatorMetrics {
  readonly registry = new Registry();
  private readonly stopListening: () => void;

  constructor(coordinator: Coordinator, options: CoordinatorMetricsOptions = {}) {
    const registers = [this.registry];
    // Every sample names its cluster (--cluster): one Prometheus may scrape several.
    this.registry.setDefaultLabels({ cluster: coordinator.options.cluster });
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });

    const jobs = new Counter({
      name: 'sharc_jobs_total',
      help: 'Jobs that ended, by kind (reduce, map), kernel (a built-in name, or custom) and outcome (ok, failed, cancelled, refused)',
      labelNames: ['kind', 'kernel', 'outcome'] as const,
      registers,
    });
    const started = new Counter({ name: 'sharc_jobs_started_total', help: 'Jobs the coordinator started, by kind', labelNames: ['kind'] as const, registers });
    const duration = new Histogram({
      name: 'sharc_job_duration_seconds',
      help: 'Time from a job being accepted to its end (queued time included), by kind; refused jobs are not in it',
      labelNames: ['kind'] as const,
      buckets: JOB_DURATION_BUCKETS,
      registers,
    });
    const deaths = new Counter({ name: 'sharc_node_deaths_total', help: 'Agents declared dead (silent too long, or restarted)', registers });
    const joins = new Counter({ name: 'sharc_node_joins_total', help: 'Agents that registered (again after a death or a restart, too)', registers });
    const recoveries = Object.fromEntries(
      Object.entries(RECOVERY_COUNTERS).map(([kind, { name, help }]) => [kind, new Counter({ name, help, registers })]),
    ) as Record<PartitionEventKind, Counter>;
    // Counters exist from the start at 0 for every label a dashboard plots, so rate() has a first point.
    for (const kind of ['reduce', 'map'] as const) {
      started.inc({ kind }, 0);
      duration.zero({ kind });
    }

    this.stopListening = coordinator.events.on((event: ClusterEvent, added: number) => {
      switch (event.kind) {
        case 'job.started':
          started.inc({ kind: event.jobKind });
          return;
        case 'job.finished':
          jobs.inc({ kind: event.jobKind, kernel: event.kernel, outcome: event.outcome });
          if (event.outcome !== 'refused') duration.observe({ kind: event.jobKind }, event.durationMs / 1000);
          return;
        case 'agent.dead':
          deaths.inc();
          return;
        case 'agent.joined':
          joins.inc();
          return;
        default:
          // A partition event: `added` is what this call added to its (summed) burst.
          if (added > 0) recoveries[event.kind].inc(added);
      }
    });

    registerScrapeGauges(coordinator, registers);
  }

  /** The Prometheus text format's content type, for the response. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Every metric, in the Prometheus text format. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** Stops counting (the coordinator's events are no longer heard). */
  close(): void {
    this.stopListening();
  }
}

/**
 * Gauges read from the coordinator at scrape time: per agent and per state, never per job.
 * Per agent they are `sharc_node_*{agent}`, as nodes() shows the agents; each agent's own
 * /metrics says the same of itself as `sharc_agent_*`, so a query of one never sums both.
 */
function registerScrapeGauges(coordinator: Coordinator, registers: Registry[]): void {
  // One view per scrape, shared by the gauges below: prom-client calls every collect() in one
  // synchronous run at the start of a scrape, so the view is dropped at the next microtask.
  type View = ReturnType<Coordinator['view']>;
  type AgentView = View['agents'][number];
  let view: View | undefined;
  const current = (): View => {
    if (view === undefined) {
      view = coordinator.view();
      queueMicrotask(() => (view = undefined));
    }
    return view;
  };
  const perAgent = (name: string, help: string, value: (agent: AgentView) => number | undefined) =>
    new Gauge({
      name,
      help,
      labelNames: ['agent'] as const,
      registers,
      collect() {
        this.reset();
        for (const agent of current().agents) {
          const v = value(agent);
          if (v !== undefined) this.set({ agent: agent.id }, v);
        }
      },
    });
  // A count the agents keep (heartbeats carry it): a counter, as the agent's own /metrics has it.
  const perAgentCount = (name: string, help: string, value: (agent: AgentView) => number | undefined) =>
    new Counter({
      name,
      help,
      labelNames: ['agent'] as const,
      registers,
      collect() {
        this.reset();
        for (const agent of current().agents) {
          const v = value(agent);
          if (v !== undefined) this.inc({ agent: agent.id }, v);
        }
      },
    });

  new Gauge({
    name: 'sharc_jobs_running',
    help: 'Jobs running now',
    registers,
    collect() {
      this.set(current().jobs.filter((job) => job.state === 'running').length);
    },
  });
  new Gauge({
    name: 'sharc_jobs_queued',
    help: 'Jobs waiting for a running slot (--max-running-jobs)',
    registers,
    collect() {
      this.set(current().jobs.filter((job) => job.state === 'queued').length);
    },
  });
  new Gauge({
    name: 'sharc_arrays',
    help: 'Arrays the cluster holds',
    registers,
    collect() {
      this.set(current().arrays.length);
    },
  });
  new Gauge({
    name: 'sharc_nodes',
    help: 'Agents the coordinator knows, by state (alive, dead)',
    labelNames: ['state'] as const,
    registers,
    collect() {
      const agents = current().agents;
      this.set({ state: 'alive' }, agents.filter((a) => a.state === 'alive').length);
      this.set({ state: 'dead' }, agents.filter((a) => a.state === 'dead').length);
    },
  });
  new Gauge({
    name: 'sharc_node_state',
    help: "1 for each agent's current state (alive, dead), 0 for the other",
    labelNames: ['agent', 'state'] as const,
    registers,
    collect() {
      this.reset();
      for (const agent of current().agents) {
        this.set({ agent: agent.id, state: 'alive' }, agent.state === 'alive' ? 1 : 0);
        this.set({ agent: agent.id, state: 'dead' }, agent.state === 'dead' ? 1 : 0);
      }
    },
  });
  perAgent('sharc_node_partitions', 'Partition copies placed on each agent (as nodes() shows them)', (a) => a.partitions);
  perAgent('sharc_node_used_bytes', 'Bytes of partitions each agent holds, as its last heartbeat said', (a) => a.usedBytes);
  perAgent('sharc_node_memory_limit_bytes', 'Memory each agent may use for partitions (sharc agent --memory)', (a) => a.memoryBytes);
  perAgent('sharc_node_threads', "Each agent's worker threads", (a) => a.threads);
  perAgent('sharc_node_work_in_flight', "Block requests running or queued on each agent's threads (divided by threads: its load)", (a) => a.workInFlight);
  perAgentCount('sharc_node_direct_batches_total', 'Reduce batches clients sent straight to each agent, as its heartbeats count them', (a) => a.direct?.batches);
  perAgentCount('sharc_node_direct_partitions_total', 'Partitions of reduces clients sent straight to each agent, as its heartbeats count them', (a) => a.direct?.partitions);
  new Gauge({
    name: 'sharc_node_heartbeat_age_seconds',
    help: 'Seconds since each agent was last heard from (heartbeats come every second; past --dead-after-ms it is declared dead)',
    labelNames: ['agent'] as const,
    registers,
    collect() {
      this.reset();
      const now = Date.now();
      for (const [agent, at] of coordinator.lastHeard()) this.set({ agent }, Math.max(0, now - at) / 1000);
    },
  });
}
