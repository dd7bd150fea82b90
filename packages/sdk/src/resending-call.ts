import {
  ArrayNotFoundError,
  ConnectionError,
  JobNotFoundError,
  TimeoutError,
  type MessageBus,
  type MessageType,
  type ReplyOf,
  type Request,
  type RequestType,
} from '@sharc/protocol';

/**
 * Client requests the coordinator may get twice: a repeat answers as the first did (reads,
 * kernel.put by hash, a commit it remembers) or says the first one did it (a delete, abort or
 * cancel of what is gone already). A repeated job.launch answers with the job it started (same
 * id). A repeated array.create makes a second upload; the first,
 * which this client never lists in its heartbeats, is dropped by the coordinator.
 */
const RESENDABLE: ReadonlySet<MessageType> = new Set<MessageType>([
  'array.create',
  'array.commit',
  'array.abort',
  'array.open',
  'array.locate',
  'array.delete',
  'array.list',
  'kernel.put',
  'job.cancel',
  'nodes.list',
  'jobs.list',
  'job.get',
  'job.launch',
]);
/** Pause before asking again a coordinator that is not back yet after NATS was. */
const RETRY_PAUSE_MS = 250;
/** How long after the connection came back a coordinator that does not answer is waited for. */
const COORDINATOR_RETURN_MS = 10_000;

/**
 * Requests to the coordinator that survive a NATS blip. NATS core delivers at most once: a
 * request or its reply lost while NATS was away would wait out its whole timeout (2 minutes).
 * A resendable request still unanswered when the connection comes back is sent again, and the
 * first answer counts; one refused because nobody listens yet is asked again for a while.
 */
export class ResendingCaller {
  private lastChange = -Infinity;
  private readonly reconnectWaiters = new Set<() => void>();
  private readonly stopWatching: () => void;

  constructor(private readonly bus: MessageBus) {
    this.stopWatching = bus.onConnectionChange((change) => {
      this.lastChange = Date.now();
      if (change !== 'reconnected') return;
      for (const wake of [...this.reconnectWaiters]) wake();
    });
  }

  close(): void {
    this.stopWatching();
    for (const wake of [...this.reconnectWaiters]) wake();
  }

  async call<T extends RequestType>(subject: string, message: Request<T> & { type: T }, timeoutMs: number): Promise<ReplyOf<T>> {
    if (!RESENDABLE.has(message.type)) return this.bus.call<T>(subject, message, { timeoutMs });
    const deadline = Date.now() + timeoutMs;
    let resent = false;
    for (;;) {
      let stopWaiting = () => undefined as void;
      const reconnected = new Promise<'reconnected'>((resolve) => {
        const wake = () => resolve('reconnected');
        this.reconnectWaiters.add(wake);
        stopWaiting = () => void this.reconnectWaiters.delete(wake);
      });
      const request = this.bus.call<T>(subject, message, { timeoutMs: Math.max(1, deadline - Date.now()) });
      request.catch(() => undefined);
      try {
        const answer = await Promise.race([request, reconnected]);
        if (answer !== 'reconnected') return answer;
        resent = true; // NATS came back while it waited: the request or its answer may be lost
      } catch (error) {
        if (resent && alreadyDone(message.type, error)) return { v: 0, from: '', type: 'ok' } as unknown as ReplyOf<T>;
        const unreachable = (error instanceof ConnectionError || error instanceof TimeoutError) && error.retryable;
        if (!unreachable || Date.now() - this.lastChange > COORDINATOR_RETURN_MS || Date.now() + RETRY_PAUSE_MS >= deadline) throw error;
        resent = true;
        await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS));
      } finally {
        stopWaiting();
      }
    }
  }
}

/** A repeated delete, abort or cancel told that what it names is gone: the first one did it. */
function alreadyDone(type: MessageType, error: unknown): boolean {
  if (type === 'job.cancel') return error instanceof JobNotFoundError;
  return (type === 'array.delete' || type === 'array.abort') && error instanceof ArrayNotFoundError;
}
