import type { MessageOf } from '@sharc/protocol';

/**
 * One line a kernel printed while it ran, as `onLog` receives it: console.log, console.info and
 * console.debug write to `stdout`, console.error and console.warn to `stderr`. Each agent
 * forwards at most 1,000 lines of a job (lines of more than 8 KiB are cut), then one line
 * saying how many more it dropped.
 */
export interface KernelLogLine {
  /** The agent whose worker thread ran the kernel. */
  agent: string;
  /** The job's id (as `sharc status` shows coordinator jobs). */
  job: string;
  /** The partition the kernel was working on. */
  partition: number;
  /** The rows [start, end) of the block it was running (the partition's rows when it printed outside a block: loading its module, combining). */
  rows: [number, number];
  stream: 'stdout' | 'stderr';
  text: string;
}

/** `[agent-1 p3 rows 0-1000] text`: a line as the CLI (and, without onLog, the SDK) prints it. */
export function formatLogLine(line: KernelLogLine): string {
  return `[${line.agent} p${line.partition} rows ${line.rows[0]}-${line.rows[1]}] ${line.text}`;
}

/**
 * What a job does with its kernels' lines when its caller gave no onLog: print them on this
 * process's stderr, as they would have printed had the kernel run here (Ray, too, forwards
 * worker prints to the driver by default). `onLog: () => {}` silences them.
 */
export function printLogLine(line: KernelLogLine): void {
  process.stderr.write(`${formatLogLine(line)}\n`);
}

/** Hands each line of a job.log event to `onLog` (or prints it, without one). */
export function deliverLog(event: MessageOf<'job.log'>, onLog: ((line: KernelLogLine) => void) | undefined): void {
  const deliver = onLog ?? printLogLine;
  for (const line of event.lines) {
    deliver({ agent: event.from, job: event.jobId, partition: line.partition, rows: [line.rowStart, line.rowEnd], stream: line.stream, text: line.text });
  }
}
