import {
  InvalidArgumentError,
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

/** Progress events go out at most this often per job. */
const PROGRESS_INTERVAL_MS = 100;

export interface JobHooks {
  bus: MessageBus;
  logger: Logger;
  /** Where progress events go: the submitting client's subject for this job. */
  jobSubject: string;
  /** Sends one partition's task to its agent and waits until it is done; `timeoutMs` is what is left of the job's time. */
  runPartition(input: ArrayMeta, partitionIndex: number, timeoutMs: number): Promise<{ blocks: number }>;
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
  readonly startedAt = Date.now();
  /** Blocks done per partition: progress events add to it, a partition's result settles it. */
  private readonly doneByPartition = new Map<number, number>();
  private done = 0;
  private lastProgress = 0;
  private settled = false;
  private readonly timer: NodeJS.Timeout;
  private readonly failure: Promise<never>;
  private rejectFailure!: (error: SharcError) => void;
  private markOver!: () => void;
  /** Resolves once the job is over and, if it failed, cleaned up (a map's output freed). */
  readonly over = new Promise<void>((resolve) => {
    this.markOver = resolve;
  });

  constructor(
    readonly jobId: string,
    readonly spec: JobSpec,
    readonly input: ArrayMeta,
    readonly timeoutMs: number,
    private readonly hooks: JobHooks,
  ) {
    const rowBytes = colsOf(input.shape) * bytesPerElement(input.dtype);
    this.total = input.partitions.reduce((sum, p) => sum + blockCount(p.rowCount, rowBytes), 0);
    this.failure = new Promise<never>((_, reject) => {
      this.rejectFailure = reject;
    });
    this.failure.catch(() => undefined);
    this.timer = setTimeout(
      () => this.rejectFailure(new TimeoutError(`job ${jobId} did not finish within ${timeoutMs} ms`, { details: { jobId } })),
      timeoutMs,
    );
    this.timer.unref();
  }

  /** What `sharc status` shows of the job. */
  status(): JobStatus {
    return {
      jobId: this.jobId,
      kind: this.spec.kind,
      array: this.input.name,
      doneBlocks: this.done,
      totalBlocks: this.total,
      startedAt: this.startedAt,
    };
  }

  /** Ends the job with `error` (cancel, dead agent, shutdown); the first failure wins. */
  fail(error: SharcError): void {
    this.rejectFailure(error);
  }

  addProgress(partitionIndex: number, blocks: number): void {
    this.setPartitionDone(partitionIndex, (this.doneByPartition.get(partitionIndex) ?? 0) + blocks);
  }

  /**
   * Runs the job: `prepare` first (a map allocates its output there), then every partition.
   * Resolves with the `job.done` reply or rejects with the failure.
   */
  async run(prepare?: () => Promise<void>): Promise<Outgoing<'job.done'>> {
    const prepared = prepare?.() ?? Promise.resolve();
    try {
      await Promise.race([prepared, this.failure]);
      await Promise.race([
        Promise.all(
          this.input.partitions.map(async (p) => {
            const remainingMs = Math.max(1, this.startedAt + this.timeoutMs - Date.now());
            const result = await this.hooks.runPartition(this.input, p.index, remainingMs);
            this.setPartitionDone(p.index, result.blocks);
          }),
        ),
        this.failure,
      ]);
      const array = await this.hooks.finish('done');
      this.markOver();
      if (this.spec.kind === 'map' && array === undefined) throw new InvalidArgumentError('map produced no output array');
      return { type: 'job.done', jobId: this.jobId, ...(array === undefined ? {} : { array }) };
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

  private setPartitionDone(partitionIndex: number, blocks: number): void {
    const before = this.doneByPartition.get(partitionIndex) ?? 0;
    this.doneByPartition.set(partitionIndex, blocks);
    this.done = Math.min(this.total, this.done + blocks - before);
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
