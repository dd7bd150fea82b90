import { Piscina } from 'piscina';
import { CancelledError, fromErrorData, InternalError, SharcError } from '@sharc/protocol';
import type { WorkerReply, WorkerRequest } from './worker-protocol.js';

const WORKER_FILE = new URL('./worker.js', import.meta.url).href;

/**
 * The agent's worker threads (piscina: a well-kept pool that queues tasks, replaces a thread
 * that dies, and terminates a thread whose task is aborted). Threads start with the agent and
 * stay up, so a job never waits for a thread to boot.
 */
export class WorkerPool {
  private readonly piscina: Piscina;
  private requestsInFlight = 0;

  constructor(readonly threads: number) {
    this.piscina = new Piscina({
      filename: WORKER_FILE,
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: Infinity,
      // Kernels may be async and modules load with dynamic import: let the thread's event loop run.
      atomics: 'async',
      // Tasks of concurrent jobs queue here. piscina's default ('auto', threads squared) would
      // fail a task at random once several jobs overlap; admission control is the coordinator's job.
      maxQueue: Infinity,
    });
  }

  /** Runs one request; resolves with its partials or rejects with the typed error it produced. */
  async run(request: WorkerRequest, signal?: AbortSignal): Promise<{ partials: unknown[]; rowStart?: number }> {
    let reply: WorkerReply;
    this.requestsInFlight++;
    try {
      reply = (await this.piscina.run(request, signal === undefined ? {} : { signal })) as WorkerReply;
    } catch (error) {
      if (signal?.aborted) throw new CancelledError('task cancelled', { cause: error });
      throw new InternalError(`worker thread failed: ${(error as Error).message}`, { cause: error, retryable: true });
    } finally {
      this.requestsInFlight--;
    }
    if (reply.ok) return { partials: reply.partials };
    const error: SharcError = fromErrorData(reply.error);
    throw Object.assign(error, reply.rowStart === undefined ? {} : { rowStart: reply.rowStart });
  }

  /** Requests running on a thread or queued for one: divided by `threads`, the pool's load. */
  get inFlight(): number {
    return this.requestsInFlight;
  }

  async close(): Promise<void> {
    await this.piscina.destroy();
  }
}
