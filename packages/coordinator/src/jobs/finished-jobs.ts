import { encodeValue, type DetachedJob, type Logger } from '@sharc/protocol';
import type { FinishedJob, StateStore } from '../state/state-store.js';

/** How often expired outcomes are swept from memory and the store, at most. */
const SWEEP_INTERVAL_MS = 60_000;
/** Outcomes kept at most, whatever their age: beyond it the oldest are forgotten early (and logged). */
export const MAX_KEPT_OUTCOMES = 100_000;

/**
 * The kept outcomes of detached jobs that ended (done, failed, cancelled), the one owner of
 * them: each is stored in the state store when it is added, so it outlives its client and a
 * coordinator restart, and is forgotten (here and in the store) `keepMs` after the job ended.
 * An expired outcome is never given out, even before the sweep removed it.
 */
export class FinishedJobs {
  private readonly kept = new Map<string, FinishedJob>();
  /** Each kept outcome's encoded size, whole and of its value: what a listing of it costs. */
  private readonly sizes = new Map<string, { record: number; value: number }>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly state: StateStore,
    /** How long an outcome is kept after its job ended. */
    readonly keepMs: number,
    private readonly logger: Logger,
  ) {
    this.sweeper = setInterval(() => this.sweep(), Math.min(keepMs, SWEEP_INTERVAL_MS));
    this.sweeper.unref();
  }

  /** The outcomes a previous coordinator stored; those expired meanwhile are removed. */
  restore(jobs: readonly FinishedJob[]): void {
    for (const job of [...jobs].sort((a, b) => a.endedAt - b.endedAt)) this.keep(job);
    this.sweep();
  }

  /** A detached job ended: its outcome is stored and kept. */
  add(job: FinishedJob): void {
    this.keep(job);
    this.state.saveFinished(job);
    // Kept in insertion order, which is the order jobs ended: the first is the oldest.
    while (this.kept.size > MAX_KEPT_OUTCOMES) {
      const oldest = this.kept.keys().next().value!;
      this.logger.warn('forgot the outcome of a detached job early: too many are kept', { jobId: oldest, kept: MAX_KEPT_OUTCOMES });
      this.forget(oldest);
    }
  }

  /** A kept outcome, with when it expires; undefined if unknown or expired. */
  get(jobId: string, now = Date.now()): DetachedJob | undefined {
    const job = this.kept.get(jobId);
    if (job === undefined) return undefined;
    if (this.expired(job, now)) {
      this.forget(job.jobId);
      return undefined;
    }
    return { ...job, expiresAt: job.endedAt + this.keepMs };
  }

  /** Every outcome kept now, oldest first. */
  list(now = Date.now()): DetachedJob[] {
    this.sweep(now);
    return [...this.kept.values()].sort((a, b) => a.endedAt - b.endedAt).map((job) => ({ ...job, expiresAt: job.endedAt + this.keepMs }));
  }

  /**
   * The newest outcomes whose listing fits in `budgetBytes`, oldest first: a value larger than
   * `maxValueBytes` is left out (`valueOmitted`; job.get gives it), and older outcomes past the
   * budget are not listed, so a jobs.list reply always fits in a message.
   */
  listWithin(budgetBytes: number, maxValueBytes: number, now = Date.now()): DetachedJob[] {
    this.sweep(now);
    const listed: DetachedJob[] = [];
    let used = 0;
    for (const job of [...this.kept.values()].reverse()) {
      const size = this.sizes.get(job.jobId) ?? { record: 0, value: 0 };
      const omit = size.value > maxValueBytes;
      const cost = omit ? size.record - size.value : size.record;
      if (used + cost > budgetBytes) break;
      used += cost;
      const shown: DetachedJob = { ...job, expiresAt: job.endedAt + this.keepMs };
      if (omit) {
        delete shown.value;
        shown.valueOmitted = true;
      }
      listed.push(shown);
    }
    return listed.reverse();
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  private expired(job: FinishedJob, now: number): boolean {
    return now - job.endedAt >= this.keepMs;
  }

  private sweep(now = Date.now()): void {
    let swept = 0;
    for (const job of this.kept.values()) {
      if (!this.expired(job, now)) continue;
      this.forget(job.jobId);
      swept++;
    }
    if (swept > 0) this.logger.debug('forgot outcomes of detached jobs kept longer than keepResultsMs', { jobs: swept, keepResultsMs: this.keepMs });
  }

  private keep(job: FinishedJob): void {
    this.kept.delete(job.jobId);
    this.kept.set(job.jobId, job);
    this.sizes.set(job.jobId, { record: encodeValue(job).length, value: job.value === undefined ? 0 : encodeValue(job.value).length });
  }

  private forget(jobId: string): void {
    this.kept.delete(jobId);
    this.sizes.delete(jobId);
    this.state.deleteFinished(jobId);
  }
}

/** A duration as a person reads it: `24 h`, `90 min`, `5 s`, `250 ms`. */
export function durationText(ms: number): string {
  const units: Array<[number, string]> = [
    [3_600_000, 'h'],
    [60_000, 'min'],
    [1000, 's'],
  ];
  for (const [size, unit] of units) if (ms >= size && ms % size === 0) return `${ms / size} ${unit}`;
  return `${ms} ms`;
}
