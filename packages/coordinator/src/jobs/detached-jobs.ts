import {
  CancelledError,
  DEFAULT_JOB_TIMEOUT_MS,
  InvalidArgumentError,
  JobNotFoundError,
  MessageTooLargeError,
  encodeValue,
  isSubjectToken,
  toErrorData,
  type DetachedJob,
  type JobStatus,
  type Logger,
  type MessageBus,
  type MessageOf,
  type Outgoing,
} from '@sharc/protocol';
import type { AgentClient } from '../agents/agent-client.js';
import type { ClusterEvents } from '../observe/cluster-events.js';
import type { AgentRegistry } from '../registry/agent-registry.js';
import type { ArrayCatalog } from '../registry/array-catalog.js';
import type { PersistedJob, StateStore } from '../state/state-store.js';
import { PartialsInbox, reduceValue } from './detached-reduce.js';
import { durationText, type FinishedJobs } from './finished-jobs.js';
import { errorLine, generatedName, kernelLabel } from './job-names.js';
import type { RunningJob } from './run-job.js';

/** A detached job's value larger than this is left out of jobs.list (job.get gives it). */
const LISTED_VALUE_BYTES = 1024;

/** What a detached job that has not ended yet is known by (its progress comes from its RunningJob). */
type LaunchedJob = Omit<DetachedJob, 'state' | 'doneBlocks'>;

export interface DetachedJobsDeps {
  bus: MessageBus;
  cluster: string;
  client: AgentClient;
  agents: AgentRegistry;
  arrays: ArrayCatalog;
  state: StateStore;
  logger: Logger;
  events: ClusterEvents;
  finished: FinishedJobs;
  /** Starts the job on the scheduler (stored at once, as `launched`); throws for bad input. */
  launch(params: Omit<PersistedJob, 'replyTo'>): Promise<Outgoing>;
  /** The job of this id while the scheduler runs it (or queues it). */
  running(jobId: string): { job: RunningJob; state: 'queued' | 'running' } | undefined;
  /** The coordinator is going away with its state: the next one resumes its jobs, nothing is kept here. */
  leaving(): boolean;
}

/**
 * Detached jobs (job.launch: `cluster.submit`, `sharc submit`): each runs on the scheduler as
 * any job, stored before its client hears it was accepted; when it ends, its outcome (a reduce's
 * value, made here from the partials the agents send the coordinator; a map's output name; its
 * error) is kept in FinishedJobs, and only then is its running record removed from the store,
 * so a crash at any point loses neither the job nor its outcome.
 */
export class DetachedJobs {
  /** Detached jobs that have not ended yet. */
  private readonly launched = new Map<string, LaunchedJob>();
  /** Where detached reduces' partials arrive. */
  private readonly inbox: PartialsInbox;
  /** Detached reduces not ended yet, by id: cancelMaking() stops the merging of their partials once they left the scheduler. */
  private readonly making = new Map<string, AbortController>();

  constructor(private readonly deps: DetachedJobsDeps) {
    this.inbox = new PartialsInbox(deps.bus, deps.cluster);
  }

  /** Whether the job is a detached one that has not ended. */
  has(jobId: string): boolean {
    return this.launched.has(jobId);
  }

  close(): void {
    this.inbox.shutdown();
  }

  /**
   * Detached reduces that left the scheduler and whose value is being made (their partials
   * merged on an agent, which a module's combine may take long to do): still running, as
   * `sharc jobs` and `sharc status` show them.
   */
  merging(): JobStatus[] {
    const merging: JobStatus[] = [];
    for (const jobId of this.making.keys()) {
      const info = this.launched.get(jobId);
      if (info === undefined || this.deps.running(jobId) !== undefined) continue;
      merging.push({ jobId, kind: info.kind, array: info.array, doneBlocks: info.totalBlocks, totalBlocks: info.totalBlocks, startedAt: info.submittedAt, state: 'running', detached: true });
    }
    return merging;
  }

  /**
   * Cancels a detached reduce whose value is being made (it left the scheduler): the agents
   * stop merging its partials and its outcome is kept as cancelled. False for any other job.
   */
  cancelMaking(jobId: string): boolean {
    const making = this.making.get(jobId);
    if (making === undefined || this.deps.running(jobId) !== undefined) return false;
    making.abort(new CancelledError(`job ${jobId} was cancelled`, { details: { jobId } }));
    this.deps.client.cancelJob(jobId);
    return true;
  }

  /**
   * Starts a detached job and answers at once with its info (the coordinator flushes the store
   * before the answer goes). Resent with the same id: the job's info, whatever its state.
   */
  launch(message: MessageOf<'job.launch'>): Outgoing {
    const clientId = message.from;
    if (!isSubjectToken(clientId)) throw new InvalidArgumentError(`sender ${JSON.stringify(clientId)} is not a valid client id`);
    const known = this.get(message.jobId, false);
    if (known !== undefined) return { type: 'job.info', job: known };
    if (this.deps.running(message.jobId) !== undefined) throw new InvalidArgumentError(`job id ${message.jobId} is already running (not detached)`);
    let { spec } = message;
    if (spec.kind === 'reduce') {
      if (spec.kernel.kind !== 'builtin' && spec.kernel.kind !== 'reduce') {
        throw new InvalidArgumentError("a detached reduce runs a built-in reduction or a module's partial and combine");
      }
      if (spec.with !== undefined || spec.partitions !== undefined) throw new InvalidArgumentError('a detached reduce runs over every partition of one array');
      if (spec.kernel.kind === 'builtin' && spec.kernel.op === 'histogram' && spec.kernel.params?.range === undefined) {
        throw new InvalidArgumentError('a detached histogram needs its range: [lo, hi]');
      }
    }
    // A detached map's output is found by name: it gets one when none was given.
    if (spec.kind === 'map' && spec.outputName === undefined) spec = { ...spec, outputName: generatedName() };
    this.run({
      jobId: message.jobId,
      clientId,
      spec,
      startedAt: Date.now(),
      timeoutMs: message.timeoutMs ?? DEFAULT_JOB_TIMEOUT_MS,
      generation: 0,
      detached: true,
      launched: true,
    });
    return { type: 'job.info', job: this.get(message.jobId) };
  }

  /** Resumes a detached job a previous coordinator stored; one that cannot run again (its input is gone) fails, and that is kept. */
  resume(job: PersistedJob): void {
    this.deps.logger.info('resuming a detached job of the previous coordinator', { jobId: job.jobId, kind: job.spec.kind });
    try {
      this.run({ ...job, generation: job.generation + 1 });
    } catch (error) {
      const data = toErrorData(error);
      delete data.stack;
      const array = this.deps.arrays.find(job.spec.arrayId)?.meta.name ?? job.spec.arrayId;
      this.keep({ jobId: job.jobId, kind: job.spec.kind, array, totalBlocks: 0, submittedAt: job.startedAt }, { state: 'failed', error: data });
    }
  }

  /**
   * A detached job by id: queued or running, or its kept outcome. Throws JobNotFoundError
   * (naming `sharc jobs` and the keep time) for one never launched or whose outcome expired.
   */
  get(jobId: string): DetachedJob;
  get(jobId: string, required: false): DetachedJob | undefined;
  get(jobId: string, required = true): DetachedJob | undefined {
    const launched = this.launched.get(jobId);
    if (launched !== undefined) {
      const running = this.deps.running(jobId);
      // Its value is being made (partials merged on an agent).
      if (running === undefined) return { ...launched, state: 'running', doneBlocks: launched.totalBlocks };
      return { ...launched, state: running.state, doneBlocks: running.job.status().doneBlocks, totalBlocks: running.job.total };
    }
    const finished = this.deps.finished.get(jobId);
    if (finished !== undefined || !required) return finished;
    throw new JobNotFoundError(
      `no detached job has id ${jobId}: it was never submitted with sharc submit (cluster.submit), or it ended more than ${durationText(this.deps.finished.keepMs)} ago ` +
        'and its result was let go (the coordinator keeps results for --keep-results). sharc jobs lists the jobs the coordinator knows',
      { details: { jobId, keepResultsMs: this.deps.finished.keepMs } },
    );
  }

  /**
   * The kept outcomes of detached jobs that ended, newest first up to a quarter of the server's
   * max_payload (values over LISTED_VALUE_BYTES left out): jobs.list's reply must fit in a
   * message whatever the jobs returned.
   */
  finishedJobs(): DetachedJob[] {
    return this.deps.finished.listWithin(Math.floor(this.deps.bus.transport.maxPayload / 4), LISTED_VALUE_BYTES);
  }

  /**
   * Runs a detached job to its end, then keeps its outcome: a reduce's value (made here from
   * its partials), a map's output name, or its error. Bad input (an unknown array…) throws at once.
   */
  private run(params: Omit<PersistedJob, 'replyTo'>): void {
    const { jobId, spec } = params;
    const making = new AbortController();
    if (spec.kind === 'reduce') this.inbox.open(jobId);
    const known = this.deps.arrays.find(spec.arrayId)?.meta;
    const about = { job: jobId, jobKind: spec.kind, kernel: kernelLabel(spec.kernel), array: known?.name ?? spec.arrayId, partitions: known?.partitions.length ?? 0 };
    let outcome: Promise<Outgoing>;
    try {
      outcome = this.deps.launch(params);
    } catch (error) {
      this.inbox.close(jobId);
      this.deps.events.note({ kind: 'job.finished', ...about, durationMs: 0, outcome: 'refused', error: errorLine(error) });
      throw error;
    }
    const startedAt = Date.now();
    this.deps.events.note({ kind: 'job.started', ...about, client: params.clientId });
    const { input, total } = this.deps.running(jobId)!.job;
    const info: LaunchedJob = { jobId, kind: spec.kind, array: input.name, totalBlocks: total, submittedAt: params.startedAt };
    this.launched.set(jobId, info);
    if (spec.kind === 'reduce') this.making.set(jobId, making);
    const timeLeft = () => Math.max(1, params.startedAt + params.timeoutMs - Date.now());
    const result = outcome.then(async (reply): Promise<Pick<DetachedJob, 'value' | 'output'>> => {
      if (reply.type !== 'job.done') throw new InvalidArgumentError(`job ${jobId} ended with ${reply.type}`);
      if (spec.kind === 'map') return reply.array === undefined ? {} : { output: reply.array.name };
      const partitions = input.partitions.map((p) => p.index);
      const partials = await this.inbox.take(jobId, partitions, reply.attempts ?? partitions.map(() => 0));
      const value = await reduceValue({ client: this.deps.client, agents: this.deps.agents, signal: making.signal }, jobId, spec, input, partials, timeLeft());
      if (value === undefined) return {};
      // Kept in the state store and sent in job.info: it must fit in a message with room to spare.
      const bytes = encodeValue(value).length;
      const limit = Math.floor(this.deps.bus.transport.maxPayload / 2);
      if (bytes > limit) {
        throw new MessageTooLargeError(
          `the value of job ${jobId} is ${bytes} bytes, more than a detached job's kept result may hold (${limit} bytes, half the server's max_payload): ` +
            'return less from the kernel, or run it with cluster.reduce (sharc reduce), whose partials go straight to the caller',
          { details: { jobId, bytes, limit } },
        );
      }
      return { value };
    });
    void result
      .then(
        (done) => {
          this.deps.events.note({ kind: 'job.finished', ...about, durationMs: Date.now() - startedAt, outcome: 'ok' });
          this.keep(info, { state: 'done', ...done });
        },
        (error: unknown) => {
          const cancelled = error instanceof CancelledError;
          // A merge on an agent that timed out or failed here may still run there: stopped.
          if (spec.kind === 'reduce' && this.deps.running(jobId) === undefined) this.deps.client.cancelJob(jobId);
          this.deps.events.note({ kind: 'job.finished', ...about, durationMs: Date.now() - startedAt, outcome: cancelled ? 'cancelled' : 'failed', error: errorLine(error) });
          const data = toErrorData(error);
          delete data.stack;
          this.keep(info, { state: cancelled ? 'cancelled' : 'failed', error: data });
        },
      )
      .finally(() => {
        this.inbox.close(jobId);
        this.making.delete(jobId);
      });
  }

  /** A detached job ended: its outcome is stored before its running record is removed, so a crash in between loses neither. */
  private keep(info: LaunchedJob, end: Pick<DetachedJob, 'value' | 'output' | 'error'> & { state: 'done' | 'failed' | 'cancelled' }): void {
    if (this.deps.leaving()) return;
    const endedAt = Date.now();
    this.launched.delete(info.jobId);
    this.deps.finished.add({ ...info, ...end, doneBlocks: end.state === 'done' ? info.totalBlocks : 0, endedAt });
    this.deps.state.deleteJob(info.jobId);
    // (The job's end has its info line from the job log.)
    this.deps.logger.debug(`detached job ${end.state}; its outcome is kept`, { jobId: info.jobId, kind: info.kind, durationMs: endedAt - info.submittedAt, keptForMs: this.deps.finished.keepMs });
  }
}
