/**
 * Inside a worker thread: what a kernel prints, and how many blocks it has done, reported to the
 * agent while a request runs (ThreadReport, worker-protocol.ts). A kernel's console.log and
 * console.error write to the thread's process.stdout and process.stderr, which Node would pipe
 * raw into the agent's own stdout and stderr (where they broke the agent's JSON-lines log);
 * here those writes are taken over, cut into lines, tagged with the rows of the block that
 * printed them, bounded, and posted to the agent, which forwards them to the job's caller.
 */
import { parentPort } from 'node:worker_threads';
import { KERNEL_OUTPUT_LINES_PER_JOB, MAX_KERNEL_OUTPUT_LINE, cutOutputLine } from '@sharc/protocol/core';
import type { Block, ThreadOutputLine, ThreadReport, WatchedReply } from './worker-protocol.js';

/**
 * A report goes out at most this often while a request runs (and when LINES_PER_REPORT lines
 * are waiting). Checked at block ends and at writes: a thread whose kernel loops
 * synchronously runs no timers.
 */
export const REPORT_INTERVAL_MS = 200;
/** Lines held before a report goes out regardless of the interval. */
const LINES_PER_REPORT = 100;
/** Lines one request forwards at most: the agent bounds the job as a whole the same way. */
const LINES_PER_REQUEST = KERNEL_OUTPUT_LINES_PER_JOB;
/** Lines printed while no request ran that the thread forwards in its lifetime at most. */
const STRAY_LINES_PER_THREAD = KERNEL_OUTPUT_LINES_PER_JOB;

type Stream = ThreadOutputLine['stream'];

class ThreadOutput {
  /** The running request's watch, 0 between requests. */
  private watch = 0;
  private rows: { rowStart: number; rowEnd: number } | undefined;
  private lines: ThreadOutputLine[] = [];
  private blocks = 0;
  private dropped = 0;
  /** Lines kept for the running request. */
  private kept = 0;
  private reports = 0;
  private lastReport = 0;
  /** The end of the last write of each stream that did not end its line yet. */
  private readonly unfinished: Record<Stream, string> = { stdout: '', stderr: '' };
  private strayKept = 0;

  /** Takes over the thread's stdout and stderr (console writes through them). */
  install(): void {
    // A kernel that ends its thread (process.exit) has its last lines sent first: they often say why.
    process.on('exit', () => {
      this.finishLines();
      if (this.watch !== 0 && (this.lines.length > 0 || this.dropped > 0)) this.report();
    });
    for (const stream of ['stdout', 'stderr'] as const) {
      const target = process[stream];
      target.write = ((chunk: unknown, encoding?: unknown, callback?: unknown) => {
        this.write(stream, typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString(typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8'));
        const done = typeof encoding === 'function' ? encoding : callback;
        if (typeof done === 'function') queueMicrotask(() => (done as () => void)());
        return true;
      }) as typeof target.write;
    }
  }

  begin(watch: number): void {
    this.finishLines();
    this.watch = watch;
    this.lines = [];
    this.blocks = 0;
    this.dropped = 0;
    this.kept = 0;
    this.reports = 0;
    this.lastReport = Date.now();
  }

  /** The block the kernel runs next: lines printed meanwhile name its rows. */
  block(block: Block): void {
    this.rows = { rowStart: block.rowStart, rowEnd: block.rowStart + block.rowCount };
  }

  blockDone(): void {
    this.rows = undefined;
    this.blocks++;
    if (Date.now() - this.lastReport >= REPORT_INTERVAL_MS) this.report();
  }

  /** Ends the request: what is left goes out, and the reply says how many reports to wait for. */
  end(): WatchedReply {
    this.rows = undefined;
    this.finishLines();
    if (this.lines.length > 0 || this.dropped > 0) this.report();
    const reply: WatchedReply = {};
    if (this.reports > 0) reply.reports = this.reports;
    if (this.blocks > 0) reply.blocks = this.blocks;
    this.watch = 0;
    return reply;
  }

  private write(stream: Stream, text: string): void {
    const parts = (this.unfinished[stream] + text).split('\n');
    let last = parts.pop() ?? '';
    // A line that never ends is cut into lines rather than held without bound.
    while (last.length > MAX_KERNEL_OUTPUT_LINE) {
      parts.push(last.slice(0, MAX_KERNEL_OUTPUT_LINE));
      last = last.slice(MAX_KERNEL_OUTPUT_LINE);
    }
    this.unfinished[stream] = last;
    for (const line of parts) this.add(stream, line);
  }

  private finishLines(): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      if (this.unfinished[stream] === '') continue;
      const line = this.unfinished[stream];
      this.unfinished[stream] = '';
      this.add(stream, line);
    }
  }

  private add(stream: Stream, text: string): void {
    if (this.watch === 0) {
      if (this.strayKept >= STRAY_LINES_PER_THREAD) return;
      this.strayKept++;
      post({ kind: 'sharc.thread-report', watch: 0, blocks: 0, lines: [{ stream, text: cutOutputLine(text) }], dropped: 0 });
      return;
    }
    if (this.kept >= LINES_PER_REQUEST) {
      this.dropped++;
      return;
    }
    this.kept++;
    this.lines.push({ stream, text: cutOutputLine(text), ...this.rows });
    if (this.lines.length >= LINES_PER_REPORT || Date.now() - this.lastReport >= REPORT_INTERVAL_MS) this.report();
  }

  private report(): void {
    this.lastReport = Date.now();
    post({ kind: 'sharc.thread-report', watch: this.watch, blocks: this.blocks, lines: this.lines, dropped: this.dropped });
    this.reports++;
    this.lines = [];
    this.blocks = 0;
    this.dropped = 0;
  }
}

function post(report: ThreadReport): void {
  parentPort?.postMessage(report);
}

/** This thread's output, taken over once when the thread starts. */
export const threadOutput = new ThreadOutput();
