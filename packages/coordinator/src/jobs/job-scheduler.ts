import { randomBytes } from 'node:crypto';
import {
  CancelledError,
  DEFAULT_JOB_TIMEOUT_MS,
  InvalidArgumentError,
  NoAgentsError,
  REPLY_MARGIN_MS,
  bytesPerElement,
  isSubjectToken,
  parseShape,
  rowsOf,
  subjectFor,
  type ArrayMeta,
  type DType,
  type JobStatus,
  type Logger,
  type MessageBus,
  type MessageOf,
  type Outgoing,
  type SharcError,
  type Task,
} from '@sharc/protocol';
import { newArrayId, type PartitionAllocator } from '../placement/partition-allocator.js';
import type { PartitionRecovery } from '../recovery/partition-recovery.js';
import type { AgentRegistry } from '../registry/agent-registry.js';
import type { ArrayCatalog, ArrayOrigin, ArrayRecord } from '../registry/array-catalog.js';
import { RunningJob } from './run-job.js';

/** Beyond the liveness window: how long an agent that vanished from NATS may take to be declared dead. */
const DEATH_VERDICT_MARGIN_MS = 2000;

export interface SchedulerDeps {
  bus: MessageBus;
  cluster: string;
  deadAfterMs: number;
  logger: Logger;
  arrays: ArrayCatalog;
  agents: AgentRegistry;
  placement: PartitionAllocator;
  recovery: PartitionRecovery;
  /** The array lifecycle, which the coordinator owns. */
  reserve(meta: ArrayMeta, origin: ArrayOrigin, replace: boolean): Promise<void>;
  commit(arrayId: string): Promise<ArrayMeta>;
  drop(record: ArrayRecord): Promise<void>;
}

/** Sends one partition's task to an agent and waits for it to finish. */
export async function sendTask(bus: MessageBus, cluster: string, agentId: string, task: Omit<Task, 'timeoutMs'>, timeoutMs: number): Promise<{ blocks: number }> {
  const reply = await bus.call(
    subjectFor(cluster, { to: 'agent', agentId, verb: 'task' }),
    // The agent stops the task itself after timeoutMs, should the cancel never reach it.
    { type: 'task.run', task: { ...task, timeoutMs } },
    'task.result',
    // The job's own timer (a TimeoutError naming the job) fires first; this only ends a wait on
    // an agent that never answers.
    { timeoutMs: timeoutMs + REPLY_MARGIN_MS },
  );
  return { blocks: reply.blocks };
}

/**
 * The running jobs: starts each on the agents that serve its input, moves its partitions'
 * work when an agent dies, and answers cancel and status requests.
 */
export class JobScheduler {
  private readonly jobs = new Map<string, RunningJob>();

  constructor(private readonly deps: SchedulerDeps) {}

  status(): JobStatus[] {
    return [...this.jobs.values()].map((job) => job.status());
  }

  progress(message: MessageOf<'task.progress'>): void {
    this.jobs.get(message.jobId)?.addProgress(message.partitionIndex, message.attempt, message.blocks);
  }

  has(jobId: string): boolean {
    return this.jobs.has(jobId);
  }

  /**
   * Fails a job with CancelledError and resolves once it is over: the agents have been told
   * to stop (their threads running it are terminated) and a map's output is freed.
   */
  async cancel(jobId: string): Promise<void> {
    const job = this.jobs.get(jobId);
    if (job === undefined) return;
    job.fail(new CancelledError(`job ${jobId} was cancelled`, { details: { jobId } }));
    await job.over;
  }

  failAll(error: SharcError): void {
    for (const job of this.jobs.values()) job.fail(error);
  }

  /** The agent was declared dead: every job's attempts on it move on. */
  agentLost(agentId: string): void {
    for (const job of this.jobs.values()) job.agentLost(agentId);
  }

  cancelOnAgents(jobId: string): void {
    this.deps.bus.publish(subjectFor(this.deps.cluster, { to: 'agents', verb: 'cancel' }), { type: 'task.cancel', jobId });
  }

  /** Runs a job to its end; the reply to job.submit is its outcome. */
  async run(message: MessageOf<'job.submit'>): Promise<Outgoing> {
    const { jobId, spec } = message;
    const clientId = message.from;
    if (!isSubjectToken(clientId)) throw new InvalidArgumentError(`sender ${JSON.stringify(clientId)} is not a valid client id`);
    if (this.jobs.has(jobId)) throw new InvalidArgumentError(`job id ${jobId} is already running`);
    const jobSubject = subjectFor(this.deps.cluster, { to: 'job', clientId, jobId });
    const input = this.deps.arrays.ready(spec.arrayId);
    const inputRecord = this.deps.arrays.getRecord(spec.arrayId);
    if (spec.kind === 'reduce' && spec.kernel.kind === 'map') throw new InvalidArgumentError('reduce needs a partial/combine kernel');
    if (spec.kind === 'map' && spec.kernel.kind !== 'map') throw new InvalidArgumentError('map needs a module kernel export');
    if (spec.kind === 'map' && spec.outputName !== undefined) this.deps.arrays.checkName(spec.outputName, spec.replace ?? false);

    let output: ArrayMeta | undefined;
    const outputTask = () => (output === undefined ? {} : { output: { arrayId: output.id, dtype: output.dtype, cols: spec.kind === 'map' ? spec.cols : 1 } });
    const job = new RunningJob(jobId, spec, input, message.timeoutMs ?? DEFAULT_JOB_TIMEOUT_MS, {
      bus: this.deps.bus,
      logger: this.deps.logger,
      jobSubject,
      deathWindowMs: this.deps.deadAfterMs + DEATH_VERDICT_MARGIN_MS,
      finishedWorkDiesWithAgent: spec.kind === 'map',
      agentOf: (index) => input.partitions[index]!.agentId,
      runPartition: (index, agentId, attempt, timeout) =>
        sendTask(
          this.deps.bus,
          this.deps.cluster,
          agentId,
          { jobId, clientId, arrayId: input.id, partitionIndex: index, attempt, kernel: spec.kernel, params: spec.params, ...outputTask() },
          timeout,
        ),
      recoverPartition: async (index) => {
        await this.deps.recovery.whenServed(inputRecord, index);
        if (output !== undefined) await this.moveOutputPartition(output, input, index);
      },
      cancelEverywhere: (id) => this.cancelOnAgents(id),
      finish: async (outcome) => {
        this.jobs.delete(jobId);
        if (output === undefined) return undefined;
        if (outcome === 'failed') {
          // A commit that failed has dropped the output already.
          const record = this.deps.arrays.find(output.id);
          if (record !== undefined) await this.deps.drop(record);
          return undefined;
        }
        return this.deps.commit(output.id);
      },
    });
    // Registered before the first await, so a cancel or a dead agent reaches it at any point.
    this.jobs.set(jobId, job);
    const prepare = async () => {
      // Partitions of agents that died are served elsewhere first (a copy, the file, the lineage).
      await Promise.all(input.partitions.map((p) => this.deps.recovery.whenServed(inputRecord, p.index)));
      if (spec.kind !== 'map') return;
      const meta = this.mapOutputMeta(input, spec.outputName ?? generatedName(), spec.dtype, spec.cols);
      const origin: ArrayOrigin = { kind: 'map', inputId: input.id, kernel: spec.kernel, params: spec.params, dtype: spec.dtype, cols: spec.cols };
      await this.deps.reserve(meta, origin, spec.replace ?? false);
      output = meta;
    };
    return job.run(prepare);
  }

  /** A running map's output partition follows its input partition to the agent that took it over. */
  private async moveOutputPartition(output: ArrayMeta, input: ArrayMeta, index: number): Promise<void> {
    const target = input.partitions[index]!.agentId;
    const current = output.partitions[index]!;
    if (current.agentId === target) return;
    await this.deps.placement.releaseCopy(current.agentId, output.id, current);
    const moved = { ...current, agentId: target };
    output.partitions[index] = moved;
    await this.deps.placement.allocateCopy(target, output.id, moved, { type: 'partition.allocate', arrayId: output.id, dtype: output.dtype, shape: output.shape, partition: moved });
  }

  /** A map's output: the same row ranges on the same agents as its input, so no byte moves. */
  private mapOutputMeta(input: ArrayMeta, name: string, dtype: DType, cols: number): ArrayMeta {
    const rows = rowsOf(parseShape(input.shape));
    const shape: [number] | [number, number] = input.shape.length === 1 && cols === 1 ? [rows] : [rows, cols];
    const rowBytes = cols * bytesPerElement(dtype);
    // One copy: a lost output partition is computed again from its input.
    const partitions = input.partitions.map(({ index, rowStart, rowCount, agentId }) => ({ index, rowStart, rowCount, agentId, byteLength: rowCount * rowBytes }));
    for (const p of partitions) {
      if (!this.deps.agents.isAlive(p.agentId)) throw new NoAgentsError(`agent ${p.agentId} holding partition ${p.index} is not alive`, { retryable: true });
    }
    return { id: newArrayId(), name, dtype, shape, partitions, createdAt: Date.now() };
  }
}

function generatedName(): string {
  return `array-${randomBytes(4).toString('hex')}`;
}
