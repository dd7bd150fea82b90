import { randomBytes } from 'node:crypto';
import {
  CancelledError,
  kernelHash,
  CONTROL_TIMEOUT_MS,
  DEFAULT_JOB_TIMEOUT_MS,
  fileLoadTimeoutMs,
  InvalidArgumentError,
  JobNotFoundError,
  MessageBus,
  NoAgentsError,
  bytesPerElement,
  colsOf,
  parseShape,
  isSubjectToken,
  subjectFor,
  toErrorData,
  type ArrayMeta,
  type Message,
  type MessageOf,
  type Outgoing,
  type Transport,
} from '@sharc/protocol';
import { JobScheduler, sendTask } from './jobs/job-scheduler.js';
import { PartitionRecovery } from './recovery/partition-recovery.js';
import { KernelStore } from './kernels/kernel-store.js';
import { resolveCoordinatorOptions, type CoordinatorOptions, type ResolvedCoordinatorOptions } from './options.js';
import { PartitionAllocator } from './placement/partition-allocator.js';
import { AgentRegistry } from './registry/agent-registry.js';
import { ArrayCatalog, type ArrayOrigin, type ArrayRecord } from './registry/array-catalog.js';

const QUEUE_GROUP = 'sharc-coordinator';
/** The sender id of tasks the coordinator runs itself (rebuilding a lost map partition). */
const COORDINATOR_CLIENT_ID = 'coordinator';
/** How long rebuilding one map output partition may take. */
const REBUILD_TIMEOUT_MS = DEFAULT_JOB_TIMEOUT_MS;

/**
 * The coordinator: knows the agents and the arrays, places partitions, and runs jobs by
 * sending each partition's work to the agent that holds it. It never runs user code and never
 * touches array bytes; those stay on the agents.
 */
export class Coordinator {
  private readonly bus: MessageBus;
  private readonly agents: AgentRegistry;
  private readonly placement: PartitionAllocator;
  private readonly arrays = new ArrayCatalog();
  private readonly kernels = new KernelStore();
  private readonly recovery: PartitionRecovery;
  private readonly scheduler: JobScheduler;
  private readonly greeting = new Set<string>();
  /** File loads a client follows, by job id: job.cancel aborts them. */
  private readonly loads = new Map<string, AbortController>();
  private readonly unsubscribe: Array<() => void> = [];
  private readonly sweeper: NodeJS.Timeout;

  private constructor(
    transport: Transport,
    readonly options: ResolvedCoordinatorOptions,
  ) {
    this.bus = new MessageBus(transport, 'coordinator', options.logger);
    this.agents = new AgentRegistry(options.deadAfterMs, options.logger, (agentId) => this.onAgentDead(agentId));
    this.placement = new PartitionAllocator(this.bus, this.agents, options.cluster, options.logger);
    this.recovery = new PartitionRecovery({
      catalog: this.arrays,
      agents: this.agents,
      placement: this.placement,
      logger: options.logger,
      runMapTask: async (input, output, origin, index) => {
        const agentId = input.partitions[index]!.agentId;
        const jobId = `rebuild-${randomBytes(8).toString('hex')}`;
        await sendTask(this.bus, this.options.cluster, agentId, {
          jobId,
          clientId: COORDINATOR_CLIENT_ID,
          arrayId: input.id,
          partitionIndex: index,
          attempt: 0,
          kernel: origin.kernel,
          params: origin.params,
          output: { arrayId: output.id, dtype: origin.dtype, cols: origin.cols },
        }, REBUILD_TIMEOUT_MS);
      },
    });
    this.scheduler = new JobScheduler({
      bus: this.bus,
      cluster: options.cluster,
      deadAfterMs: options.deadAfterMs,
      logger: options.logger,
      arrays: this.arrays,
      agents: this.agents,
      placement: this.placement,
      recovery: this.recovery,
      maxRunningJobs: options.maxRunningJobs,
      maxQueuedJobs: options.maxQueuedJobs,
      reserve: (meta, origin, replace) => this.reserve(meta, origin, replace, undefined),
      commit: async (arrayId) => (await this.commitArray(arrayId)).array,
      drop: (record) => this.dropArray(record),
    });
    this.sweeper = setInterval(() => void this.dropStaleUploads(), Math.min(60_000, options.pendingUploadTtlMs));
    this.sweeper.unref();
  }

  static start(transport: Transport, options: CoordinatorOptions = {}): Coordinator {
    const coordinator = new Coordinator(transport, resolveCoordinatorOptions(options));
    coordinator.listen();
    // Clients waiting on jobs of a previous coordinator learn that those jobs are gone.
    coordinator.bus.publish(subjectFor(coordinator.options.cluster, { to: 'announcements' }), {
      type: 'coordinator.started',
      instanceId: randomBytes(8).toString('hex'),
    });
    return coordinator;
  }

  async close(): Promise<void> {
    for (const stop of this.unsubscribe) stop();
    this.scheduler.failAll(new CancelledError('the coordinator is shutting down', { retryable: true }));
    for (const load of this.loads.values()) load.abort();
    clearInterval(this.sweeper);
    this.agents.close();
    await this.bus.close();
  }

  private listen(): void {
    const { cluster } = this.options;
    this.unsubscribe.push(
      this.bus.serve(subjectFor(cluster, { to: 'coordinator', verb: 'client' }), (m) => this.onClient(m), { queue: QUEUE_GROUP }),
      this.bus.serve(subjectFor(cluster, { to: 'coordinator', verb: 'agent' }), (m) => this.onAgent(m), { queue: QUEUE_GROUP }),
    );
  }

  private async onAgent(message: Message): Promise<Outgoing> {
    switch (message.type) {
      case 'agent.register':
        this.agents.register(message.agent);
        return { type: 'ok' };
      case 'agent.heartbeat':
        // Unknown (this coordinator restarted) or declared dead and back (a network cut healed):
        // it must learn which of its partitions still count before it serves again.
        if (this.agents.heartbeat(message.agentId, message) !== 'alive') this.greet(message.agentId);
        return { type: 'ok' };
      case 'task.progress':
        this.scheduler.progress(message);
        return { type: 'ok' };
      case 'kernel.get':
        return { type: 'kernel.code', hash: message.hash, code: this.kernels.get(message.hash) };
      default:
        throw new InvalidArgumentError(`the coordinator's agent subject does not take ${message.type} messages`);
    }
  }

  private async onClient(message: Message): Promise<Outgoing> {
    switch (message.type) {
      case 'array.create':
        return this.createArray(message);
      case 'array.commit':
        this.checkUpload(message.arrayId, message.transferToken);
        return this.commitArray(message.arrayId);
      case 'array.abort':
        // Only an upload still in progress can be aborted: a committed array stays.
        this.checkUpload(message.arrayId, message.transferToken);
        await this.dropArray(this.arrays.getRecord(message.arrayId));
        return { type: 'ok' };
      case 'array.open':
        return this.arrayInfo(this.arrays.byNameOrThrow(message.name));
      case 'array.locate':
        return this.arrayInfo(this.arrays.ready(message.arrayId));
      case 'array.delete':
        await this.dropArray(this.arrays.getRecord(message.arrayId));
        return { type: 'ok' };
      case 'array.list':
        return { type: 'array.listed', arrays: this.arrays.list() };
      case 'array.load':
        return this.loadArray(message);
      case 'kernel.put':
        if (kernelHash(message.code) !== message.hash) throw new InvalidArgumentError(`kernel code does not match its hash ${message.hash}`);
        this.kernels.put(message.hash, message.code);
        return { type: 'ok' };
      case 'job.submit':
        return this.scheduler.run(message);
      case 'job.cancel':
        await this.cancelJob(message.jobId);
        return { type: 'ok' };
      case 'nodes.list':
        return { type: 'nodes.listed', agents: this.agents.all() };
      case 'jobs.list':
        return { type: 'jobs.listed', jobs: this.scheduler.status() };
      default:
        throw new InvalidArgumentError(`the coordinator's client subject does not take ${message.type} messages`);
    }
  }

  // ---- arrays ---------------------------------------------------------------------------

  private async createArray(message: MessageOf<'array.create'>): Promise<Outgoing> {
    const shape = parseShape(message.shape);
    const name = message.name ?? generatedName();
    this.arrays.checkName(name, message.replace ?? false);
    const transferToken = randomBytes(16).toString('hex');
    const meta = this.placement.place(name, message.dtype, shape, message.partitions, message.copies ?? this.options.copies);
    await this.reserve(meta, { kind: 'upload' }, message.replace ?? false, transferToken);
    return { type: 'array.placed', array: meta, transferToken, agents: this.placement.agentsOf(meta) };
  }

  private async loadArray(message: MessageOf<'array.load'>): Promise<Outgoing> {
    const { jobId } = message;
    if (jobId === undefined) return this.loadFile(message, undefined);
    if (!isSubjectToken(message.from)) throw new InvalidArgumentError(`sender ${JSON.stringify(message.from)} is not a valid client id`);
    if (this.loads.has(jobId)) throw new InvalidArgumentError(`job id ${jobId} is already running`);
    const controller = new AbortController();
    this.loads.set(jobId, controller);
    const subject = subjectFor(this.options.cluster, { to: 'job', clientId: message.from, jobId });
    controller.signal.addEventListener('abort', () => this.cancelOnAgents(jobId), { once: true });
    try {
      return await this.loadFile(message, {
        signal: controller.signal,
        progress: (done, total) => this.bus.publish(subject, { type: 'job.progress', jobId, done, total }),
      });
    } finally {
      this.loads.delete(jobId);
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
      throw new JobNotFoundError(`no running job has id ${jobId}: it has finished, failed or never existed (sharc status lists running jobs)`, {
        details: { jobId },
      });
    }
    load?.abort();
    await this.scheduler.cancel(jobId);
  }


  private cancelOnAgents(jobId: string): void {
    this.scheduler.cancelOnAgents(jobId);
  }

  private async loadFile(
    message: MessageOf<'array.load'>,
    follow: { signal: AbortSignal; progress: (done: number, total: number) => void } | undefined,
  ): Promise<Outgoing> {
    const name = message.name ?? generatedName();
    this.arrays.checkName(name, message.replace ?? false);
    const inspector = this.agents.alive()[0];
    if (inspector === undefined) throw new NoAgentsError('no agent is alive to read the file');
    const layout = await this.bus.call(
      this.placement.agentSubject(inspector.id),
      { type: 'file.inspect', source: message.source },
      'file.info',
      { timeoutMs: CONTROL_TIMEOUT_MS },
    );
    const shape = parseShape(layout.shape);
    const meta = this.placement.place(name, layout.dtype, shape, message.partitions);
    if (follow?.signal.aborted) throw new CancelledError(`loading ${message.source.path} was cancelled`);
    const rowBytes = colsOf(shape) * bytesPerElement(layout.dtype);
    const total = meta.partitions.reduce((sum, p) => sum + p.byteLength, 0);
    let loaded = 0;
    follow?.progress(0, total);
    await this.placement.allocate(meta, (partition) => ({
      type: 'partition.load',
      arrayId: meta.id,
      dtype: meta.dtype,
      shape: meta.shape,
      partition,
      source: message.source,
      dataOffset: layout.dataOffset + partition.rowStart * rowBytes,
      ...(message.jobId === undefined ? {} : { jobId: message.jobId }),
    }), (partition) => fileLoadTimeoutMs(partition.byteLength), (partition) => {
      loaded += partition.byteLength;
      if (loaded < total) follow?.progress(loaded, total);
    });
    if (follow?.signal.aborted) {
      await this.placement.release(meta);
      throw new CancelledError(`loading ${message.source.path} was cancelled`);
    }
    const record: ArrayRecord = {
      meta,
      origin: { kind: 'file', source: message.source, dataOffset: layout.dataOffset },
      state: 'pending',
      replace: message.replace ?? false,
      createdAt: Date.now(),
    };
    this.arrays.addPending(record);
    return this.commitArray(meta.id);
  }

  /**
   * Allocates a new array's partitions on its agents and records it as pending: an upload
   * (with its transfer token, written by a client) or a map output (written by workers).
   */
  private async reserve(meta: ArrayMeta, origin: ArrayOrigin, replace: boolean, transferToken: string | undefined): Promise<void> {
    await this.placement.allocate(meta, (partition) => ({
      type: 'partition.allocate',
      arrayId: meta.id,
      dtype: meta.dtype,
      shape: meta.shape,
      partition,
      ...(transferToken === undefined ? {} : { transferToken }),
    }));
    this.arrays.addPending({ meta, origin, state: 'pending', replace, createdAt: Date.now(), ...(transferToken === undefined ? {} : { transferToken }) });
  }

  /** An upload's commit or abort must come with the upload's transfer token, while it is pending. */
  private checkUpload(arrayId: string, transferToken: string): void {
    const record = this.arrays.getRecord(arrayId);
    if (record.state !== 'pending' || record.transferToken === undefined || record.transferToken !== transferToken) {
      throw new InvalidArgumentError(`array ${arrayId} is not an upload in progress with this transfer token`);
    }
  }

  private async commitArray(arrayId: string): Promise<Outgoing<'array.info'>> {
    const record = this.arrays.getRecord(arrayId);
    let replaced: ArrayRecord | undefined;
    try {
      // Agents refuse to seal an upload with missing bytes; the array then never becomes visible.
      await this.placement.tellAgentsOf(record.meta, { type: 'partition.seal', arrayId });
      replaced = this.arrays.commit(arrayId).replaced;
    } catch (error) {
      await this.dropArray(record);
      throw error;
    }
    // The new array is stored and named: answer now, free the replaced one behind the answer
    // (unless a map output's lineage still needs it: then it stays, retired).
    if (replaced !== undefined && replaced.state !== 'retired') void this.releaseDropped(replaced);
    return this.arrayInfo(record.meta);
  }

  /** An agent heartbeats but is unknown (this coordinator restarted): ask it to register again. */
  private greet(agentId: string): void {
    if (this.greeting.has(agentId)) return;
    this.greeting.add(agentId);
    this.bus
      .call(this.placement.agentSubject(agentId), { type: 'agent.hello', keep: this.arrays.partitionsOnAgent(agentId) }, 'agent.register', {
        timeoutMs: CONTROL_TIMEOUT_MS,
      })
      .then((reply) => this.agents.register(reply.agent))
      .catch((error: unknown) => this.options.logger.warn('an unknown agent did not answer', { agentId, error: toErrorData(error) }))
      .finally(() => this.greeting.delete(agentId));
  }

  /**
   * Deletes an array. One that a live map output was computed from is only retired (unnamed,
   * its memory kept) until that output goes: it is the output's lineage.
   */
  private async dropArray(record: ArrayRecord): Promise<void> {
    if (record.state === 'ready' && this.arrays.hasDependents(record.meta.id)) {
      this.arrays.retire(record.meta.id);
      return;
    }
    this.arrays.remove(record.meta.id);
    await this.releaseDropped(record);
  }

  /** Frees a removed array, then its lineage input if that was retired and nothing else needs it. */
  private async releaseDropped(record: ArrayRecord): Promise<void> {
    await this.placement.release(record.meta);
    if (record.origin.kind !== 'map') return;
    const input = this.arrays.find(record.origin.inputId);
    if (input?.state === 'retired' && !this.arrays.hasDependents(input.meta.id)) {
      this.arrays.remove(input.meta.id);
      await this.releaseDropped(input);
    }
  }

  private arrayInfo(meta: ArrayMeta): Outgoing<'array.info'> {
    return { type: 'array.info', array: meta, agents: this.placement.agentsOf(meta) };
  }

  private async dropStaleUploads(): Promise<void> {
    for (const record of this.arrays.stalePending(this.options.pendingUploadTtlMs)) {
      this.options.logger.warn('dropping an upload that was never committed', { arrayId: record.meta.id, name: record.meta.name });
      await this.dropArray(record).catch(() => undefined);
    }
  }

  /** Moves the dead agent's partitions and the running work on them to live agents. */
  private onAgentDead(agentId: string): void {
    this.recovery.agentDead(agentId);
    this.scheduler.agentLost(agentId);
  }
}

function generatedName(): string {
  return `array-${randomBytes(4).toString('hex')}`;
}
