import { randomBytes } from 'node:crypto';
import {
  CancelledError,
  CLIENT_HEARTBEAT_MS,
  NATS_OUTAGE_TOLERANCE_MS,
  ConnectionError,
  kernelHash,
  InvalidArgumentError,
  JobNotFoundError,
  MessageBus,
  isSubjectToken,
  subjectFor,
  type Message,
  type MessageType,
  type MessageOf,
  type Outgoing,
  type Transport,
  type AgentInfo,
  type ArrayMeta,
  type JobStatus,
} from '@sharc/protocol';
import { AgentClient } from './agents/agent-client.js';
import { ArrayLifecycle, generatedName } from './arrays/array-lifecycle.js';
import { JobScheduler } from './jobs/job-scheduler.js';
import { FinishedJobs } from './jobs/finished-jobs.js';
import { rebuildMapPartition } from './recovery/map-rebuild.js';
import { resumeAfterRejoin } from './recovery/coordinator-restart.js';
import type { PersistedJob } from './state/state-store.js';
import { PartitionRecovery } from './recovery/partition-recovery.js';
import { KernelStore } from './kernels/kernel-store.js';
import { resolveCoordinatorOptions, type CoordinatorOptions, type ResolvedCoordinatorOptions } from './options.js';
import { loadFileOnAgents, type FileLoadFollower } from './placement/file-load.js';
import { PartitionAllocator } from './placement/partition-allocator.js';
import { AgentMembership } from './registry/agent-membership.js';
import { AgentRegistry } from './registry/agent-registry.js';
import { ArrayCatalog } from './registry/array-catalog.js';
import { dropWorkOfGoneClient } from './registry/client-departure.js';
import { ClientSessions } from './registry/client-sessions.js';
import { ClusterEvents } from './observe/cluster-events.js';
import { logJobs } from './observe/job-log.js';

export interface ClusterView {
  agents: Array<AgentInfo & { state: 'alive' | 'dead' }>;
  arrays: ArrayMeta[];
  jobs: JobStatus[];
}

/** How long a client cut off from NATS may take to reconnect once the server is back (nats.js waits 250 ms between tries). */
const CLIENT_RECONNECT_SLACK_MS = 1000;
/**
 * How long a message that arrives while the lease has lapsed waits for it to be proven again
 * (one renewal, once NATS answers) before it is dropped unanswered.
 */
const LAPSED_LEASE_WAIT_MS = 5000;
/** How long a followed file load's outcome is kept for a client that resends it, and how many at most. */
const FINISHED_LOAD_MS = 10 * 60_000;
const MAX_FINISHED_LOADS = 1000;
/**
 * How long a dead agent stays listed (nodes(), dashboard, metrics) once nothing is placed on it:
 * long enough to see what died, short enough that agents restarted under new ids do not pile up.
 */
const FORGET_DEAD_AGENT_MS = 10 * 60_000;
/** How often partitions short of copies (no room earlier) are looked at again, and dead agents forgotten. */
const COPY_SWEEP_MS = 10_000;
/** Client requests whose effect must be stored before they are answered. */
const CHANGES_STATE: ReadonlySet<MessageType> = new Set([
  'array.create',
  'array.commit',
  'array.abort',
  'array.delete',
  'array.load',
  'kernel.put',
  'job.submit',
  'job.cancel',
  'job.launch',
]);

/**
 * The coordinator: knows the agents and the arrays, places partitions, and runs jobs by
 * sending each partition's work to the agent that holds it. It never runs user code and never
 * touches array bytes; those stay on the agents.
 */
export class Coordinator {
  /** What happens in the cluster (agents joined and dead, partitions moved, jobs): for the dashboard, metrics and job log lines. */
  readonly events = new ClusterEvents();
  private readonly bus: MessageBus;
  private readonly agents: AgentRegistry;
  /** Every request to an agent goes through it. */
  private readonly agentClient: AgentClient;
  private readonly placement: PartitionAllocator;
  private readonly arrays: ArrayCatalog;
  private readonly kernels = new KernelStore();
  /** Resolves once agents of the previous coordinator had their chance to rejoin (at once when there was none). */
  private rejoined: Promise<void> = Promise.resolve();
  private stopRejoin: () => void = () => undefined;
  private readonly recovery: PartitionRecovery;
  private readonly scheduler: JobScheduler;
  /** Outcomes of detached jobs that ended, kept for keepResultsMs. */
  private readonly finished: FinishedJobs;
  private readonly membership: AgentMembership;
  /** Arrays created, committed, dropped and freed. */
  private readonly lifecycle: ArrayLifecycle;
  /** File loads a client follows, by job id: job.cancel aborts them, and so does their client's death unless detached. */
  private readonly loads = new Map<string, { controller: AbortController; clientId: string; detached: boolean; outcome: Promise<Outgoing> }>();
  /**
   * Outcomes of followed file loads that ended lately, by job id: an array.load resent because
   * its reply was lost in a NATS outage gets the same answer, instead of loading again.
   */
  private readonly finishedLoads = new Map<string, { at: number; outcome: Promise<Outgoing> }>();
  /** Which clients are still there: a silent one's uploads are dropped and its jobs cancelled. */
  private readonly clients: ClientSessions;
  private readonly unsubscribe: Array<() => void> = [];
  private readonly copier: NodeJS.Timeout;

  private constructor(
    transport: Transport,
    readonly options: ResolvedCoordinatorOptions,
  ) {
    const active = () => options.lease.held;
    this.bus = new MessageBus(transport, 'coordinator', options.logger, options.lease);
    const { state } = options;
    this.arrays = new ArrayCatalog((arrayId, current) => (current === undefined ? state.deleteArray(arrayId) : state.saveArray(arrayId, current)));
    this.agents = new AgentRegistry(options.deadAfterMs, options.logger, (agentId) => this.onAgentDead(agentId), active, this.events);
    this.agentClient = new AgentClient(this.bus, options.cluster, this.agents);
    this.placement = new PartitionAllocator(
      this.agentClient,
      this.agents,
      options.logger,
      () => this.arrays.servingCounts(),
      (ranges) => this.arrays.layoutLike(ranges),
    );
    this.recovery = new PartitionRecovery({
      catalog: this.arrays,
      agents: this.agents,
      placement: this.placement,
      logger: options.logger,
      events: this.events,
      runMapTask: (input, output, origin, index, other) =>
        rebuildMapPartition({ client: this.agentClient, agents: this.agents }, input, output, origin, index, other),
    });
    this.lifecycle = new ArrayLifecycle({ arrays: this.arrays, placement: this.placement, recovery: this.recovery, logger: options.logger, copies: options.copies });
    this.finished = new FinishedJobs(state, options.keepResultsMs, options.logger);
    this.scheduler = new JobScheduler({
      bus: this.bus,
      client: this.agentClient,
      cluster: options.cluster,
      deadAfterMs: options.deadAfterMs,
      logger: options.logger,
      arrays: this.arrays,
      agents: this.agents,
      placement: this.placement,
      recovery: this.recovery,
      state: options.state,
      events: this.events,
      rejoined: () => this.rejoined,
      maxRunningJobs: options.maxRunningJobs,
      maxQueuedJobs: options.maxQueuedJobs,
      reserve: (meta, origin, replace) => this.lifecycle.reserve(meta, origin, replace, undefined),
      expectClient: (clientId) => this.clients.expect(clientId),
      commit: async (arrayId) => (await this.lifecycle.commitArray(arrayId)).array,
      drop: (record) => this.lifecycle.dropArray(record),
      finished: this.finished,
    });
    this.membership = new AgentMembership({
      client: this.agentClient,
      agents: this.agents,
      arrays: this.arrays,
      recovery: this.recovery,
      state: options.state,
      logger: options.logger,
      rejoined: () => this.rejoined,
    });
    // A client's silence counts from its last heartbeat, which may be a heartbeat older than its
    // outage; a NATS outage the SDK promises to ride out (NATS_OUTAGE_TOLERANCE_MS) must not end
    // its session, and after it the client needs a moment to reconnect (nats.js then sends the
    // heartbeats it buffered). So: the longer of the two windows, one heartbeat, and that moment.
    const clientWindowMs = Math.max(options.deadAfterMs, NATS_OUTAGE_TOLERANCE_MS) + CLIENT_HEARTBEAT_MS + CLIENT_RECONNECT_SLACK_MS;
    this.clients = new ClientSessions(clientWindowMs, options.logger, (clientId, silentForMs) => void this.onClientGone(clientId, silentForMs), active);
    logJobs(this.events, options.logger);
    this.copier = setInterval(() => {
      this.recovery.restoreAllCopies();
      this.forgetDeadAgents();
    }, COPY_SWEEP_MS);
    this.copier.unref();
  }

  /**
   * Starts a coordinator: loads the state a previous one stored (arrays, kernels, running
   * jobs), serves, announces itself, and resumes those jobs once their agents rejoined.
   */
  static async start(transport: Transport, options: CoordinatorOptions = {}): Promise<Coordinator> {
    const coordinator = new Coordinator(transport, resolveCoordinatorOptions(options));
    let restored: Awaited<ReturnType<Coordinator['restore']>>;
    try {
      restored = await coordinator.restore();
    } catch (error) {
      // Saved state it cannot read (StateUnreadableError): stop before serving or telling any
      // agent what to keep, so nothing the unread records describe is freed.
      clearInterval(coordinator.copier);
      coordinator.agents.close();
      coordinator.finished.close();
      coordinator.scheduler.close();
      throw error;
    }
    const { jobs: resumable, agentIds } = restored;
    // Set before anything is served: no request may skip the wait for the agents to rejoin.
    const restart = resumeAfterRejoin(
      {
        arrays: coordinator.arrays,
        agents: coordinator.agents,
        scheduler: coordinator.scheduler,
        state: coordinator.options.state,
        logger: coordinator.options.logger,
        deadAfterMs: coordinator.options.deadAfterMs,
        agentDead: (id) => coordinator.onAgentDead(id),
        drop: (record) => coordinator.lifecycle.dropArray(record),
        restoreCopies: () => coordinator.recovery.restoreAllCopies(),
      },
      resumable,
      agentIds,
    );
    coordinator.rejoined = restart.rejoined;
    // Clients waiting on jobs of a previous coordinator learn which ones go on and fail the
    // others; announced before serving, so no job of this coordinator is among those others.
    coordinator.bus.publish(subjectFor(coordinator.options.cluster, { to: 'announcements' }), {
      type: 'coordinator.started',
      instanceId: randomBytes(8).toString('hex'),
      resumedJobs: resumable.map((job) => job.jobId),
    });
    coordinator.listen();
    // Ready means reachable: the server has our subscriptions before anyone hears of us.
    await coordinator.bus.flush();
    coordinator.stopRejoin = restart.stop;
    return coordinator;
  }

  /**
   * Stops serving. With durable state, running jobs are left as stored, for the next
   * coordinator to resume; without, they fail with a retryable CancelledError.
   */
  async close(): Promise<void> {
    for (const stop of this.unsubscribe) stop();
    if (this.options.state.kind === 'memory') this.scheduler.failAll(new CancelledError('the coordinator is shutting down', { retryable: true }));
    else this.scheduler.detach();
    this.scheduler.close();
    this.finished.close();
    for (const load of this.loads.values()) load.controller.abort();
    this.clients.close();
    clearInterval(this.copier);
    this.stopRejoin();
    this.agents.close();
    await this.options.state.close();
    await this.bus.close();
  }

  /** Loads what a previous coordinator stored; returns the jobs it was running and the agents it knew. */
  private async restore(): Promise<{ jobs: PersistedJob[]; agentIds: string[] }> {
    const state = await this.options.state.load();
    this.arrays.restore(state.arrays);
    // Their clients get a full window from now to show they are still there.
    for (const record of state.arrays) if (record.owner !== undefined) this.clients.expect(record.owner);
    for (const { hash, code } of state.kernels) this.kernels.put(hash, code);
    this.finished.restore(state.finished);
    if (state.arrays.length + state.jobs.length > 0) {
      this.options.logger.info('restored the cluster state', { arrays: state.arrays.length, kernels: state.kernels.length, jobs: state.jobs.length });
    }
    return { jobs: state.jobs, agentIds: state.agentIds };
  }

  private listen(): void {
    const { cluster } = this.options;
    this.unsubscribe.push(
      // Plain subscriptions, not a queue group: one coordinator is active (the lease holder), and
      // a cut-off one that nats-server has not dropped yet must not take half the messages.
      this.bus.serve(subjectFor(cluster, { to: 'coordinator', verb: 'client' }), (m, context) => this.onClient(m, context)),
      this.bus.serve(subjectFor(cluster, { to: 'coordinator', verb: 'agent' }), (m) => this.onAgent(m)),
      this.bus.onConnectionChange((change) => {
        this.agents.connected(change === 'reconnected');
        this.clients.connected(change === 'reconnected');
      }),
    );
  }

  private async onAgent(message: Message): Promise<Outgoing> {
    await this.whenActive();
    switch (message.type) {
      case 'agent.register':
        this.membership.register(message.agent, message.holds);
        return { type: 'ok' };
      case 'agent.heartbeat':
        this.membership.heartbeat(message);
        if (message.tasks !== undefined) {
          const { agentId, tasks } = message;
          // Once the replies read with it have reached their jobs: after a stall, a task's reply
          // and the heartbeats the agent sent after it arrive in one read, and the reply reaches
          // its job a few promise hops later, when those heartbeats (which no longer list the
          // task) would already have counted it as missing twice and run it again.
          setImmediate(() => this.scheduler.tasksListed(agentId, tasks));
        }
        return { type: 'ok' };
      case 'task.progress':
        this.scheduler.progress(message);
        return { type: 'ok' };
      case 'task.batchProgress':
        for (const { index, attempt, blocks } of message.progress) this.scheduler.progress({ ...message, type: 'task.progress', partitionIndex: index, attempt, blocks });
        return { type: 'ok' };
      case 'kernel.get':
        return { type: 'kernel.code', hash: message.hash, code: this.kernels.get(message.hash) };
      default:
        throw new InvalidArgumentError(`the coordinator's agent subject does not take ${message.type} messages`);
    }
  }

  /** Answers a client; a change to the stored state is durable before the client hears of it. */
  private async onClient(message: Message, context: { replyTo?: string }): Promise<Outgoing> {
    // A heartbeat is published, not asked: nothing to answer, and nothing to wait for.
    if (message.type === 'client.heartbeat') {
      if (this.options.lease.held || (await this.options.lease.whenHeld(LAPSED_LEASE_WAIT_MS))) {
        this.clients.heard(message.from);
        if (message.uploads !== undefined && message.creating === undefined) this.lifecycle.dropUnlistedUploads(message.from, message.uploads);
      }
      return { type: 'ok' };
    }
    await this.whenActive();
    // Any request renews the sender's lease too.
    this.clients.heard(message.from);
    // After a restart, answers wait (a second or so) for the agents to rejoin: until then the
    // coordinator does not know where their partitions can be read.
    await this.rejoined;
    const mark = this.options.state.mark();
    let reply: Outgoing;
    try {
      reply = await this.answerClient(message, context);
    } catch (error) {
      // What a failure changed (a failed job's stored record removed) is stored before it is told, too.
      if (CHANGES_STATE.has(message.type)) await this.options.state.flush(mark).catch(() => undefined);
      throw error;
    }
    if (CHANGES_STATE.has(message.type)) await this.options.state.flush(mark);
    return reply;
  }

  private async answerClient(message: Message, context: { replyTo?: string }): Promise<Outgoing> {
    switch (message.type) {
      case 'array.create':
        return this.lifecycle.createArray(message);
      case 'array.commit':
        return this.lifecycle.commitUpload(message);
      case 'array.abort':
        await this.lifecycle.abortUpload(message);
        return { type: 'ok' };
      case 'array.open':
        return this.lifecycle.servedInfo(this.arrays.byNameOrThrow(message.name).id, { opening: true });
      case 'array.locate':
        return this.lifecycle.servedInfo(this.arrays.ready(message.arrayId).id);
      case 'array.delete':
        await this.lifecycle.deleteArray(message);
        return { type: 'ok' };
      case 'array.list':
        return this.lifecycle.listArrays(message.all ?? false);
      case 'array.load':
        return this.loadArray(message);
      case 'kernel.put':
        if (kernelHash(message.code) !== message.hash) throw new InvalidArgumentError(`kernel code does not match its hash ${message.hash}`);
        this.kernels.put(message.hash, message.code);
        this.options.state.saveKernel(message.hash, message.code);
        return { type: 'ok' };
      case 'job.submit':
        return this.scheduler.run(message, context);
      case 'job.cancel':
        await this.cancelJob(message.jobId);
        return { type: 'ok' };
      case 'job.sync':
        return this.scheduler.sync(message.jobId);
      case 'nodes.list':
        return this.listNodes();
      case 'jobs.list':
        return { type: 'jobs.listed', jobs: this.scheduler.status(), finished: this.scheduler.detachedJobs.finishedJobs() };
      case 'job.launch':
        return this.scheduler.detachedJobs.launch(message);
      case 'job.get':
        return { type: 'job.info', job: this.scheduler.detachedJobs.get(message.jobId) };
      default:
        throw new InvalidArgumentError(`the coordinator's client subject does not take ${message.type} messages`);
    }
  }


  private async loadArray(message: MessageOf<'array.load'>): Promise<Outgoing> {
    const { jobId } = message;
    const detached = message.detached ?? false;
    if (detached && message.name === undefined) {
      throw new InvalidArgumentError('a detached file load needs a name: it is kept after its client goes away, and found again only by its name');
    }
    if (jobId === undefined) return this.loadFile(message, undefined);
    if (!isSubjectToken(message.from)) throw new InvalidArgumentError(`sender ${JSON.stringify(message.from)} is not a valid client id`);
    // Resent (its reply may have been lost while NATS was away): the same load's answer.
    const known = this.loads.get(jobId)?.outcome ?? this.finishedLoads.get(jobId)?.outcome;
    if (known !== undefined) return known;
    const controller = new AbortController();
    const subject = subjectFor(this.options.cluster, { to: 'job', clientId: message.from, jobId });
    controller.signal.addEventListener('abort', () => this.cancelOnAgents(jobId), { once: true });
    const outcome = this.loadFile(message, {
      signal: controller.signal,
      progress: (done, total) => this.bus.publish(subject, { type: 'job.progress', jobId, done, total }),
    });
    this.loads.set(jobId, { controller, clientId: message.from, detached, outcome });
    const startedAt = Date.now();
    const about = { job: jobId, jobKind: 'load' as const, kernel: 'file', array: message.name ?? message.source.path };
    this.events.note({ kind: 'job.started', ...about, partitions: message.partitions ?? 0, client: message.from });
    try {
      const reply = await outcome;
      const partitions = reply.type === 'array.info' ? reply.array.partitions.length : 0;
      this.events.note({ kind: 'job.finished', ...about, partitions, durationMs: Date.now() - startedAt, outcome: 'ok' });
      return reply;
    } catch (error) {
      const ended = error instanceof CancelledError ? 'cancelled' : 'failed';
      this.events.note({ kind: 'job.finished', ...about, partitions: 0, durationMs: Date.now() - startedAt, outcome: ended, error: `${(error as Error).name}: ${(error as Error).message}` });
      throw error;
    } finally {
      this.loads.delete(jobId);
      this.rememberLoad(jobId, outcome);
    }
  }

  /** Keeps a finished load's outcome for FINISHED_LOAD_MS (at most MAX_FINISHED_LOADS of them). */
  private rememberLoad(jobId: string, outcome: Promise<Outgoing>): void {
    outcome.catch(() => undefined);
    const now = Date.now();
    this.finishedLoads.set(jobId, { at: now, outcome });
    for (const [id, { at }] of this.finishedLoads) {
      if (now - at <= FINISHED_LOAD_MS && this.finishedLoads.size <= MAX_FINISHED_LOADS) break;
      this.finishedLoads.delete(id);
    }
  }

  /**
   * Fails a job (or a followed file load) with CancelledError and answers once it is over: the
   * agents have been told to stop (their threads running it are terminated) and what the job
   * allocated (a map's output) is freed.
   */
  private async cancelJob(jobId: string): Promise<void> {
    const load = this.loads.get(jobId);
    if (load === undefined && !this.scheduler.has(jobId)) {
      // A detached reduce that left the scheduler, its partials being merged on an agent.
      if (this.scheduler.detachedJobs.cancelMaking(jobId)) return;
      throw new JobNotFoundError(`no running job has id ${jobId}: it has finished, failed or never existed (sharc status lists running jobs)`, {
        details: { jobId },
      });
    }
    load?.controller.abort();
    await this.scheduler.cancel(jobId);
  }

  private cancelOnAgents(jobId: string): void {
    this.scheduler.cancelOnAgents(jobId);
  }

  private async loadFile(message: MessageOf<'array.load'>, follow: FileLoadFollower | undefined): Promise<Outgoing> {
    const name = message.name ?? generatedName();
    this.arrays.checkName(name, message.replace ?? false);
    const record = await loadFileOnAgents({ client: this.agentClient, agents: this.agents, placement: this.placement }, name, message, follow);
    return this.lifecycle.addLoaded(record);
  }

  /**
   * A coordinator whose lease lapsed (NATS was away, or this process was paused) holds what
   * arrives until the lease is proven again, then answers it; one that lost its lease (a
   * standby took over) answers nothing more.
   */
  private async whenActive(): Promise<void> {
    if (this.options.lease.held || (await this.options.lease.whenHeld(LAPSED_LEASE_WAIT_MS))) return;
    throw new ConnectionError('this coordinator cannot prove it holds its lease now (NATS was away, or another coordinator took over)', { retryable: true });
  }


  /**
   * The agents, their partition counts from placement (every copy placed on each, as of the last
   * call that changed it: a put, map or delete that returned is in them), their memory and load
   * as they last reported it (heartbeats, every second).
   */
  /**
   * The cluster as it is now, as clients see it (nodes(), list(), runningJobs()): for the
   * dashboard and metrics of this process. Arrays carry their whole placement: summarize it
   * before sending it anywhere (an array may have 262,144 partitions).
   */
  view(): ClusterView {
    return { agents: this.listNodes().agents, arrays: this.arrays.list(), jobs: this.scheduler.status() };
  }

  /** When each agent was last heard from (its heartbeat, every second), in ms since the epoch: the metrics' heartbeat age. */
  lastHeard(): ReadonlyMap<string, number> {
    return this.agents.lastHeard();
  }

  private forgetDeadAgents(): void {
    const placed = this.arrays.placedCopies();
    const forgotten = this.agents.forgetDead(FORGET_DEAD_AGENT_MS, (id) => placed.get(id) ?? 0);
    if (forgotten.length > 0) this.options.logger.info('forgot agents dead for a while that hold nothing', { agents: forgotten.slice(0, 10), count: forgotten.length, afterMs: FORGET_DEAD_AGENT_MS });
  }

  private listNodes(): Outgoing<'nodes.listed'> {
    const placed = this.arrays.placedCopies();
    return { type: 'nodes.listed', agents: this.agents.all().map((agent) => ({ ...agent, partitions: placed.get(agent.id) ?? 0 })) };
  }


  /**
   * A client went silent past the liveness window: what it held goes (see dropWorkOfGoneClient).
   * After a restart it waits for the agents to rejoin first: the jobs it resumes are among those.
   */
  private async onClientGone(clientId: string, silentForMs: number): Promise<void> {
    await this.rejoined;
    const abortLoadsOf = (id: string) =>
      [...this.loads.entries()]
        .filter(([, load]) => load.clientId === id && !load.detached)
        .map(([jobId, load]) => {
          load.controller.abort();
          return jobId;
        });
    const { arrays, scheduler, lifecycle } = this;
    const { state, logger } = this.options;
    const { droppedUploads } = lifecycle;
    await dropWorkOfGoneClient({ arrays, scheduler, droppedUploads, state, logger, abortLoadsOf, drop: (record) => lifecycle.dropArray(record) }, clientId, silentForMs);
  }

  /** Moves the dead agent's partitions and the running work on them to live agents. */
  private onAgentDead(agentId: string): void {
    this.options.state.deleteAgent(agentId);
    this.recovery.agentDead(agentId);
    this.scheduler.agentLost(agentId);
  }
}

