import type { Logger } from '@sharc/protocol';

/** At most one log line per this many milliseconds says how many job submissions were refused. */
export const REFUSAL_SUMMARY_INTERVAL_MS = 10_000;

/** What the admission looked like at a refusal: its limits, and how full it was. */
export type AdmissionLoad = Record<string, unknown>;

/**
 * Counts job submissions refused by admission (BusyError) and says so in the log without one
 * line per refusal: a client bursting past the limits is refused thousands of times a second,
 * and SDK clients retry those on their own. The first refusal after a quiet spell is logged at
 * once (so an operator sees it start); the ones after it are summed up every
 * REFUSAL_SUMMARY_INTERVAL_MS while they go on. Each refusal is also logged at debug.
 */
export class RefusalSummary {
  private total = 0;
  private sinceLastLine = 0;
  private timer: NodeJS.Timeout | undefined;
  private lastLoad: AdmissionLoad = {};

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = REFUSAL_SUMMARY_INTERVAL_MS,
  ) {}

  /** Refusals since this coordinator started. */
  get refused(): number {
    return this.total;
  }

  count(load: AdmissionLoad): void {
    this.total++;
    this.lastLoad = load;
    this.logger.debug('refused a job submission: admission is full', load);
    if (this.timer !== undefined) {
      this.sinceLastLine++;
      return;
    }
    this.write(1, 'refusing job submissions: admission is full (clients retry them; further refusals are summed up here every ' + `${this.intervalMs / 1000} s)`);
    this.timer = setTimeout(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }

  /** Stops the timer; refusals not yet summed up are logged now. */
  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.sinceLastLine > 0) this.write(this.sinceLastLine, 'refused job submissions: admission is full');
    this.sinceLastLine = 0;
  }

  private tick(): void {
    this.timer = undefined;
    if (this.sinceLastLine === 0) return; // quiet: the next refusal is logged at once
    this.write(this.sinceLastLine, `refused job submissions in the last ${this.intervalMs / 1000} s: admission is full`);
    this.sinceLastLine = 0;
    this.timer = setTimeout(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }

  private write(refused: number, message: string): void {
    this.logger.info(message, { refused, refusedTotal: this.total, ...this.lastLoad });
  }
}
