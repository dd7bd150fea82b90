import {
  BusyError,
  CancelledError,
  DEFAULT_JOB_TIMEOUT_MS,
  InvalidArgumentError,
  NameTakenError,
  checkBuiltinKernel,
  NoAgentsError,
  bytesPerElement,
  colsOf,
  isSubjectToken,
  parseShape,
  holdersOf,
  rowsOf,
  subjectFor,
  toErrorData,
  fromErrorData,
  type ErrorData,
  type PartitionMeta,
  type ArrayMeta,
  type BackingFile,
  type DType,
  type JobStatus,
  type Logger,
  type MessageBus,
  type MessageOf,
  type Outgoing,
  type Shape,
  type SharcError,
} from '@sharc/protocol';
import path from 'node:path';
import type { AgentClient } from '../agents/agent-client.js';
import type { ClusterEvents } from '../observe/cluster-events.js';
import { heldBytes, newArrayId, type PartitionAllocator } from '../placement/partition-allocator.js';
import type { PartitionRecovery } from '../recovery/partition-recovery.js';
import type { AgentRegistry } from '../registry/agent-registry.js';
import type { ArrayCatalog, ArrayOrigin, ArrayRecord } from '../registry/array-catalog.js';
import type { PersistedJob, StateStore } from '../state/state-store.js';
import { JobAdmission, checkOutputFits, type AdmissionTicket } from './admission.js';
import { LogTally } from '../log-tally.js';
import { RefusalSummary } from './refusal-summary.js';
import { builtinOpOutput, checkBuiltinOpJob } from './builtin-op-jobs.js';
import { overlappingPartitions, secondInputOf } from './second-input.js';
import { MAX_ATTEMPTS, RunningJob, attemptKey } from './run-job.js';
import { TaskBatcher } from './task-batcher.js';
import type { FinishedJobs } from './finished-jobs.js';
import { DetachedJobs } from './detached-jobs.js';
import { errorLine, generatedName, kernelLabel } from './job-names.js';

/** Jobs still running after this long are stored for a restarted coordinator to resume. */
const JOB_PERSIST_DELAY_MS = 100;
/**
 * How long, and how many, finished jobs' outcomes are kept: a client whose reply was lost on
 * the way (NATS was away) asks for it again with job.sync as soon as it reconnects (and every
 * 2 s while it waits; it gives up after a 3 s outage). A job whose outcome was let go is
 * unknown to job.sync, and its client submits it again: a reduce runs again (right, at the
 * cost of its work), a map makes a second output. Kept small: at hundreds of tiny jobs a second,
 * outcomes kept longer outlive the young generation and grew the coordinator's memory in the
 * soak test by 10–30 %.
 */
const FINISHED_KEPT_MS = 15 * 1000;
/** At most this many outcomes, and this many partitions named in them (attempts kept). */
const FINISHED_KEPT = 500;
const FINISHED_KEPT_PARTITIONS = 50_000;
/** Beyond the liveness window: how long an agent that vanished from NATS may take to be declared dead. */
const DEATH_VERDICT_MARGIN_MS = 2000;

/** A job that ended lately, kept small (see JobScheduler.remember). */
interface FinishedJob {
  at: number;
  /** Partitions named in it (the attempts kept), for the cache's bound. */
  weight: number;
  /** A reduce whose partitions all counted their first attempt: how many there are. */
  partitions?: number;
  /** A reduce's attempts that count, when one is not the first. */
  attempts?: number[];
  /** A map's output. */
  arrayId?: string;
  /** How it failed. */
  error?: ErrorData;
}

export interface SchedulerDeps {
  bus: MessageBus;
  /** Every request to an agent goes through it. */
  client: AgentClient;
  cluster: string;
  deadAfterMs: number;
  logger: Logger;
  arrays: ArrayCatalog;
  agents: AgentRegistry;
  placement: PartitionAllocator;
  recovery: PartitionRecovery;
  state: StateStore;
  /** Told when each job starts and ends (or is refused). */
  events: ClusterEvents;
  /** Resolves once a restarted coordinator's agents had their chance to rejoin: jobs wait for it. */
  rejoined(): Promise<void>;
  /** Jobs that may run at once, and wait in the queue. */
  maxRunningJobs: number;
  maxQueuedJobs: number;
  /** The array lifecycle, which the coordinator owns. */
  reserve(meta: ArrayMeta, origin: ArrayOrigin, replace: boolean): Promise<void>;
  /** A resumed job's client gets a full liveness window from now (see ClientSessions.expect). */
  expectClient(clientId: string): void;
  commit(arrayId: string): Promise<ArrayMeta>;
  drop(record: ArrayRecord): Promise<void>;
  /** The kept outcomes of detached jobs that ended (job.launch). */
  finished: FinishedJobs;
}


/**
 * The running jobs: starts each on the agents that serve its input, moves its partitions'
 * work when an agent dies, and answers cancel and status requests.
 */
export class JobScheduler {
  private readonly jobs = new Map<string, RunningJob>();
  /** Whose each job is, and whether it outlives its client: a gone client's other jobs are cancelled. */
  private readonly owners = new Map<string, { clientId: string; detached: boolean }>();
  /** Detached jobs of job.launch: they run here, their outcomes are kept (detached-jobs.ts). */
  private readonly detachedRunner: DetachedJobs;
  /** The outcome of each job until it is known (job.submit resent with the same id waits on it). */
  private readonly outcomes = new Map<string, Promise<Outgoing>>();
  /** Outcomes of jobs that ended lately, oldest first: resent to a client that missed them. */
  private readonly finished = new Map<string, FinishedJob>();
  /** Partitions named in the outcomes kept. */
  private finishedWeight = 0;
  private detached = false;
  private readonly admission: JobAdmission;
  /** Submissions refused by admission: counted and summed up in the log, not one line each. */
  private readonly refusals: RefusalSummary;
  /** A job's tasks for one agent, sent as one task.batch. */
  private readonly batcher: TaskBatcher;
  /** Lines said once per partition (a task moved, lost on the way), summed up. */
  private readonly repeated: LogTally;
  /** The output files of the maps running now (normalised paths): no second map writes one of them. */
  private readonly outputFiles = new Set<string>();

  constructor(private readonly deps: SchedulerDeps) {
    this.admission = new JobAdmission(deps.maxRunningJobs, deps.maxQueuedJobs);
    this.refusals = new RefusalSummary(deps.logger);
    this.repeated = new LogTally(deps.logger);
    this.batcher = new TaskBatcher(deps.client);
    this.detachedRunner = new DetachedJobs({
      ...deps,
      launch: (params) => this.launch(params),
      running: (jobId) => {
        const job = this.jobs.get(jobId);
        return job === undefined ? undefined : { job, state: this.admission.stateOf(jobId) };
      },
      leaving: () => this.detached,
    });
  }

  /** Job submissions refused with BusyError since this coordinator started. */
  get refusedJobs(): number {
    return this.refusals.refused;
  }

  /** The coordinator stops: refusals not yet logged are. */
  close(): void {
    this.refusals.close();
    this.repeated.flush();
    this.detachedRunner.close();
  }

  /** Jobs queued and running, with detached reduces whose partials are being merged after they left here. */
  status(): JobStatus[] {
    const jobs: JobStatus[] = [...this.jobs.values()].map((job) => ({
      ...job.status(),
      state: this.admission.stateOf(job.jobId),
      ...(this.detachedRunner.has(job.jobId) ? { detached: true } : {}),
    }));
    return [...jobs, ...this.detachedRunner.merging()];
  }

  /** Detached jobs (job.launch): started, followed and their outcomes kept (detached-jobs.ts). */
  get detachedJobs(): DetachedJobs {
    return this.detachedRunner;
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

  /**
   * The client went away: fails its jobs that are not detached with `error` (as a cancel does:
   * agents told to stop, a map's output freed). Returns their ids.
   */
  failJobsOf(clientId: string, error: SharcError): string[] {
    const failed: string[] = [];
    for (const [jobId, owner] of this.owners) {
      if (owner.clientId !== clientId || owner.detached) continue;
      this.jobs.get(jobId)?.fail(error);
      failed.push(jobId);
    }
    return failed;
  }

  failAll(error: SharcError): void {
    for (const job of this.jobs.values()) job.fail(error);
  }

  /**
   * The coordinator is going away but its state stays: jobs are left as stored for the next
   * one to resume; nothing more is written or freed for them here.
   */
  /** Admission's ticket for the job; a refusal (BusyError) is counted on its way to the client. */
  private enterAdmission(jobId: string): AdmissionTicket {
    try {
      return this.admission.enter(jobId);
    } catch (error) {
      if (error instanceof BusyError) this.refusals.count(error.details ?? {});
      throw error;
    }
  }

  detach(): void {
    this.detached = true;
  }

  /**
   * Where a job is, for a client that may have missed its messages: its `job.done` if it ended
   * lately, else its state: failed lately (with the error), queued, running, or unknown here.
   */
  async sync(jobId: string): Promise<Outgoing> {
    const finished = this.finished.get(jobId);
    if (finished !== undefined) {
      if (finished.error !== undefined) return { type: 'job.state', jobId, state: 'failed', error: finished.error };
      return this.doneReply(jobId, finished);
    }
    const job = this.jobs.get(jobId);
    if (job === undefined) return { type: 'job.state', jobId, state: 'unknown' };
    return { type: 'job.state', jobId, state: this.admission.stateOf(jobId) };
  }

  /** An agent's heartbeat listed the tasks it runs: attempts sent to it that it lacks were lost on the way. */
  tasksListed(agentId: string, tasks: ReadonlyArray<{ jobId: string; partitionIndex: number; attempt: number }>): void {
    const byJob = new Map<string, Set<string>>();
    for (const t of tasks) byJob.set(t.jobId, (byJob.get(t.jobId) ?? new Set()).add(attemptKey(t.partitionIndex, t.attempt)));
    const now = Date.now();
    for (const job of this.jobs.values()) job.tasksListed(agentId, byJob.get(job.jobId) ?? new Set(), now);
  }

  /**
   * Keeps a job's outcome for a while, for a client that missed it: compactly (the attempts
   * that count, only when one is not the first; a map's output by id; an error as plain data
   * without its stack), as thousands of them outlive the young generation at hundreds of tiny
   * jobs a second, and whole replies grew the coordinator's memory in the soak test.
   */
  private remember(jobId: string, outcome: { reply: Outgoing } | { error: unknown }): void {
    const now = Date.now();
    let entry: FinishedJob;
    if ('error' in outcome) {
      const error = toErrorData(outcome.error);
      delete error.stack;
      entry = { at: now, weight: 1, error };
    } else {
      const reply = outcome.reply.type === 'job.done' ? outcome.reply : undefined;
      const attempts = reply?.attempts;
      const retried = attempts?.some((attempt) => attempt !== 0) === true;
      entry = {
        at: now,
        weight: 1 + (retried ? attempts!.length : 0),
        ...(attempts === undefined ? {} : retried ? { attempts } : { partitions: attempts.length }),
        ...(reply?.array === undefined ? {} : { arrayId: reply.array.id }),
      };
    }
    this.finished.set(jobId, entry);
    this.finishedWeight += entry.weight;
    for (const [id, kept] of this.finished) {
      if (this.finished.size <= FINISHED_KEPT && this.finishedWeight <= FINISHED_KEPT_PARTITIONS && now - kept.at < FINISHED_KEPT_MS) break;
      this.finished.delete(id);
      this.finishedWeight -= kept.weight;
    }
  }

  /** The job.done of a job that ended lately, as it was sent (a map's output as it is now). */
  private doneReply(jobId: string, finished: FinishedJob): Outgoing {
    const attempts = finished.attempts ?? (finished.partitions === undefined ? undefined : new Array<number>(finished.partitions).fill(0));
    const array = finished.arrayId === undefined ? undefined : this.deps.arrays.find(finished.arrayId)?.meta;
    return { type: 'job.done', jobId, ...(array === undefined ? {} : { array }), ...(attempts === undefined ? {} : { attempts }) };
  }

  /** The agent was declared dead: every job's attempts on it move on. */
  agentLost(agentId: string): void {
    for (const job of this.jobs.values()) job.agentLost(agentId);
  }

  cancelOnAgents(jobId: string): void {
    this.deps.client.cancelJob(jobId);
  }

  /** Runs a submitted job to its end; the reply to job.submit is its outcome. */
  run(message: MessageOf<'job.submit'>, context: { replyTo?: string }): Promise<Outgoing> {
    const clientId = message.from;
    if (!isSubjectToken(clientId)) throw new InvalidArgumentError(`sender ${JSON.stringify(clientId)} is not a valid client id`);
    return this.start({
      jobId: message.jobId,
      clientId,
      spec: message.spec,
      startedAt: Date.now(),
      timeoutMs: message.timeoutMs ?? DEFAULT_JOB_TIMEOUT_MS,
      generation: 0,
      ...(message.detached === true ? { detached: true } : {}),
      ...(context.replyTo === undefined ? {} : { replyTo: context.replyTo }),
    });
  }

  /**
   * Resumes a job a previous coordinator was running (its state was in the store): every
   * partition runs again with attempt numbers of its own, and the submitter, still waiting on
   * its request, hears the outcome at the reply subject it gave.
   */
  resume(job: PersistedJob): void {
    if (job.launched === true) return this.detachedRunner.resume(job);
    const replyTo = job.replyTo;
    if (replyTo === undefined) {
      this.deps.logger.error('a stored job has no one to answer and is not detached: dropped', { jobId: job.jobId });
      this.deps.state.deleteJob(job.jobId);
      return;
    }
    const answer = (reply: Outgoing) => {
      try {
        this.deps.bus.reply(replyTo, reply);
      } catch (error) {
        this.deps.logger.error('could not answer a resumed job', { jobId: job.jobId, error: toErrorData(error) });
      }
    };
    this.deps.logger.info('resuming a job of the previous coordinator', { jobId: job.jobId, kind: job.spec.kind });
    this.deps.expectClient(job.clientId);
    this.start({ ...job, generation: job.generation + 1 }).then(answer, (error: unknown) => answer({ type: 'error', error: toErrorData(error) }));
  }

  /**
   * Starts a job, or (job.submit is idempotent by job id: a client resends it when it may have
   * been lost) answers with the outcome of the job of that id, running or ended lately.
   */
  private start(params: Omit<PersistedJob, 'replyTo'> & { replyTo?: string }): Promise<Outgoing> {
    const { jobId } = params;
    const finished = this.finished.get(jobId);
    if (finished !== undefined) return finished.error === undefined ? Promise.resolve(this.doneReply(jobId, finished)) : Promise.reject(fromErrorData(finished.error));
    const running = this.outcomes.get(jobId);
    if (running !== undefined) return running;
    const { spec } = params;
    const input = this.deps.arrays.find(spec.arrayId)?.meta;
    const about = { job: jobId, jobKind: spec.kind, kernel: kernelLabel(spec.kernel), array: input?.name ?? spec.arrayId, partitions: input?.partitions.length ?? 0 };
    let outcome: Promise<Outgoing>;
    try {
      outcome = this.launch(params);
    } catch (error) {
      this.deps.events.note({ kind: 'job.finished', ...about, durationMs: 0, outcome: 'refused', error: errorLine(error) });
      return Promise.reject(error as Error);
    }
    const startedAt = Date.now();
    this.deps.events.note({ kind: 'job.started', ...about, client: params.clientId });
    this.outcomes.set(jobId, outcome);
    outcome.then(
      (reply) => {
        this.deps.events.note({ kind: 'job.finished', ...about, durationMs: Date.now() - startedAt, outcome: 'ok' });
        this.remember(jobId, { reply });
      },
      (error: unknown) => {
        const ended = error instanceof CancelledError ? 'cancelled' : error instanceof BusyError ? 'refused' : 'failed';
        this.deps.events.note({ kind: 'job.finished', ...about, durationMs: Date.now() - startedAt, outcome: ended, error: errorLine(error) });
        this.remember(jobId, { error });
      },
    ).finally(() => this.outcomes.delete(jobId));
    return outcome;
  }

  private launch(params: Omit<PersistedJob, 'replyTo'> & { replyTo?: string }): Promise<Outgoing> {
    const { jobId, spec } = params;
    if (this.jobs.has(jobId)) throw new InvalidArgumentError(`job id ${jobId} is already running`);
    // A detached reduce's partials come to the coordinator, which makes its value (its client may be gone).
    const clientId = params.launched === true && spec.kind === 'reduce' ? this.deps.bus.sender : params.clientId;
    const jobSubject = subjectFor(this.deps.cluster, { to: 'job', clientId, jobId });
    // Snapshots (the catalog's ArrayMeta never change): where a partition is served now is asked of the catalog.
    const input = this.deps.arrays.ready(spec.arrayId);
    if (spec.kind === 'reduce' && spec.kernel.kind === 'map') throw new InvalidArgumentError('reduce needs a partial/combine kernel');
    if (spec.kind === 'map' && spec.kernel.kind !== 'map' && spec.kernel.kind !== 'builtin-map') throw new InvalidArgumentError('map needs a module kernel export');
    // A binary op's or dot's second array (checked against the first: same shape, op and dtypes).
    const other = spec.with === undefined ? undefined : this.deps.arrays.ready(spec.with.arrayId);
    /** The second array as placed now (its partitions may have moved since the job started). */
    const otherNow = (): ArrayMeta | undefined => (other === undefined ? undefined : (this.deps.arrays.find(other.id)?.meta ?? other));
    checkBuiltinOpJob(spec, input, other);
    // A built-in's op and params are checked against the array before any agent is asked.
    if (spec.kind === 'reduce' && spec.kernel.kind === 'builtin') checkBuiltinKernel(spec.kernel, input.shape, true);
    if (params.detached === true && spec.kind === 'reduce' && params.launched !== true) {
      throw new InvalidArgumentError("detached is for a map (or fromFile), whose output stays in the cluster: a reduce's result goes only to its caller, so it ends with its client");
    }
    if (params.detached === true && spec.kind === 'map' && spec.outputName === undefined) {
      throw new InvalidArgumentError('a detached map needs a name for its output: it is kept after its client goes away, and found again only by its name');
    }
    if (spec.kind === 'reduce' && spec.partitions !== undefined) checkPartitionSubset(spec.partitions, input);
    // (A resumed map's output is pending under that name already.)
    if (spec.kind === 'map' && spec.outputName !== undefined && params.generation === 0) this.deps.arrays.checkName(spec.outputName, spec.replace ?? false);
    const outputFile = spec.kind === 'map' && spec.outputFile !== undefined ? path.normalize(spec.outputFile) : undefined;
    if (spec.kind === 'map' && outputFile !== undefined && params.generation === 0) {
      this.checkOutputFileFree(outputFile, spec.outputName, spec.replace ?? false, [input.id, ...(other === undefined ? [] : [other.id])]);
    }

    let output: ArrayMeta | undefined;
    /** Output partitions an agent said it lacks: allocated again before the next attempt. */
    const lostOutputs = new Set<number>();
    const outputTask = () => (output === undefined ? {} : { output: { arrayId: output.id, dtype: output.dtype, cols: spec.kind === 'map' ? spec.cols : 1 } });
    // Queued (or refused with BusyError) before anything is registered, allocated or timed:
    // a flood of refused submissions leaves nothing behind.
    const ticket = this.enterAdmission(jobId);
    // Jobs that outlive JOB_PERSIST_DELAY_MS are stored, so that a new coordinator can resume
    // them; tiny jobs finish first and never cost a write.
    // (Without a reply subject, in the embedded cluster, nobody could be answered after a restart.)
    let stored = false;
    const { replyTo } = params;
    // A detached job of job.launch is stored at once, before its client hears it was accepted;
    // its record is removed once its outcome is kept (keepOutcome), not when it ends.
    const launched = params.launched === true;
    const store = () => {
      if (replyTo === undefined && !launched) return;
      stored = true;
      this.deps.state.saveJob({ ...params, ...(output === undefined ? {} : { outputId: output.id }) });
    };
    if (launched) store();
    const storeTimer = replyTo === undefined || launched ? undefined : setTimeout(store, params.generation > 0 ? 0 : JOB_PERSIST_DELAY_MS);
    storeTimer?.unref();
    const job = new RunningJob(jobId, spec, input, { startedAt: params.startedAt, timeoutMs: params.timeoutMs }, params.generation * MAX_ATTEMPTS, {
      bus: this.deps.bus,
      logger: this.deps.logger,
      repeated: this.repeated,
      jobSubject,
      deathWindowMs: this.deps.deadAfterMs + DEATH_VERDICT_MARGIN_MS,
      finishedWorkDiesWithAgent: spec.kind === 'map',
      agentOf: (index) => this.deps.arrays.servingAgent(input.id, index) ?? input.partitions[index]!.agentId,
      runPartition: (index, agentId, attempt, timeout) =>
        // Without a second input every partition's task is alike but for its index: batched per agent.
        other === undefined
          ? this.batcher.run(
              agentId,
              { jobId, clientId, arrayId: input.id, arrayName: input.name, kernel: spec.kernel, params: spec.params, ...outputTask() },
              index,
              attempt,
              timeout,
            )
          : this.deps.client.runTask(
          agentId,
          {
            jobId,
            clientId,
            arrayId: input.id,
            arrayName: input.name,
            partitionIndex: index,
            attempt,
            kernel: spec.kernel,
            params: spec.params,
            ...outputTask(),
            ...(other === undefined ? {} : { with: secondInputOf(otherNow()!, input.partitions[index]!, agentId, this.deps.agents) }),
          },
          timeout,
        ),
      recoverPartition: async (index) => {
        await this.deps.recovery.whenServed(input.id, index);
        if (other !== undefined) {
          await Promise.all(overlappingPartitions(other, input.partitions[index]!).map((p) => this.deps.recovery.whenServed(other.id, p.index)));
        }
        if (output !== undefined) await this.moveOutputPartition(output, input.id, index, lostOutputs.delete(index));
      },
      partitionMissing: (index, agentId, arrayId) => {
        if (output !== undefined && arrayId === output.id) lostOutputs.add(index);
        else if (other !== undefined && arrayId === other.id) {
          // A copy of the second array the catalog places on the agent is not there: made again.
          for (const p of overlappingPartitions(otherNow()!, input.partitions[index]!)) {
            if (holdersOf(p).includes(agentId)) this.deps.recovery.copyLost(other.id, p.index, agentId, Promise.resolve());
          }
        } else this.deps.recovery.copyLost(input.id, index, agentId, Promise.resolve());
      },
      cancelEverywhere: (id) => this.cancelOnAgents(id),
      finish: async (outcome) => {
        // Listed (runningJobs) until its output is stored: a map has not ended for its user
        // before its output can be opened.
        const over = (): undefined => {
          this.jobs.delete(jobId);
          this.owners.delete(jobId);
          return undefined;
        };
        clearTimeout(storeTimer);
        if (this.detached) return over();
        if (stored && !launched) this.deps.state.deleteJob(jobId);
        if (output === undefined) return over();
        try {
          if (outcome === 'failed') {
            // A commit that failed has dropped the output already.
            const record = this.deps.arrays.find(output.id);
            if (record !== undefined) await this.deps.drop(record);
            return undefined;
          }
          if (output.file !== undefined) await this.outputFileWritten(output, output.file);
          return await this.deps.commit(output.id);
        } finally {
          over();
        }
      },
    });
    // Registered before the first await, so a cancel or a dead agent reaches it at any point.
    this.jobs.set(jobId, job);
    this.owners.set(jobId, { clientId: params.clientId, detached: params.detached === true });
    void job.over.then(() => ticket.release());
    if (outputFile !== undefined) {
      this.outputFiles.add(outputFile);
      void job.over.then(() => this.outputFiles.delete(outputFile));
    }
    const prepare = async () => {
      await this.deps.rejoined();
      await ticket.admitted;
      // The input may have gone while the job waited.
      this.deps.arrays.ready(spec.arrayId);
      // Partitions of agents that died are served elsewhere first (a copy, the file, the lineage).
      await Promise.all(input.partitions.map((p) => this.deps.recovery.whenServed(input.id, p.index)));
      if (other !== undefined) {
        this.deps.arrays.ready(other.id);
        await Promise.all(other.partitions.map((p) => this.deps.recovery.whenServed(other.id, p.index)));
      }
      if (spec.kind !== 'map') return;
      // A resumed map writes into the output the previous coordinator allocated.
      const allocated = params.generation === 0 ? undefined : this.resumedOutput(params);
      if (allocated?.state === 'pending') {
        output = allocated.meta;
        for (const p of input.partitions) await this.moveOutputPartition(output, input.id, p.index);
      } else {
        const meta = this.mapOutputMeta(input, spec.outputName ?? generatedName(), spec.dtype, spec.cols);
        if (spec.kernel.kind === 'builtin-map') builtinOpOutput(meta, spec.kernel, input, other);
        if (spec.outputFile === undefined) checkOutputFits(meta, this.deps.agents, input.file !== undefined);
        else meta.file = await this.createOutputFile(meta, spec.outputFile, spec.replace ?? false);
        const origin: ArrayOrigin = {
          kind: 'map',
          inputId: input.id,
          kernel: spec.kernel,
          params: spec.params,
          dtype: spec.dtype,
          cols: spec.cols,
          ...(other === undefined ? {} : { withId: other.id }),
        };
        await this.deps.reserve(meta, origin, spec.replace ?? false);
        output = meta;
      }
      if (stored) store();
    };
    // A job cancelled, timed out or failed while it waits leaves the queue at once.
    return job.run(prepare).catch((error: unknown) => {
      ticket.withdraw();
      // Gone from the store before its caller hears it failed: a new coordinator must not resume it.
      clearTimeout(storeTimer);
      if (stored && !this.detached && !launched) this.deps.state.deleteJob(jobId);
      throw error;
    });
  }

  /**
   * Refuses a map's output file that another array's rows are in: the file of a file-backed
   * array (the map's own input, or any other: `replace` truncates it and the map overwrites
   * it, so that array's data, the user's file, would be gone), or the file another running map
   * writes (two maps writing one file leave rows of both in it, and both say they succeeded).
   * The one exception is the file of the array this map replaces by name, unless this map reads it.
   */
  private checkOutputFileFree(file: string, outputName: string | undefined, replace: boolean, reads: readonly string[]): void {
    if (this.outputFiles.has(file)) {
      throw new NameTakenError(`${file} is being written right now by another map: wait for it to end, or write to another path`, { details: { path: file } });
    }
    // Without replace an existing file is refused by the agent that would create it (and nothing is truncated).
    if (!replace) return;
    for (const record of this.deps.arrays.all()) {
      const backing = record.meta.file;
      if (backing === undefined || path.normalize(backing.path) !== file) continue;
      if (outputName !== undefined && record.state === 'ready' && record.meta.name === outputName && !reads.includes(record.meta.id)) continue;
      const deleteFirst =
        record.state === 'retired'
          ? `'${record.meta.name}' was deleted but is kept to compute again the arrays made from it: write to another path, or delete those arrays first`
          : `Write to another path, or delete '${record.meta.name}' first (its file stays)`;
      throw new NameTakenError(
        `${file} is the file of the file-backed array '${record.meta.name}': a map writing its output there would overwrite that array's rows. ${deleteFirst}`,
        { details: { path: file, name: record.meta.name } },
      );
    }
  }

  /** The output a previous coordinator allocated for a resumed map: by id, or (stored before it knew the id) by name. */
  private resumedOutput(params: Omit<PersistedJob, 'replyTo'>): ArrayRecord | undefined {
    if (params.outputId !== undefined) return this.deps.arrays.find(params.outputId);
    const name = params.spec.kind === 'map' ? params.spec.outputName : undefined;
    return this.deps.arrays
      .all()
      .find((r) => r.state === 'pending' && r.origin.kind === 'map' && r.origin.inputId === params.spec.arrayId && name !== undefined && r.meta.name === name);
  }

  /**
   * A running map's output partition follows its input partition to the agent that took it
   * over. (`output`: the output as allocated; where its partition is now, the catalog says.)
   */
  private async moveOutputPartition(output: ArrayMeta, inputId: string, index: number, lost = false): Promise<void> {
    const target = this.deps.arrays.servingAgent(inputId, index);
    const current = this.deps.arrays.partition(output.id, index) ?? output.partitions[index]!;
    if (target === undefined || (current.agentId === target && !lost)) return;
    await this.deps.placement.releaseCopy(current.agentId, output.id, current, heldBytes(output, current));
    const moved = { ...current, agentId: target };
    this.deps.arrays.placePartition(output.id, moved);
    await this.deps.placement.allocateCopy(target, output.id, moved, {
      type: 'partition.allocate',
      arrayId: output.id,
      dtype: output.dtype,
      shape: output.shape,
      partition: moved,
      ...(output.file === undefined ? {} : { file: output.file }),
    });
  }

  /**
   * The `.npy` file a map writes its output to, made by an agent that serves the output (the
   * path is on the agents' disk, which the coordinator may not see): header and size; the
   * threads write the rows.
   */
  private async createOutputFile(output: ArrayMeta, path: string, replace: boolean): Promise<BackingFile> {
    const agentId = output.partitions[0]?.agentId ?? this.deps.agents.alive()[0]?.id;
    if (agentId === undefined) throw new NoAgentsError('no agent is alive to create the output file', { retryable: true });
    const created = await this.deps.client.control(agentId, { type: 'file.create', path, dtype: output.dtype, shape: output.shape, replace });
    return { path, dataOffset: created.dataOffset, size: created.size, mtimeMs: created.mtimeMs };
  }

  /** A map's output file once every row is written: its size and modification time now are what later jobs check. */
  private async outputFileWritten(output: ArrayMeta, file: BackingFile): Promise<void> {
    const agentId = this.deps.arrays.partition(output.id, 0)?.agentId ?? this.deps.agents.alive()[0]?.id;
    if (agentId === undefined) throw new NoAgentsError('no agent is alive to read the output file', { retryable: true });
    const source = { path: file.path, format: 'npy' as const };
    const written = await this.deps.client.control(agentId, { type: 'file.inspect', source });
    const final = { ...file, size: written.size, mtimeMs: written.mtimeMs };
    this.deps.arrays.fileWritten(output.id, final);
    // The agents wrote it, so they checked only its size: from now on they check its time too,
    // as for any file-backed array (partition.load of a partition held for the same file).
    const rowBytes = colsOf(output.shape) * bytesPerElement(output.dtype);
    const byAgent = new Map<string, PartitionMeta[]>();
    for (const p of this.deps.arrays.find(output.id)?.meta.partitions ?? []) byAgent.set(p.agentId, [...(byAgent.get(p.agentId) ?? []), p]);
    await Promise.all(
      [...byAgent].map(async ([id, partitions]) => {
        for (const partition of partitions) {
          await this.deps.client
            .control(id, { type: 'partition.load', arrayId: output.id, dtype: output.dtype, shape: output.shape, partition, source, dataOffset: final.dataOffset + partition.rowStart * rowBytes, file: final })
            .catch((error: unknown) => this.deps.logger.warn("an agent could not check a map's output file from now on", { array: output.name, agentId: id, error: toErrorData(error) }));
        }
      }),
    );
  }

  /** A map's output: the same row ranges on the same agents as its input, so no byte moves. */
  private mapOutputMeta(input: ArrayMeta, name: string, dtype: DType, cols: number): ArrayMeta {
    const rows = rowsOf(parseShape(input.shape));
    // One value per input element keeps the input's 0-d or 1-D shape; otherwise rows × cols.
    const shape: Shape = input.shape.length < 2 && cols === 1 ? input.shape : [rows, cols];
    const rowBytes = cols * bytesPerElement(dtype);
    // One copy: a lost output partition is computed again from its input.
    const partitions = input.partitions.map(({ index, rowStart, rowCount, agentId }) => ({ index, rowStart, rowCount, agentId, byteLength: rowCount * rowBytes }));
    for (const p of partitions) {
      if (!this.deps.agents.isAlive(p.agentId)) throw new NoAgentsError(`agent ${p.agentId} holding partition ${p.index} is not alive`, { retryable: true });
    }
    return { id: newArrayId(), name, dtype, shape, partitions, createdAt: Date.now() };
  }
}

/** A reduce of some partitions names each once, and only partitions the array has. */
function checkPartitionSubset(partitions: readonly number[], input: ArrayMeta): void {
  const unknown = partitions.find((index) => index >= input.partitions.length);
  if (unknown !== undefined) throw new InvalidArgumentError(`partition ${unknown} does not exist: '${input.name}' has ${input.partitions.length}`);
  if (new Set(partitions).size !== partitions.length) throw new InvalidArgumentError('a partition is named twice in the partitions to reduce');
}
