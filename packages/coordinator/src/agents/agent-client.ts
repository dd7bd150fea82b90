import {
  CONTROL_TIMEOUT_MS,
  ConnectionError,
  REPLY_MARGIN_MS,
  TimeoutError,
  subjectFor,
  type MessageBus,
  type ReplyOf,
  type Request,
  type RequestType,
  type Task,
} from '@sharc/protocol';
import type { AgentRegistry } from '../registry/agent-registry.js';

/**
 * An agent could not be asked, or did not answer because it is gone: it was declared dead
 * before the request or while it waited (an agent killed after it got a request never
 * answers), or nobody listens on its subject. Retryable (the work moves to another agent);
 * `details` name the agent (`agentId`) and the request (`request`, its message type).
 */
export class AgentUnreachableError extends ConnectionError {
  declare readonly details: { agentId: string; request: string } & Record<string, unknown>;
}

/** Requests to an agent that are not tasks: they go to its control subject. */
export type ControlRequestType = Extract<RequestType, 'partition.allocate' | 'partitions.allocate' | 'partition.load' | 'partition.fetch' | 'partition.seal' | 'partition.free' | 'file.inspect' | 'file.create' | 'agent.hello'>;

export interface AgentCallOptions {
  /** How long the answer may take in all (resends included). @default CONTROL_TIMEOUT_MS */
  timeoutMs?: number;
  /**
   * The agent is not alive in the registry (unknown to this coordinator, or declared dead and
   * heard from again: it is being greeted). It is asked all the same, and only the timeout
   * ends the wait.
   */
  unregistered?: boolean;
}

/**
 * Requests an agent may get twice: allocating what it has returns it, seal and free repeat
 * as no-ops, a load or fetch sent again answers with the copy being made (or made), and an
 * inspect only reads. Others (a task, a greeting) are sent once: a repeat is not harmless.
 */
const RESENDABLE: ReadonlySet<RequestType> = new Set<RequestType>([
  'partition.allocate',
  'partitions.allocate',
  'partition.seal',
  'partition.free',
  'partition.load',
  'partition.fetch',
  'file.inspect',
]);
/** Any reply to a request. */
type Reply = ReplyOf<RequestType>;
/** How long to wait for the answer to a resendable request before sending it again. */
const RESEND_AFTER_MS = 3_000;
/** Pause before sending again a request nobody answered (the agent may be resubscribing after NATS was away). */
const RESEND_PAUSE_MS = 250;

/**
 * The coordinator's one way to talk to agents: every request to an agent goes through here,
 * with one policy for all of them.
 * - An agent declared dead is not asked (AgentUnreachableError at once), and a wait on an agent
 *   declared dead meanwhile ends at once with the same error: the caller (a put, a map, a
 *   recovery) moves on instead of waiting out its timeout.
 * - A request the agent may receive twice safely (RESENDABLE) is sent again when no answer
 *   comes within RESEND_AFTER_MS or nobody listens: it or its reply may have been lost while
 *   NATS was away (NATS core delivers at most once). Others wait for their one answer.
 * - Failures name the agent and the request (`details.agentId`, `details.request`).
 */
export class AgentClient {
  /** Requests on their way, by agent. */
  private readonly inFlight = new Map<string, number>();

  constructor(
    private readonly bus: MessageBus,
    private readonly cluster: string,
    private readonly agents: AgentRegistry,
  ) {}

  /** Sends a control request (allocate, load, fetch, seal, free, inspect, hello) and returns the agent's answer. */
  control<T extends ControlRequestType>(agentId: string, request: Request<T> & { type: T }, options: AgentCallOptions = {}): Promise<ReplyOf<T>> {
    const subject = subjectFor(this.cluster, { to: 'agent', agentId, verb: 'control' });
    return this.call(agentId, subject, request, options) as Promise<ReplyOf<T>>;
  }

  /**
   * Runs one partition's task on the agent and waits for it to finish. The agent stops the
   * task itself after `timeoutMs`, should the cancel never reach it; the caller's own timer (a
   * TimeoutError naming the job) fires first, the wait here only ends on an agent that never answers.
   */
  async runTask(agentId: string, task: Omit<Task, 'timeoutMs'>, timeoutMs: number): Promise<{ blocks: number }> {
    const subject = subjectFor(this.cluster, { to: 'agent', agentId, verb: 'task' });
    const reply = (await this.call(agentId, subject, { type: 'task.run', task: { ...task, timeoutMs } }, { timeoutMs: timeoutMs + REPLY_MARGIN_MS })) as ReplyOf<'task.run'>;
    return { blocks: reply.blocks };
  }

  /**
   * Runs partitions of a job on the agent (one task.batch) and waits for all of them: one
   * result per partition, in the order asked. The same stops as runTask.
   */
  runBatch(agentId: string, request: Omit<Request<'task.batch'>, 'task'> & { task: Omit<Task, 'timeoutMs' | 'partitionIndex' | 'attempt' | 'with'> }, timeoutMs: number): Promise<ReplyOf<'task.batch'>> {
    const subject = subjectFor(this.cluster, { to: 'agent', agentId, verb: 'task' });
    const message = { ...request, task: { ...request.task, timeoutMs } };
    return this.call(agentId, subject, message, { timeoutMs: timeoutMs + REPLY_MARGIN_MS }) as Promise<ReplyOf<'task.batch'>>;
  }

  /** Folds partials with a module's combine export on the agent (a detached reduce's value): the folded partial. */
  async combine(agentId: string, request: Request<'partials.combine'> & { type: 'partials.combine' }, timeoutMs: number): Promise<unknown> {
    const subject = subjectFor(this.cluster, { to: 'agent', agentId, verb: 'task' });
    const reply = (await this.call(agentId, subject, request, { timeoutMs: timeoutMs + REPLY_MARGIN_MS })) as ReplyOf<'partials.combine'>;
    return reply.partial;
  }

  /** Tells every agent to stop the work of a job (a broadcast: nobody answers). */
  cancelJob(jobId: string): void {
    this.bus.publish(subjectFor(this.cluster, { to: 'agents', verb: 'cancel' }), { type: 'task.cancel', jobId });
  }

  /** Whether a request that may change what the agent holds is on its way (tasks do not count). */
  busyWith(agentId: string): boolean {
    return this.inFlight.has(agentId);
  }

  private async call(agentId: string, subject: string, request: Request, options: AgentCallOptions): Promise<Reply> {
    const { timeoutMs = CONTROL_TIMEOUT_MS, unregistered = false } = options;
    const gone = (why: string, cause?: unknown) =>
      new AgentUnreachableError(`agent ${agentId} ${why} before it answered ${request.type}`, { retryable: true, cause, details: { agentId, request: request.type } });
    if (!unregistered && !this.agents.isAlive(agentId)) throw gone('was declared dead');
    const death = unregistered ? undefined : this.agents.untilDead(agentId);
    // Only what may change what the agent holds (allocate, load, fetch, free, hello) makes it
    // busy: a task, which runs as long as its job, would hide a leftover from busyWith's callers.
    const changesHoldings = request.type !== 'task.run' && request.type !== 'task.batch' && request.type !== 'file.inspect' && request.type !== 'partials.combine';
    if (changesHoldings) this.inFlight.set(agentId, (this.inFlight.get(agentId) ?? 0) + 1);
    try {
      const asked = this.ask(subject, request, timeoutMs);
      const answer = death === undefined ? asked : Promise.race([asked, death.dead.then(() => Promise.reject(gone('died')))]);
      return await answer.catch((error: unknown) => {
        if (error instanceof AgentUnreachableError) throw error;
        if (error instanceof ConnectionError && error.retryable) throw gone('could not be reached', error);
        if (error instanceof TimeoutError) {
          throw new TimeoutError(`agent ${agentId} did not answer ${request.type} within ${timeoutMs} ms`, { retryable: error.retryable, cause: error, details: { agentId, request: request.type } });
        }
        // The agent's own answer (an error reply): as it said it.
        throw error;
      });
    } finally {
      death?.forget();
      if (changesHoldings) {
        const left = (this.inFlight.get(agentId) ?? 1) - 1;
        if (left === 0) this.inFlight.delete(agentId);
        else this.inFlight.set(agentId, left);
      }
    }
  }

  /** One request, sent again while unanswered when it is RESENDABLE, within `timeoutMs` in all. */
  private async ask(subject: string, request: Request, timeoutMs: number): Promise<Reply> {
    if (!RESENDABLE.has(request.type)) return this.bus.call(subject, request, { timeoutMs });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = deadline - Date.now();
      try {
        return await this.bus.call(subject, request, { timeoutMs: Math.max(1, Math.min(left, RESEND_AFTER_MS)) });
      } catch (error) {
        const lost = (error instanceof TimeoutError || error instanceof ConnectionError) && error.retryable;
        if (!lost || Date.now() + RESEND_PAUSE_MS >= deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, RESEND_PAUSE_MS).unref());
      }
    }
  }
}
