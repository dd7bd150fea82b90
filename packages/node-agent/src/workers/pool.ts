import type { Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { CancelledError, fromErrorData, InternalError, KernelError, toErrorData, type Logger, type SharcError } from '@sharc/protocol';
import { isThreadReport, type BlockClaims, type MapBlocksRequest, type ReduceBlocksRequest, type ThreadOutputLine, type ThreadReport, type WorkerReply, type WorkerRequest } from './worker-protocol.js';

export interface RequestResult {
  partials: unknown[];
  /** With claims: the blocks the request ran, in order (absent when it ran all of them and folded their partials into one). */
  blockIndexes?: number[];
}

/** What the caller of a request hears while it runs (see ThreadReport). */
export interface RequestWatch {
  /** Blocks the request finished, as they finish (at most every few hundred ms per thread), and the rest when it returns. */
  onBlocksDone?(blocks: number): void;
  /** Lines the kernel printed, in order, and how many more the thread left out. */
  onOutput?(lines: ThreadOutputLine[], dropped: number): void;
}

/** A watched request in flight: its reports counted, so that its end waits for those still on their way. */
interface Watching {
  watch: RequestWatch;
  received: number;
  /** Set once the reply came and said how many reports to expect. */
  expected?: number;
  whenAllReceived?: () => void;
}

/**
 * How long a request's end waits for reports its thread posted before replying (they travel
 * on the thread's parentPort, the reply on piscina's own port, in no promised order). They
 * come within microseconds; the bound only keeps a lost one from holding the job.
 */
const REPORT_WAIT_MS = 1_000;

/** A partition whose blocks threads take one at a time: idle threads are lent to it while blocks are left. */
interface SharedRun {
  claims: BlockClaims;
  blockCount: number;
  request: (claims: BlockClaims) => ReduceBlocksRequest | MapBlocksRequest;
  signal: AbortSignal | undefined;
  watch: RequestWatch | undefined;
  /** Requests posted for it, in order; no more are added once one has returned. */
  posted: Array<Promise<RequestResult>>;
}

const WORKER_FILE = new URL('./worker.js', import.meta.url).href;
/** Node's code for a worker that hit its `resourceLimits`. */
const OUT_OF_MEMORY_CODE = 'ERR_WORKER_OUT_OF_MEMORY';
/** How piscina words the failure of a task whose thread exited under it. */
const EXITED = /^worker exited with code: (-?\d+)/;

export interface WorkerPoolOptions {
  threads: number;
  /** Heap limit of each thread (V8 old generation), in MiB. */
  threadHeapMb: number;
  logger: Logger;
}

/**
 * The agent's worker threads (piscina: a well-kept pool that queues tasks, replaces a thread
 * that dies, and terminates a thread whose task is aborted). Threads start with the agent and
 * stay up, so a job never waits for a thread to boot. A kernel that loops forever, exhausts its
 * thread's heap or exits its thread takes down that thread only: the partitions it read are the
 * agent's SharedArrayBuffers, not the thread's, and piscina starts a fresh thread in its place.
 */
export class WorkerPool {
  readonly threads: number;
  readonly threadHeapMb: number;
  private readonly piscina: Piscina;
  private requestsInFlight = 0;
  /** Partitions with blocks nobody has taken yet, oldest first. */
  private readonly shared = new Set<SharedRun>();
  /** Busy milliseconds per thread slot, summed over the threads that held the slot (see busySeconds). */
  private readonly busyMs: number[] = [];
  /** Each live thread's busy milliseconds when last read. */
  private readonly busySeen = new WeakMap<Worker, number>();
  private readonly watching = new Map<number, Watching>();
  private nextWatch = 1;
  private readonly logger: Logger;

  constructor(options: WorkerPoolOptions) {
    this.threads = options.threads;
    this.threadHeapMb = options.threadHeapMb;
    this.logger = options.logger;
    this.piscina = new Piscina({
      filename: WORKER_FILE,
      minThreads: options.threads,
      maxThreads: options.threads,
      idleTimeout: Infinity,
      // Kernels may be async and modules load with dynamic import: let the thread's event loop run.
      atomics: 'async',
      // Tasks of concurrent jobs queue here. piscina's default ('auto', threads squared) would
      // fail a task at random once several jobs overlap; admission control is the coordinator's job.
      maxQueue: Infinity,
      // Without a limit of its own a thread may grow to the process's default heap (a quarter of
      // the host's memory or so) and, with several threads, take the host into its OOM killer,
      // which kills the whole agent. With it, V8 stops just the thread.
      resourceLimits: { maxOldGenerationSizeMb: options.threadHeapMb },
    });
    // A thread that fails while it holds no task (a kernel's stray timer that throws after it
    // returned) is reported here; without a listener the EventEmitter would crash the agent.
    this.piscina.on('error', (error: unknown) =>
      options.logger.warn('a worker thread failed while it held no task; it was replaced', { error: toErrorData(error) }),
    );
    // What threads post on their parentPort: reports of the requests they run.
    this.piscina.on('message', (message: unknown) => {
      if (isThreadReport(message)) this.report(message);
    });
  }

  /**
   * Runs a partition's blocks, shared by requests that each take the next block nobody has:
   * one request at first, plus one per idle thread, and later one more whenever a thread is
   * about to go idle while blocks are left (so no thread idles while another holds the
   * partition's end). A request that ends up running every block folds them itself when the
   * request carries a combine. Resolves with every request's result once all have returned.
   */
  async runShared(
    blockCount: number,
    request: (claims: BlockClaims) => ReduceBlocksRequest | MapBlocksRequest,
    signal?: AbortSignal,
    watch?: RequestWatch,
  ): Promise<RequestResult[]> {
    if (blockCount === 0) return [];
    const run: SharedRun = { claims: new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT)), blockCount, request, signal, watch, posted: [] };
    this.post(run);
    this.shared.add(run);
    this.lendIdleThreads();
    const results: RequestResult[] = [];
    try {
      // Requests lent while the first ones run are appended to `posted`: the loop sees them.
      for (let i = 0; i < run.posted.length; i++) results.push(await run.posted[i]!);
    } finally {
      this.shared.delete(run);
    }
    return results;
  }

  private post(run: SharedRun): void {
    const posted = this.run(run.request(run.claims), run.signal, run.watch).finally(() => this.shared.delete(run));
    // Awaited in order by runShared; one that fails after an earlier failure is not unhandled.
    posted.catch(() => undefined);
    run.posted.push(posted);
  }

  /** Gives each thread that has nothing queued to a shared partition with blocks left, up to one request per thread each. */
  private lendIdleThreads(): void {
    for (const run of this.shared) {
      while (this.requestsInFlight < this.threads && run.posted.length < Math.min(this.threads, run.blockCount) && Atomics.load(run.claims, 0) < run.blockCount) {
        this.post(run);
      }
      if (this.requestsInFlight >= this.threads) return;
    }
  }

  /**
   * Runs one request; resolves with its partials (and, with claims, the blocks it ran) or
   * rejects with the typed error it produced. `watch` hears of its blocks and output as it runs.
   */
  async run(request: WorkerRequest, signal?: AbortSignal, watch?: RequestWatch): Promise<RequestResult> {
    let reply: WorkerReply;
    let watchId: number | undefined;
    if (watch !== undefined) {
      watchId = this.nextWatch++;
      this.watching.set(watchId, { watch, received: 0 });
      request = { ...request, watch: watchId };
    }
    this.requestsInFlight++;
    try {
      reply = (await this.piscina.run(request, signal === undefined ? {} : { signal })) as WorkerReply;
    } catch (error) {
      if (watchId !== undefined) this.watching.delete(watchId);
      // piscina has terminated the thread of an aborted request (a kernel that never returns
      // stops here) and starts another in its place.
      if (signal?.aborted) throw new CancelledError('task cancelled', { cause: error });
      throw this.threadFailure(request, error);
    } finally {
      this.requestsInFlight--;
      // A thread is about to be free: if nothing is queued for it, it helps a partition with blocks left.
      this.lendIdleThreads();
    }
    if (watchId !== undefined) await this.allReported(watchId, reply);
    if (reply.ok) return reply.blockIndexes === undefined ? { partials: reply.partials } : { partials: reply.partials, blockIndexes: reply.blockIndexes };
    const error: SharcError = fromErrorData(reply.error);
    throw Object.assign(error, reply.rowStart === undefined ? {} : { rowStart: reply.rowStart });
  }

  /** A thread's report: to the watch of its request, or, printed while no request ran, to the agent's log. */
  private report(report: ThreadReport): void {
    if (report.watch === 0) {
      for (const line of report.lines) {
        this.logger[line.stream === 'stderr' ? 'warn' : 'info']('kernel output while no job ran on its thread', { stream: line.stream, text: line.text });
      }
      return;
    }
    const watching = this.watching.get(report.watch);
    if (watching === undefined) return;
    watching.received++;
    if (report.blocks > 0) watching.watch.onBlocksDone?.(report.blocks);
    if (report.lines.length > 0 || report.dropped > 0) watching.watch.onOutput?.(report.lines, report.dropped);
    if (watching.expected !== undefined && watching.received >= watching.expected) watching.whenAllReceived?.();
  }

  /** Waits (a little at most) for the reports the request's reply counts, then hands on the blocks no report counted. */
  private async allReported(watchId: number, reply: WorkerReply): Promise<void> {
    const watching = this.watching.get(watchId)!;
    const expected = reply.reports ?? 0;
    if (watching.received < expected) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, REPORT_WAIT_MS);
        watching.expected = expected;
        watching.whenAllReceived = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    this.watching.delete(watchId);
    if (reply.blocks !== undefined && reply.blocks > 0) watching.watch.onBlocksDone?.(reply.blocks);
  }

  /** Requests running on a thread or queued for one: divided by `threads`, the pool's load. */
  get inFlight(): number {
    return this.requestsInFlight;
  }

  /**
   * Seconds each thread slot has spent running (its event loop not idle), since the pool
   * started: read from each thread's event-loop utilization when asked (metrics scrapes), so
   * running a task costs nothing more. A thread replaced after a crash adds to its slot's total.
   */
  busySeconds(): number[] {
    this.piscina.threads.forEach((thread, slot) => {
      const active = thread.performance.eventLoopUtilization().active;
      const seen = this.busySeen.get(thread) ?? 0;
      this.busySeen.set(thread, active);
      this.busyMs[slot] = (this.busyMs[slot] ?? 0) + Math.max(0, active - seen);
    });
    return this.busyMs.map((ms) => ms / 1000);
  }

  async close(): Promise<void> {
    await this.piscina.destroy();
  }

  /**
   * The error for a request whose thread died under it. Running user code, that is the
   * kernel's doing (a KernelError the user can act on); running sharc's own built-ins, a bug.
   */
  private threadFailure(request: WorkerRequest, error: unknown): SharcError {
    const message = error instanceof Error ? error.message : String(error);
    const code = (error as { code?: unknown } | undefined)?.code;
    const exited = EXITED.exec(message);
    let what: string;
    let reason: 'out-of-memory' | 'worker-exited' | 'worker-crashed';
    if (code === OUT_OF_MEMORY_CODE) {
      reason = 'out-of-memory';
      what = `ran out of memory: its worker thread reached the heap limit of ${this.threadHeapMb} MiB (agent option threadHeapMb, sharc agent --thread-heap-mb)`;
    } else if (exited !== null) {
      reason = 'worker-exited';
      what = `ended its worker thread: the worker exited with code ${exited[1]} (a kernel must return or throw, not call process.exit)`;
    } else {
      reason = 'worker-crashed';
      what = `crashed its worker thread: ${message}`;
    }
    const details = { reason, heapLimitMb: this.threadHeapMb };
    if (request.kernel.kind !== 'module') {
      return new InternalError(`the built-in ${request.kernel.op} ${what}; the thread was replaced`, { cause: error, retryable: true, details });
    }
    const failure = new KernelError(`kernel ${request.kernel.label} ${what}; the thread was replaced`, { cause: error, details });
    // The kernel's own stack, when the thread died of an exception it threw.
    if (reason === 'worker-crashed' && error instanceof Error && error.stack !== undefined) failure.stack = error.stack;
    return failure;
  }
}
