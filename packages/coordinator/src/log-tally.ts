import type { Logger } from '@sharc/protocol';

/** How often a tally of repeated log lines is written while they go on. */
export const LOG_TALLY_INTERVAL_MS = 1_000;
/** Occurrences whose fields a tallied line shows (the rest are counted). */
const EXAMPLES_SHOWN = 3;

type Level = 'info' | 'warn' | 'error';

/**
 * Sums up a log line said once per partition: a death or a lost batch moves tens of thousands
 * of partitions at once, and one line each (pino writes synchronously to stderr) held the
 * coordinator's event loop for seconds once the pipe was full, so deaths went undetected. The
 * first occurrence of a line after a quiet spell is written at once; the ones after it are
 * counted and written as one line (count and a few examples) every LOG_TALLY_INTERVAL_MS while
 * they go on. Each is also logged at debug.
 */
export class LogTally {
  private readonly counts = new Map<string, { level: Level; message: string; count: number; examples: Array<Record<string, unknown>> }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = LOG_TALLY_INTERVAL_MS,
  ) {}

  warn(message: string, fields: Record<string, unknown>): void {
    this.note('warn', message, fields);
  }

  error(message: string, fields: Record<string, unknown>): void {
    this.note('error', message, fields);
  }

  info(message: string, fields: Record<string, unknown>): void {
    this.note('info', message, fields);
  }

  /** Writes what is counted now and stops the timer. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.write();
    this.counts.clear();
  }

  /** Writes the lines counted since the last write; whether there was any. */
  private write(): boolean {
    let any = false;
    for (const entry of this.counts.values()) {
      if (entry.count === 0) continue;
      any = true;
      this.logger[entry.level](`${entry.message} (${entry.count} more times in ${this.intervalMs / 1000} s)`, { count: entry.count, examples: entry.examples });
      entry.count = 0;
      entry.examples = [];
    }
    return any;
  }

  private note(level: Level, message: string, fields: Record<string, unknown>): void {
    this.logger.debug(message, fields);
    const key = `${level} ${message}`;
    const entry = this.counts.get(key);
    if (entry === undefined) {
      // First after a quiet spell: said at once.
      this.logger[level](message, fields);
      this.counts.set(key, { level, message, count: 0, examples: [] });
    } else {
      entry.count++;
      if (entry.examples.length < EXAMPLES_SHOWN) entry.examples.push(fields);
    }
    if (this.timer === undefined) {
      this.timer = setTimeout(() => this.tick(), this.intervalMs);
      this.timer.unref();
    }
  }

  private tick(): void {
    this.timer = undefined;
    if (!this.write()) {
      // Quiet for a whole interval: the next line is said at once again.
      this.counts.clear();
      return;
    }
    this.timer = setTimeout(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }
}
