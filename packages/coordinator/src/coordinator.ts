import { randomBytes } from 'node:crypto';
import {
  ArrayNotFoundError,
  CancelledError,
  kernelHash,
  CONTROL_TIMEOUT_MS,
  DEFAULT_JOB_TIMEOUT_MS,
  fileLoadTimeoutMs,
  InternalError,
  InvalidArgumentError,
  JobNotFoundError,
  MessageBus,
  NoAgentsError,
  REPLY_MARGIN_MS,
  bytesPerElement,
  colsOf,
  parseShape,
  rowsOf,
  isSubjectToken,
  subjectFor,
  toErrorData,
  type ArrayMeta,
  type DType,
  type Message,
  type MessageOf,
  type Outgoing,
  type Transport,
} from '@sharc/protocol';
import { RunningJob } from './jobs/run-job.js';
import { KernelStore } from './kernels/kernel-store.js';
import { resolveCoordinatorOptions, type CoordinatorOptions, type ResolvedCoordinatorOptions } from './options.js';
import { PartitionAllocator, newArrayId } from './placement/partition-allocator.js';
import { AgentRegistry } from './registry/agent-registry.js';
import { ArrayCatalog, type ArrayRecord } from './registry/array-catalog.js';

const QUEUE_GROUP = 'sharc-coordinator';

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
  private readonly jobs = new Map<string, RunningJob>();
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
    for (const job of this.jobs.values()) job.fail(new CancelledError('the coordinator is shutting down', { retryable: true }));
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
        if (!this.agents.heartbeat(message.agentId, message)) this.greet(message.agentId);
        return { type: 'ok' };
      case 'task.progress':
        this.jobs.get(message.jobId)?.addProgress(message.partitionIndex, message.blocks);
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
        return this.runJob(message);
      case 'job.cancel':
        await this.cancelJob(message.jobId);
        return { type: 'ok' };
      case 'nodes.list':
        return { type: 'nodes.listed', agents: this.agents.all() };
      case 'jobs.list':
        return { type: 'jobs.listed', jobs: [...this.jobs.values()].map((job) => job.status()) };
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
    const meta = this.placement.place(name, message.dtype, shape, message.partitions);
    await this.reserve(meta, message.replace ?? false, transferToken);
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
    const job = this.jobs.get(jobId);
    if (load === undefined && job === undefined) {
      throw new JobNotFoundError(`no running job has id ${jobId}: it has finished, failed or never existed (sharc status lists running jobs)`, {
        details: { jobId },
      });
    }
    load?.abort();
    if (job !== undefined) {
      job.fail(new CancelledError(`job ${jobId} was cancelled`, { details: { jobId } }));
      await job.over;
    }
  }

  private cancelOnAgents(jobId: string): void {
    this.bus.publish(subjectFor(this.options.cluster, { to: 'agents', verb: 'cancel' }), { type: 'task.cancel', jobId });
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
    const record: ArrayRecord = { meta, state: 'pending', replace: message.replace ?? false, createdAt: Date.now() };
    this.arrays.addPending(record);
    return this.commitArray(meta.id);
  }

  /**
   * Allocates a new array's partitions on its agents and records it as pending: an upload
   * (with its transfer token, written by a client) or a map output (written by workers).
   */
  private async reserve(meta: ArrayMeta, replace: boolean, transferToken: string | undefined): Promise<void> {
    await this.placement.allocate(meta, (partition) => ({
      type: 'partition.allocate',
      arrayId: meta.id,
      dtype: meta.dtype,
      shape: meta.shape,
      partition,
      ...(transferToken === undefined ? {} : { transferToken }),
    }));
    this.arrays.addPending({ meta, state: 'pending', replace, createdAt: Date.now(), ...(transferToken === undefined ? {} : { transferToken }) });
  }

  /** An upload's commit or abort must come with the upload's transfer token, while it is pending. */
  private checkUpload(arrayId: string, transferToken: string): void {
    const record = this.arrays.getRecord(arrayId);
    if (record.state !== 'pending' || record.transferToken === undefined || record.transferToken !== transferToken) {
      throw new InvalidArgumentError(`array ${arrayId} is not an upload in progress with this transfer token`);
    }
  }

  private async commitArray(arrayId: string): Promise<Outgoing> {
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
    // The new array is stored and named: answer now, free the replaced one behind the answer.
    if (replaced !== undefined) void this.placement.release(replaced.meta);
    return this.arrayInfo(record.meta);
  }

  /** An agent heartbeats but is unknown (this coordinator restarted): ask it to register again. */
  private greet(agentId: string): void {
    if (this.greeting.has(agentId)) return;
    this.greeting.add(agentId);
    this.bus
      .call(this.placement.agentSubject(agentId), { type: 'agent.hello', keep: this.arrays.idsOnAgent(agentId) }, 'agent.register', {
        timeoutMs: CONTROL_TIMEOUT_MS,
      })
      .then((reply) => this.agents.register(reply.agent))
      .catch((error: unknown) => this.options.logger.warn('an unknown agent did not answer', { agentId, error: toErrorData(error) }))
      .finally(() => this.greeting.delete(agentId));
  }

  private async dropArray(record: ArrayRecord): Promise<void> {
    this.arrays.remove(record.meta.id);
    await this.placement.release(record.meta);
  }

  private arrayInfo(meta: ArrayMeta): Outgoing {
    return { type: 'array.info', array: meta, agents: this.placement.agentsOf(meta) };
  }

  private async dropStaleUploads(): Promise<void> {
    for (const record of this.arrays.stalePending(this.options.pendingUploadTtlMs)) {
      this.options.logger.warn('dropping an upload that was never committed', { arrayId: record.meta.id, name: record.meta.name });
      await this.dropArray(record).catch(() => undefined);
    }
  }

  // ---- jobs -----------------------------------------------------------------------------

  /** Runs a job to its end; the reply to job.submit is its outcome. */
  private async runJob(message: MessageOf<'job.submit'>): Promise<Outgoing> {
    const { jobId, spec } = message;
    const clientId = message.from;
    if (!isSubjectToken(clientId)) throw new InvalidArgumentError(`sender ${JSON.stringify(clientId)} is not a valid client id`);
    if (this.jobs.has(jobId)) throw new InvalidArgumentError(`job id ${jobId} is already running`);
    const jobSubject = subjectFor(this.options.cluster, { to: 'job', clientId, jobId });
    const input = this.arrays.ready(spec.arrayId);
    if (spec.kind === 'reduce' && spec.kernel.kind === 'map') throw new InvalidArgumentError('reduce needs a partial/combine kernel');
    if (spec.kind === 'map' && spec.kernel.kind !== 'map') throw new InvalidArgumentError('map needs a module kernel export');
    for (const p of input.partitions) {
      if (!this.agents.isAlive(p.agentId)) {
        throw new NoAgentsError(`agent ${p.agentId} holding partition ${p.index} of '${input.name}' is not alive`, { retryable: true });
      }
    }
    if (spec.kind === 'map' && spec.outputName !== undefined) this.arrays.checkName(spec.outputName, spec.replace ?? false);

    let output: ArrayMeta | undefined;
    const job = new RunningJob(jobId, spec, input, message.timeoutMs ?? DEFAULT_JOB_TIMEOUT_MS, {
      bus: this.bus,
      logger: this.options.logger,
      jobSubject,
      runPartition: async (array, index, timeout) => {
        const partition = array.partitions[index];
        if (partition === undefined) throw new InternalError(`array ${array.id} has no partition ${index}`);
        const reply = await this.bus.call(
          subjectFor(this.options.cluster, { to: 'agent', agentId: partition.agentId, verb: 'task' }),
          {
            type: 'task.run',
            task: {
              jobId,
              clientId,
              arrayId: array.id,
              partitionIndex: index,
              kernel: spec.kernel,
              params: spec.params,
              ...(output === undefined ? {} : { output: { arrayId: output.id, dtype: output.dtype, cols: spec.kind === 'map' ? spec.cols : 1 } }),
              timeoutMs: timeout,
            },
          },
          'task.result',
          // The job's own timer (a TimeoutError naming the job) fires first; this only ends a wait
          // on an agent that never answers.
          { timeoutMs: timeout + REPLY_MARGIN_MS },
        );
        return { blocks: reply.blocks };
      },
      cancelEverywhere: (id) => this.cancelOnAgents(id),
      finish: async (outcome) => {
        this.jobs.delete(jobId);
        if (output === undefined) return undefined;
        if (outcome === 'failed') {
          // A commit that failed has dropped the output already.
          const record = this.arrays.find(output.id);
          if (record !== undefined) await this.dropArray(record);
          return undefined;
        }
        const info = await this.commitArray(output.id);
        return (info as MessageOf<'array.info'>).array;
      },
    });
    // Registered before the first await, so a cancel or a dead agent reaches it at any point.
    this.jobs.set(jobId, job);
    const prepare =
      spec.kind === 'map'
        ? async () => {
            const meta = this.mapOutputMeta(input, spec.outputName ?? generatedName(), spec.dtype, spec.cols);
            await this.reserve(meta, spec.replace ?? false, undefined);
            output = meta;
          }
        : undefined;
    return job.run(prepare);
  }

  /** Fails every running job that needs the agent: its partitions are out of reach. */
  private onAgentDead(agentId: string): void {
    for (const job of this.jobs.values()) {
      const lost = job.input.partitions.find((p) => p.agentId === agentId);
      if (lost === undefined) continue;
      job.fail(
        new NoAgentsError(
          `agent ${agentId} holding partition ${lost.index} of '${job.input.name}' stopped answering (no heartbeat for ${this.options.deadAfterMs} ms)`,
          { retryable: true, details: { agentId, partition: lost.index } },
        ),
      );
    }
  }

  /** A map's output: the same row ranges on the same agents as its input, so no byte moves. */
  private mapOutputMeta(input: ArrayMeta, name: string, dtype: DType, cols: number): ArrayMeta {
    const rows = rowsOf(parseShape(input.shape));
    const shape: [number] | [number, number] = input.shape.length === 1 && cols === 1 ? [rows] : [rows, cols];
    const rowBytes = cols * bytesPerElement(dtype);
    const partitions = input.partitions.map((p) => ({ ...p, byteLength: p.rowCount * rowBytes }));
    for (const p of partitions) {
      if (this.agents.get(p.agentId) === undefined) throw new ArrayNotFoundError(`agent ${p.agentId} holding partition ${p.index} is gone`);
    }
    return { id: newArrayId(), name, dtype, shape, partitions, createdAt: Date.now() };
  }

}

function generatedName(): string {
  return `array-${randomBytes(4).toString('hex')}`;
}
