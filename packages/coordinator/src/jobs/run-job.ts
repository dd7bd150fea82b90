import {
  ConnectionError,
  missingPartitionOf,
  InvalidArgumentError,
  NoAgentsError,
  TimeoutError,
  blockCount,
  bytesPerElement,
  colsOf,
  toErrorData,
  type ArrayMeta,
  type JobSpec,
  type JobStatus,
  type Logger,
  type MessageBus,
  type Outgoing,
  type SharcError,
} from '@sharc/protocol';
import type { LogTally } from '../log-tally.js';

/** Progress events go out at most this often per job. */
const PROGRESS_INTERVAL_MS = 100;
/**
 * A heartbeat sent this soon after a task may have left before the task arrived: it says
 * nothing of it. Beyond the time a task.run takes to reach an agent on a loaded machine.
 */
const TASK_LISTING_GRACE_MS = 500;
/**
 * A task counts as lost when two heartbeats read at least this far apart both leave it out:
 * the first may have been read just before the task's result, which arrived in the same read;
 * and heartbeats that waited while the coordinator's loop was busy (placing or recovering
 * 100,000s of partitions) are read in a burst, all of them sent before the task arrived, and
 * say nothing of it. Agents send one a second, so a task lost on the way is still found in ~2 s.
 */
const MISSES_APART_MS = 900;
/** A partition's work moves to another agent at most this many times before the job fails. */
export const MAX_ATTEMPTS = 4;

export interface JobHooks {
  bus: MessageBus;
  logger: Logger;
  /** Lines said once per partition, summed up (a lost batch or a death moves thousands at once). */
  repeated?: LogTally;
  /** Where progress events go: the submitting client's subject for this job. */
  jobSubject: string;
  /** The agent that serves the partition now (recovery may have moved it). */
  agentOf(partitionIndex: number): string;
  /** Sends attempt `attempt` of one partition's task to `agentId` and waits until it is done; `timeoutMs` is what is left of the job's time. */
  runPartition(partitionIndex: number, agentId: string, attempt: number, timeoutMs: number): Promise<{ blocks: number }>;
  /**
   * After the agent of an attempt died: resolves once the partition (and a map's output
   * partition) is served by a live agent again, or rejects when it cannot be rebuilt.
   */
  recoverPartition(partitionIndex: number): Promise<void>;
  /** The agent said it lacks a partition of `arrayId` (the input, or a map's output) that an attempt needed. */
  partitionMissing(partitionIndex: number, agentId: string, arrayId: string): void;
  /** Whether a partition's finished work dies with its agent before the job ends (a map's output partition does). */
  finishedWorkDiesWithAgent: boolean;
  /** How long to wait for an agent that stopped answering to be declared dead. */
  deathWindowMs: number;
  /** Tells every agent to stop work of the job. */
  cancelEverywhere(jobId: string): void;
  /** Called with the final outcome before the client hears of it (map: register or drop the output). */
  finish(outcome: 'done' | 'failed'): Promise<ArrayMeta | undefined>;
}

/**
 * One running job: fans the job's partitions out to the agents that hold them, forwards
 * progress, enforces the timeout and cancellation. `run()` resolves with the `job.done` reply
 * or rejects with the job's failure, which the bus sends back as the answer to `job.submit`.
 */
export class RunningJob {
  readonly total: number;
  /** The partitions that run: all, or those a reduce's spec names. */
  private readonly running: ArrayMeta['partitions'];
  /** Blocks done per partition: progress events add to it, a partition's result settles it. */
  private readonly doneByPartition = new Map<number, number>();
  private done = 0;
  /**
   * When progress was last published. The first event waits one interval too: a job that ends
   * sooner (most small ones) sends none, and its caller hears the end one message sooner.
   */
  private lastProgress = Date.now();
  private settled = false;
  private readonly timer: NodeJS.Timeout;
  private readonly failure: Promise<never>;
  private rejectFailure!: (error: SharcError) => void;
  /** The current attempt of each partition: the only one whose result counts. */
  private readonly attempts: number[];
  /** Attempts in flight by agent: told when that agent is declared dead, or its heartbeats stop listing them. */
  private readonly inFlight = new Map<string, Set<AttemptInFlight>>();
  /** Partitions finished on each agent, when their work dies with it (maps): run again if it does. */
  private readonly finishedOn = new Map<string, Set<number>>();
  /** Finished partitions running again because their agent died before the job ended. */
  private readonly reruns: Array<Promise<void>> = [];
  private partitionsDone = false;
  private markOver!: () => void;
  /** Resolves once the job is over and, if it failed, cleaned up (a map's output freed). */
  readonly over = new Promise<void>((resolve) => {
    this.markOver = resolve;
  });

  /** Where lines said once per partition go: summed up when the scheduler gives a tally. */
  private get repeatedLog(): Pick<Logger, 'warn'> {
    return this.hooks.repeated ?? this.hooks.logger;
  }

  constructor(
    readonly jobId: string,
    readonly spec: JobSpec,
    readonly input: ArrayMeta,
    /** When the job was submitted (a resumed job keeps its first submission's) and the time it was given from then. */
    private readonly timing: { startedAt: number; timeoutMs: number },
    /** The first attempt number of every partition (a resumed job's attempts differ from its earlier runs'). */
    private readonly firstAttempt: number,
    private readonly hooks: JobHooks,
  ) {
    const rowBytes = colsOf(input.shape) * bytesPerElement(input.dtype);
    const only = spec.kind === 'reduce' && spec.partitions !== undefined ? new Set(spec.partitions) : undefined;
    this.running = only === undefined ? input.partitions : input.partitions.filter((p) => only.has(p.index));
    this.total = this.running.reduce((sum, p) => sum + blockCount(p.rowCount, rowBytes), 0);
    this.attempts = input.partitions.map(() => firstAttempt);
    this.failure = new Promise<never>((_, reject) => {
      this.rejectFailure = reject;
    });
    this.failure.catch(() => undefined);
    this.timer = setTimeout(
      () => this.rejectFailure(new TimeoutError(`job ${jobId} did not finish within ${timing.timeoutMs} ms`, { details: { jobId } })),
      this.remainingMs(),
    );
    this.timer.unref();
  }

  /** What `sharc status` shows of the job (the scheduler adds whether it is queued). */
  status(): Omit<JobStatus, 'state'> {
    return {
      jobId: this.jobId,
      kind: this.spec.kind,
      array: this.input.name,
      doneBlocks: this.done,
      totalBlocks: this.total,
      startedAt: this.timing.startedAt,
    };
  }

  /** What is left of the job's time (at least 1 ms, so that a timer still fires). */
  private remainingMs(): number {
    return Math.max(1, this.timing.startedAt + this.timing.timeoutMs - Date.now());
  }

  /** Ends the job with `error` (cancel, dead agent, shutdown); the first failure wins. */
  fail(error: SharcError): void {
    this.rejectFailure(error);
  }

  /** The agent was declared dead: its attempts of this job move to where their data is now. */
  agentLost(agentId: string): void {
    for (const attempt of this.inFlight.get(agentId) ?? []) attempt.lost('dead');
    const finished = this.finishedOn.get(agentId);
    this.finishedOn.delete(agentId);
    // Once every partition is done the output is being committed: too late to move any.
    if (this.settled || this.partitionsDone) return;
    for (const index of finished ?? []) {
      const again = this.runAgain(index, agentId);
      again.catch(() => undefined);
      this.reruns.push(again);
    }
  }

  /**
   * The agent's heartbeat lists the tasks it runs (`running`: `partition:attempt` of this job).
   * An attempt sent to it that heartbeats leave out, read from TASK_LISTING_GRACE_MS after the
   * task on and MISSES_APART_MS apart, and whose result has not come, was lost on the way: the
   * task.run request or its reply (NATS delivers at most once, and was away).
   * It runs again as a new attempt; should its result turn up after all, it is stale.
   */
  tasksListed(agentId: string, running: ReadonlySet<string>, now = Date.now()): void {
    for (const attempt of this.inFlight.get(agentId) ?? []) {
      if (running.has(attemptKey(attempt.partitionIndex, attempt.attempt))) attempt.firstMissAt = undefined;
      else if (now - attempt.sentAt < TASK_LISTING_GRACE_MS) continue;
      else if (attempt.firstMissAt === undefined) attempt.firstMissAt = now;
      else if (now - attempt.firstMissAt >= MISSES_APART_MS) attempt.lost('vanished');
    }
  }

  /** Whether the job has an attempt in flight on the agent. */
  runsOn(agentId: string): boolean {
    return (this.inFlight.get(agentId)?.size ?? 0) > 0;
  }

  addProgress(partitionIndex: number, attempt: number, blocks: number): void {
    if (attempt !== this.attempts[partitionIndex]) return;
    this.setPartitionDone(partitionIndex, (this.doneByPartition.get(partitionIndex) ?? 0) + blocks);
  }

  /**
   * Runs the job: `prepare` first (a map allocates its output there), then every partition.
   * Resolves with the `job.done` reply or rejects with the failure.
   */
  async run(prepare?: () => Promise<void>): Promise<Outgoing<'job.done'>> {
    // A resumed job's earlier run may still send partials: none of them counts now.
    if (this.firstAttempt > 0) for (const p of this.running) this.announceAttempt(p.index, this.firstAttempt);
    const prepared = prepare?.() ?? Promise.resolve();
    try {
      await Promise.race([prepared, this.failure]);
      await Promise.race([Promise.all(this.running.map((p) => this.runPartition(p.index))), this.failure]);
      // A map's partitions finished on an agent that died since are computed again elsewhere.
      while (this.reruns.length > 0) await Promise.race([Promise.all(this.reruns.splice(0)), this.failure]);
      this.partitionsDone = true;
      const array = await this.hooks.finish('done');
      this.markOver();
      if (this.spec.kind === 'map' && array === undefined) throw new InvalidArgumentError('map produced no output array');
      return {
        type: 'job.done',
        jobId: this.jobId,
        ...(array === undefined ? {} : { array }),
        ...(this.spec.kind === 'reduce' ? { attempts: [...this.attempts] } : {}),
      };
    } catch (error) {
      this.hooks.cancelEverywhere(this.jobId);
      // The client hears of the failure now; cleanup (which may wait on an agent that hangs)
      // runs behind the answer. A preparation still under way must end before it.
      void prepared
        .catch(() => undefined)
        .then(() => this.hooks.finish('failed'))
        .catch((cleanup: unknown) =>
          this.hooks.logger.error('cleanup after a failed job failed', { jobId: this.jobId, error: toErrorData(cleanup) }),
        )
        .finally(() => this.markOver());
      throw error;
    } finally {
      clearTimeout(this.timer);
      this.settled = true;
    }
  }

  /**
   * Runs one partition to its end. When its agent is declared dead mid-attempt, the attempt
   * is abandoned (whatever it still reports is stale: its attempt number is not the current
   * one), the partition is recovered on a live agent, and a new attempt runs there.
   */
  private async runPartition(index: number): Promise<void> {
    for (;;) {
      const attempt = this.attempts[index]!;
      const agentId = this.hooks.agentOf(index);
      let markLost!: (why: 'dead' | 'vanished') => void;
      const lost = new Promise<'lost' | 'vanished'>((resolve) => (markLost = (why) => resolve(why === 'dead' ? 'lost' : 'vanished')));
      const inFlight: AttemptInFlight = { partitionIndex: index, attempt, sentAt: Date.now(), firstMissAt: undefined, lost: markLost };
      const onAgent = this.inFlight.get(agentId) ?? new Set();
      this.inFlight.set(agentId, onAgent.add(inFlight));
      const run = this.hooks.runPartition(index, agentId, attempt, this.remainingMs());
      run.catch(() => undefined);
      // Sent once this turn ends (the job's tasks for one agent go as one batch): a job of many
      // partitions takes a while to get there, and heartbeats that waited meanwhile were sent
      // before the task and say nothing of it.
      queueMicrotask(() => {
        inFlight.sentAt = Date.now();
      });
      let outcome: { blocks: number } | 'lost' | 'vanished';
      try {
        outcome = await Promise.race([run, lost]);
      } catch (error) {
        const missing = missingPartitionOf(error);
        if (missing !== undefined) {
          // The agent is alive but lacks the partition (it restarted empty): served elsewhere, then again.
          this.hooks.partitionMissing(index, agentId, missing);
          outcome = 'lost';
        } else {
          // The agent vanished from NATS (no responders) before the registry noticed: wait for
          // the verdict instead of failing a job that can move on.
          if (!(error instanceof ConnectionError)) throw error;
          const verdict = await Promise.race([lost, delay(this.hooks.deathWindowMs).then(() => 'alive' as const)]);
          // Alive after all (NATS was away, or this coordinator could not send meanwhile): run it
          // again there, as long as the partition's attempts last.
          if (verdict === 'alive' && attempt + 1 - this.firstAttempt >= MAX_ATTEMPTS) throw error;
          outcome = verdict === 'alive' ? 'vanished' : verdict;
        }
      } finally {
        onAgent.delete(inFlight);
      }
      if (outcome === 'vanished') {
        if (this.settled) return;
        this.repeatedLog.warn('a task or its result was lost on the way; running it again', { jobId: this.jobId, partition: index, agentId, attempt: attempt + 1 });
        await this.moveOn(index, agentId);
        continue;
      }
      if (outcome !== 'lost') {
        this.setPartitionDone(index, outcome.blocks);
        if (this.hooks.finishedWorkDiesWithAgent) this.finishedOn.set(agentId, (this.finishedOn.get(agentId) ?? new Set()).add(index));
        return;
      }
      if (this.settled) return;
      this.repeatedLog.warn('partition moves to another agent', { jobId: this.jobId, partition: index, from: agentId, attempt: attempt + 1 });
      await this.moveOn(index, agentId);
    }
  }

  /** A partition finished on an agent that died before the job ended: its output is gone with it. */
  private async runAgain(index: number, agentId: string): Promise<void> {
    this.repeatedLog.warn('a finished partition died with its agent; computing it again', { jobId: this.jobId, partition: index, from: agentId });
    await this.moveOn(index, agentId);
    if (!this.settled) await this.runPartition(index);
  }

  /** Gets the partition served by a live agent again and opens its next attempt. */
  private async moveOn(index: number, agentId: string): Promise<void> {
    const attempt = this.attempts[index]!;
    if (attempt + 1 - this.firstAttempt >= MAX_ATTEMPTS) {
      throw new NoAgentsError(`partition ${index} of '${this.input.name}' lost its agent ${MAX_ATTEMPTS} times; giving up`, {
        retryable: true,
        details: { partition: index, agentId },
      });
    }
    this.setPartitionDone(index, 0);
    this.announceAttempt(index, attempt + 1);
    await this.hooks.recoverPartition(index);
    this.attempts[index] = attempt + 1;
  }

  /** Tells the client that a partition runs again: it then waits for job.done to know which partial counts. */
  private announceAttempt(partitionIndex: number, attempt: number): void {
    try {
      this.hooks.bus.publish(this.hooks.jobSubject, { type: 'job.attempt', jobId: this.jobId, partitionIndex, attempt });
    } catch (error) {
      this.hooks.logger.warn('could not announce a new attempt', { jobId: this.jobId, error: toErrorData(error) });
    }
  }

  private setPartitionDone(partitionIndex: number, blocks: number): void {
    const before = this.doneByPartition.get(partitionIndex) ?? 0;
    this.doneByPartition.set(partitionIndex, blocks);
    this.done = Math.max(0, Math.min(this.total, this.done + blocks - before));
    const now = Date.now();
    // The last step needs no event of its own: the job's reply says it, one message sooner.
    if (this.settled || this.done >= this.total || now - this.lastProgress < PROGRESS_INTERVAL_MS) return;
    this.lastProgress = now;
    try {
      this.hooks.bus.publish(this.hooks.jobSubject, { type: 'job.progress', jobId: this.jobId, done: this.done, total: this.total });
    } catch (error) {
      this.hooks.logger.warn('could not publish job progress', { jobId: this.jobId, error: toErrorData(error) });
    }
  }
}

/** One attempt sent to an agent, waiting for its result. */
interface AttemptInFlight {
  partitionIndex: number;
  attempt: number;
  sentAt: number;
  /** When the first heartbeat of the agent that did not list it was read (since the last that did). */
  firstMissAt: number | undefined;
  /** `dead`: its agent was declared dead; `vanished`: the agent does not run it (lost on the way). */
  lost(why: 'dead' | 'vanished'): void;
}

/** How a heartbeat names an attempt of a job: see tasksListed. */
export function attemptKey(partitionIndex: number, attempt: number): string {
  return `${partitionIndex}:${attempt}`;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
