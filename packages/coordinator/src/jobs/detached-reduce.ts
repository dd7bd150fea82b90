import {
  ConnectionError,
  InternalError,
  MessageTooLargeError,
  NoAgentsError,
  colsOf,
  finishOp,
  foldOp,
  histogramEdges,
  InvalidArgumentError,
  subjectFor,
  type ArrayMeta,
  type KernelRef,
  type MessageBus,
  type ReduceSpec,
} from '@sharc/protocol';
import type { AgentClient } from '../agents/agent-client.js';
import type { AgentRegistry } from '../registry/agent-registry.js';

/**
 * How long a detached reduce waits, after its job ended, for partials still on their way: on
 * one nats-server they come before the task's reply; across a NATS cluster they may trail it.
 */
const PARTIALS_GRACE_MS = 5_000;
/** Partials sent to an agent in one partials.combine, at most (fewer when they do not fit in a message). */
const COMBINE_CHUNK = 256;

type Partial = { blocks: number; partial?: unknown };

/**
 * Partials of detached reduces. A detached reduce's value is made by the coordinator (its
 * client may be gone), so its tasks name the coordinator as their client and the agents send
 * its partials here, on `sharc.<cluster>.job.<coordinator>.<jobId>`, keyed by partition and
 * attempt as a client keys them (only the attempts job.done accepts count).
 */
export class PartialsInbox {
  private readonly jobs = new Map<string, { partials: Map<string, Partial>; arrived: () => void }>();
  private readonly stop: () => void;

  constructor(bus: MessageBus, cluster: string) {
    this.stop = bus.listen(subjectFor(cluster, { to: 'jobs of client', clientId: bus.sender }), (event) => {
      if (event.type === 'task.partials') for (const p of event.partitions) this.add(event.jobId, p.index, p.attempt, p);
      else if (event.type === 'task.done') this.add(event.jobId, event.partitionIndex, event.attempt, event);
    });
  }

  /** Partials of `jobId` are kept from now until `close(jobId)`. */
  open(jobId: string): void {
    if (!this.jobs.has(jobId)) this.jobs.set(jobId, { partials: new Map(), arrived: () => undefined });
  }

  close(jobId: string): void {
    this.jobs.delete(jobId);
  }

  /** Stops listening. */
  shutdown(): void {
    this.stop();
    this.jobs.clear();
  }

  /**
   * The partial that counts for each partition in `partitions` (the attempt `attempts` names),
   * in their order, leaving out partitions without rows; waits up to PARTIALS_GRACE_MS for any
   * still on the way.
   */
  async take(jobId: string, partitions: readonly number[], attempts: readonly number[]): Promise<unknown[]> {
    const job = this.jobs.get(jobId);
    if (job === undefined) throw new InternalError(`the partials of job ${jobId} were not being collected`);
    const missing = () => partitions.filter((index) => !job.partials.has(key(index, attempts[index] ?? 0)));
    const deadline = Date.now() + PARTIALS_GRACE_MS;
    while (missing().length > 0 && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - Date.now());
        job.arrived = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    const lacking = missing();
    if (lacking.length > 0) {
      throw new InternalError(
        `job ${jobId} finished but the results of partitions ${lacking.slice(0, 10).join(', ')} never reached the coordinator: submit it again. ` +
        `With NATS permissions, the coordinator's user must be let subscribe to sharc.*.job.coordinator.> (infra/nats-roles.conf)`, {
        retryable: true,
      });
    }
    return partitions.map((index) => job.partials.get(key(index, attempts[index] ?? 0))!).filter((p) => p.blocks > 0).map((p) => p.partial);
  }

  private add(jobId: string, index: number, attempt: number, partial: Partial): void {
    const job = this.jobs.get(jobId);
    if (job === undefined) return;
    job.partials.set(key(index, attempt), { blocks: partial.blocks, partial: partial.partial });
    job.arrived();
  }
}

function key(index: number, attempt: number): string {
  return `${index}:${attempt}`;
}

/** What merging a detached reduce's partials needs: an agent to run a module's combine export. */
export interface CombineDeps {
  client: AgentClient;
  agents: AgentRegistry;
  /** Aborted (with a CancelledError) when the job is cancelled: the merge stops at once. */
  signal?: AbortSignal;
}

/**
 * A detached reduce's value from its partials (row order, partitions with rows only), as
 * `cluster.reduce` would give it: a built-in's partials are merged here with protocol's
 * functions and finished as numpy's value; a module's are folded by its combine export on an
 * agent (the coordinator never runs user code). A module reduce over no rows has no value.
 */
export async function reduceValue(deps: CombineDeps, jobId: string, spec: ReduceSpec, input: ArrayMeta, partials: unknown[], timeoutMs: number): Promise<unknown> {
  const { kernel } = spec;
  if (kernel.kind === 'builtin') {
    const value = finishOp(kernel, foldOp(kernel, input.dtype, colsOf(input.shape), partials), input.dtype);
    // As array.histogram() gives it: counts and numpy's edges (a submitted histogram has its range).
    const range = kernel.params?.range;
    if (kernel.op !== 'histogram') return value;
    if (range === undefined) throw new InvalidArgumentError('a detached histogram needs its range: [lo, hi]');
    return { counts: value, edges: histogramEdges(range[0], range[1], kernel.params?.bins ?? (value as Float64Array).length, input.dtype) };
  }
  if (kernel.kind !== 'reduce') throw new InternalError(`a detached reduce cannot merge the partials of a ${kernel.kind} kernel`);
  let level = partials;
  // Folded left to right in chunks, then the chunks' results in turn: a reduce's combine is
  // associative (the agents already fold blocks and partitions so), and order is kept.
  while (level.length > 1) {
    const next: unknown[] = [];
    let size = COMBINE_CHUNK;
    for (let start = 0; start < level.length; ) {
      const chunk = level.slice(start, start + size);
      if (chunk.length === 1) {
        next.push(chunk[0]);
        start += 1;
        continue;
      }
      try {
        next.push(await combineOnAgent(deps, jobId, kernel, input, chunk, timeoutMs));
        start += chunk.length;
      } catch (error) {
        // Too large for one message: fewer at a time (two that do not fit fail the job).
        if (!(error instanceof MessageTooLargeError) || chunk.length <= 2) throw error;
        size = Math.ceil(chunk.length / 2);
      }
    }
    level = next;
  }
  return level[0];
}

/** One partials.combine on a live agent; another one is asked when it dies meanwhile. */
async function combineOnAgent(deps: CombineDeps, jobId: string, kernel: Extract<KernelRef, { kind: 'reduce' }>, input: ArrayMeta, partials: unknown[], timeoutMs: number): Promise<unknown> {
  let lastError: unknown;
  for (const agent of deps.agents.alive()) {
    deps.signal?.throwIfAborted();
    try {
      const combined = deps.client.combine(agent.id, { type: 'partials.combine', jobId, kernel, dtype: input.dtype, partials }, timeoutMs);
      return await (deps.signal === undefined ? combined : untilAborted(combined, deps.signal));
    } catch (error) {
      if (!(error instanceof ConnectionError && error.retryable)) throw error;
      lastError = error;
    }
  }
  throw new NoAgentsError(`no live agent could merge the partials of job ${jobId} with ${kernel.module}#${kernel.combine}`, { retryable: true, cause: lastError });
}

/** `promise`, or the signal's reason as soon as it is aborted (the promise's own end is then ignored). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error as Error);
      },
    );
  });
}
