import {
  KERNEL_OUTPUT_LINES_PER_JOB,
  MAX_KERNEL_OUTPUT_LINES_PER_MESSAGE,
  subjectFor,
  type KernelOutputLine,
  type Logger,
  type MessageBus,
} from '@sharc/protocol';

/** Lines wait at most this long before they go to the job's client, in one job.log message. */
const OUTPUT_FLUSH_MS = 200;
/**
 * Characters of lines in one job.log at most: a message stays well under a stock nats-server's
 * 1 MiB max_payload (even with every character taking three bytes of UTF-8).
 */
const OUTPUT_CHARS_PER_MESSAGE = 128 * 1024;
/** Jobs whose line counts are kept (for the bound per job); the oldest is forgotten past this many. */
const JOBS_KEPT = 1_024;

/** Where lines left out were printed (the partition whose thread dropped them). */
export interface DroppedLines {
  count: number;
  partition: number;
  rowStart: number;
  rowEnd: number;
}

export interface KernelOutputsOptions {
  bus: MessageBus;
  cluster: string;
  agentId: string;
  logger: Logger;
  /** Whether each line is written to the agent's log too. */
  log: boolean;
}

/**
 * The kernel output of the jobs this agent runs: each job's lines go to its client (job.log on
 * the job's subject, for coordinator-path and direct jobs alike: the coordinator is no hop of
 * theirs, as for partials) and to the agent's log as JSON lines (info for stdout, warn for
 * stderr). At most KERNEL_OUTPUT_LINES_PER_JOB lines per job on this agent; the rest are
 * counted and told as one line when the job's work here ends.
 */
export class KernelOutputs {
  private readonly jobs = new Map<string, JobOutput>();

  constructor(private readonly options: KernelOutputsOptions) {}

  /** The output of job `jobId`, whose client is `clientId`. */
  forJob(jobId: string, clientId: string): JobOutput {
    let job = this.jobs.get(jobId);
    if (job === undefined) {
      job = new JobOutput(jobId, subjectFor(this.options.cluster, { to: 'job', clientId, jobId }), this.options);
      this.jobs.set(jobId, job);
      if (this.jobs.size > JOBS_KEPT) {
        const [oldestId, oldest] = this.jobs.entries().next().value as [string, JobOutput];
        oldest.finish();
        this.jobs.delete(oldestId);
      }
    }
    return job;
  }
}

/** One job's output on this agent: lines batched per message, bounded per job. */
export class JobOutput {
  private pending: KernelOutputLine[] = [];
  private pendingChars = 0;
  private timer: NodeJS.Timeout | undefined;
  private forwarded = 0;
  /** Lines left out since the last line that said so, and where the first of them was printed. */
  private dropped: DroppedLines | undefined;

  constructor(
    private readonly jobId: string,
    private readonly subject: string,
    private readonly options: KernelOutputsOptions,
  ) {}

  /** Lines a kernel printed (in order), and lines a thread left out. */
  add(lines: KernelOutputLine[], dropped?: DroppedLines): void {
    const { logger, agentId, log } = this.options;
    for (const line of lines) {
      if (this.forwarded >= KERNEL_OUTPUT_LINES_PER_JOB) {
        this.drop({ count: 1, partition: line.partition, rowStart: line.rowStart, rowEnd: line.rowEnd });
        continue;
      }
      this.forwarded++;
      if (log) {
        logger[line.stream === 'stderr' ? 'warn' : 'info']('kernel output', {
          agent: agentId,
          job: this.jobId,
          partition: line.partition,
          rows: [line.rowStart, line.rowEnd],
          stream: line.stream,
          text: line.text,
        });
      }
      this.pending.push(line);
      this.pendingChars += line.text.length;
      if (this.pending.length >= MAX_KERNEL_OUTPUT_LINES_PER_MESSAGE || this.pendingChars >= OUTPUT_CHARS_PER_MESSAGE) this.send();
    }
    if (dropped !== undefined && dropped.count > 0) this.drop(dropped);
    if (this.pending.length > 0 && this.timer === undefined) {
      this.timer = setTimeout(() => this.send(), OUTPUT_FLUSH_MS);
      this.timer.unref();
    }
  }

  /**
   * The job's work on this agent ended (a batch answered): what waits goes now, before the
   * answer (the client then has every line when it hears the job is done), with one line for
   * the lines left out.
   */
  finish(): void {
    if (this.dropped !== undefined) {
      const { count, partition, rowStart, rowEnd } = this.dropped;
      this.dropped = undefined;
      const text = `${count} more line${count === 1 ? '' : 's'} of kernel output dropped on agent ${this.options.agentId} (at most ${KERNEL_OUTPUT_LINES_PER_JOB} are forwarded per job and agent)`;
      if (this.options.log) this.options.logger.warn('kernel output dropped', { agent: this.options.agentId, job: this.jobId, partition, rows: [rowStart, rowEnd], dropped: count });
      this.pending.push({ partition, rowStart, rowEnd, stream: 'stderr', text });
    }
    this.send();
  }

  private drop(dropped: DroppedLines): void {
    if (this.dropped === undefined) this.dropped = { ...dropped };
    else this.dropped.count += dropped.count;
  }

  private send(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const lines = this.pending;
    this.pending = [];
    this.pendingChars = 0;
    try {
      this.options.bus.publish(this.subject, { type: 'job.log', jobId: this.jobId, lines });
    } catch (error) {
      // Output is best effort: a closing connection or an oversized message loses lines, never the job.
      this.options.logger.warn('kernel output not sent', { job: this.jobId, lines: lines.length, error: (error as Error).message });
    }
  }
}
