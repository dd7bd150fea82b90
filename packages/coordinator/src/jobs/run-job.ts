import {
  CancelledError,
  InvalidArgumentError,
  TimeoutError,
  blockCount,
  bytesPerElement,
  colsOf,
  toErrorData,
  type ArrayMeta,
  type JobSpec,
  type Logger,
  type MessageBus,
  type SharcError,
} from '@sharc/protocol';

/** How long a job may run when the client sets no timeout. */
export const DEFAULT_JOB_TIMEOUT_MS = 24 * 60 * 60 * 1000;
/** Progress events go out at most this often per job. */
const PROGRESS_INTERVAL_MS = 100;

export interface JobHooks {
  bus: MessageBus;
  logger: Logger;
  /** Sends one partition's task to its agent and waits for the result. */
  runPartition(input: ArrayMeta, partitionIndex: number, timeoutMs: number): Promise<{ partial?: unknown; blocks: number }>;
  /** Tells every agent to stop work of the job. */
  cancelEverywhere(jobId: string): void;
  /** Called with the final outcome, before the client hears of it (map: register the output). */
  finish(outcome: 'done' | 'failed'): Promise<ArrayMeta | undefined>;
  jobSubject: string;
}

/**
 * One running job: fans the job's partitions out to the agents that hold them, forwards
 * progress, enforces the timeout and cancellation, and publishes exactly one `job.done` or
 * `job.failed` to the client.
 */
export class RunningJob {
  readonly total: number;
  private done = 0;
  private lastProgress = 0;
  private settled = false;
  private readonly timer: NodeJS.Timeout;
  private readonly failure: Promise<never>;
  private fail!: (error: SharcError) => void;

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
      this.fail = reject;
    });
    this.failure.catch(() => undefined);
    this.timer = setTimeout(
      () => this.fail(new TimeoutError(`job ${jobId} did not finish within ${timeoutMs} ms`, { details: { jobId } })),
      timeoutMs,
    );
    this.timer.unref();
  }

  cancel(): void {
    this.fail(new CancelledError(`job ${this.jobId} was cancelled`, { details: { jobId: this.jobId } }));
  }

  addProgress(blocks: number): void {
    this.done = Math.min(this.total, this.done + blocks);
    const now = Date.now();
    if (now - this.lastProgress >= PROGRESS_INTERVAL_MS || this.done === this.total) {
      this.lastProgress = now;
      this.publish({ type: 'job.progress', jobId: this.jobId, done: this.done, total: this.total });
    }
  }

  /** Runs the job to its end; never throws (failures are published to the client). */
  async run(): Promise<void> {
    try {
      const results = await Promise.race([
        Promise.all(this.input.partitions.map((p) => this.hooks.runPartition(this.input, p.index, this.timeoutMs))),
        this.failure,
      ]);
      if (this.spec.kind === 'reduce') {
        const partials = results.filter((r) => r.blocks > 0 && 'partial' in r).map((r) => r.partial);
        await this.hooks.finish('done');
        this.publish({ type: 'job.done', jobId: this.jobId, partials });
      } else {
        const array = await this.hooks.finish('done');
        if (array === undefined) throw new InvalidArgumentError('map produced no output array');
        this.publish({ type: 'job.done', jobId: this.jobId, array });
      }
    } catch (error) {
      this.hooks.cancelEverywhere(this.jobId);
      await this.hooks.finish('failed').catch((cleanup: unknown) =>
        this.hooks.logger.error('cleanup after a failed job failed', { jobId: this.jobId, error: toErrorData(cleanup) }),
      );
      this.publish({ type: 'job.failed', jobId: this.jobId, error: toErrorData(error) });
    } finally {
      clearTimeout(this.timer);
      this.settled = true;
    }
  }

  private publish(message: Parameters<MessageBus['publish']>[1]): void {
    if (this.settled) return;
    try {
      this.hooks.bus.publish(this.hooks.jobSubject, message);
    } catch (error) {
      this.hooks.logger.error('could not publish a job event', { jobId: this.jobId, error: toErrorData(error) });
    }
  }
}
