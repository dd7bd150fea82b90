import {
  ArrayNotFoundError,
  CONTROL_TIMEOUT_MS,
  CancelledError,
  InvalidArgumentError,
  MISSING_PARTITION_DETAIL,
  MessageBus,
  blockCount,
  bytesPerElement,
  colsOf,
  subjectFor,
  toErrorData,
  type AgentInfo,
  type Answer,
  type Logger,
  type Message,
  type MessageOf,
  type PartitionMeta,
  type Outgoing,
  type Transport,
} from '@sharc/protocol';
import { fillRulePartial, type BookedPartition } from './fill-rule.js';

const REGISTER_RETRY_MS = 500;
/** Cancelled job ids remembered, so a task that arrives after its job's cancel is refused (as a real agent does). */
const CANCELLED_JOBS_KEPT = 1_024;

export interface SimulatedAgentOptions {
  /** The agent's id (its name): a subject token. */
  name: string;
  cluster: string;
  /** Heartbeat period, as a real agent's. */
  heartbeatMs: number;
  /** Memory it claims to have: the coordinator places partitions against it; nothing is allocated. */
  memoryBytes: number;
  threads: number;
  logger: Logger;
}

/**
 * An agent that speaks the real protocol over its own NATS connection but holds no partition
 * bytes: it books each partition's size, answers control requests (allocate, seal, free,
 * load, fetch, hello) at once, answers a reduce task with the partial of the fill rule (every
 * element is 1, see fill-rule.ts) and heartbeats like a real agent. Hundreds fit in one process.
 *
 * It has no data plane (no byte is stored): a client's put or read of bytes, and file loads,
 * are what it cannot simulate; arrays are placed with the control messages alone.
 */
export class SimulatedAgent {
  private readonly bus: MessageBus;
  /** Booked partitions: array id → partition index → its size. */
  private readonly held = new Map<string, Map<number, BookedPartition>>();
  private usedBytes = 0;
  private partitionCount = 0;
  private readonly cancelled = new Set<string>();
  private readonly unsubscribe: Array<() => void> = [];
  private heartbeat: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    transport: Transport,
    private readonly options: SimulatedAgentOptions,
  ) {
    this.bus = new MessageBus(transport, options.name, options.logger);
  }

  get id(): string {
    return this.options.name;
  }

  /** Subscribes, registers with the coordinator (retrying until one answers), then heartbeats. */
  async start(): Promise<void> {
    const { cluster } = this.options;
    this.unsubscribe.push(
      this.bus.serve(subjectFor(cluster, { to: 'agent', agentId: this.id, verb: 'control' }), (m) => this.control(m)),
      this.bus.serve(subjectFor(cluster, { to: 'agent', agentId: this.id, verb: 'task' }), (m) => this.task(m)),
      this.bus.listen(subjectFor(cluster, { to: 'agents', verb: 'cancel' }), (m) => {
        if (m.type === 'task.cancel') this.cancelJob(m.jobId);
      }),
    );
    await this.register();
    // Real agents start at different moments: a random phase spreads the beats over the period
    // instead of 1,000 of them landing in the same millisecond.
    const phase = setTimeout(() => {
      this.beat();
      this.heartbeat = setInterval(() => this.beat(), this.options.heartbeatMs);
    }, Math.random() * this.options.heartbeatMs);
    this.unsubscribe.push(() => clearTimeout(phase));
  }

  info(): AgentInfo {
    return {
      id: this.id,
      host: 'simulated',
      pid: process.pid,
      // No data port listens: there is no byte to read or write (see the class comment).
      dataHost: '127.0.0.1',
      dataPort: 1,
      threads: this.options.threads,
      memoryBytes: this.options.memoryBytes,
      usedBytes: this.usedBytes,
      partitions: this.partitionCount,
      workInFlight: 0,
    };
  }

  /** Stops heartbeats and closes its NATS connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    for (const stop of this.unsubscribe) stop();
    await this.bus.close();
  }

  private async register(): Promise<void> {
    const subject = subjectFor(this.options.cluster, { to: 'coordinator', verb: 'agent' });
    for (;;) {
      try {
        await this.bus.call(subject, { type: 'agent.register', agent: this.info(), holds: this.holdings() }, { timeoutMs: CONTROL_TIMEOUT_MS });
        return;
      } catch (error) {
        if (this.closed) throw error;
        await new Promise((resolve) => setTimeout(resolve, REGISTER_RETRY_MS));
      }
    }
  }

  private beat(): void {
    try {
      this.bus.publish(subjectFor(this.options.cluster, { to: 'coordinator', verb: 'agent' }), {
        type: 'agent.heartbeat',
        agentId: this.id,
        usedBytes: this.usedBytes,
        partitions: this.partitionCount,
        workInFlight: 0,
        // Tasks are answered as they arrive: none is ever running at a beat.
        tasks: [],
      });
    } catch (error) {
      this.options.logger.warn('heartbeat not sent', { agent: this.id, error: (error as Error).message });
    }
  }

  private holdings(): Array<{ arrayId: string; partitions: number[] }> {
    return [...this.held].map(([arrayId, partitions]) => ({ arrayId, partitions: [...partitions.keys()] }));
  }

  private book({ arrayId, dtype, shape }: Pick<MessageOf<'partition.allocate'>, 'arrayId' | 'dtype' | 'shape'>, { index, rowCount, byteLength }: PartitionMeta): void {
    let partitions = this.held.get(arrayId);
    if (partitions === undefined) this.held.set(arrayId, (partitions = new Map()));
    // Allocating what it holds again returns it, as a real agent's store does.
    if (partitions.has(index)) return;
    partitions.set(index, { dtype, rowCount, cols: colsOf(shape), byteLength });
    this.usedBytes += byteLength;
    this.partitionCount++;
  }

  private free(arrayId: string, index?: number): void {
    const partitions = this.held.get(arrayId);
    if (partitions === undefined) return;
    for (const [i, partition] of partitions) {
      if (index !== undefined && i !== index) continue;
      partitions.delete(i);
      this.usedBytes -= partition.byteLength;
      this.partitionCount--;
    }
    if (partitions.size === 0) this.held.delete(arrayId);
  }

  private control(message: Message): Outgoing {
    switch (message.type) {
      case 'partition.allocate':
      case 'partition.load':
      case 'partition.fetch':
        // A load would read a file, a fetch another agent's bytes: there are no bytes here.
        this.book(message, message.partition);
        return { type: 'ok' };
      case 'partition.seal':
        return { type: 'ok' };
      case 'partition.free':
        this.free(message.arrayId, message.partitionIndex);
        return { type: 'ok' };
      case 'agent.hello': {
        const keep = new Set(message.keep.flatMap(({ arrayId, partitions }) => partitions.map((index) => `${arrayId}#${index}`)));
        for (const [arrayId, partitions] of [...this.held]) {
          for (const index of [...partitions.keys()]) if (!keep.has(`${arrayId}#${index}`)) this.free(arrayId, index);
        }
        return { type: 'agent.register', agent: this.info(), holds: this.holdings() };
      }
      case 'partitions.allocate':
        for (const partition of message.partitions) this.book(message, partition);
        return { type: 'ok' };
      default:
        throw new InvalidArgumentError(`a simulated agent's control subject does not take ${message.type} messages`);
    }
  }

  /** task.batch: every partition answered from the fill rule, the partials to the client in one message. */
  private taskBatch(message: MessageOf<'task.batch'>): Answer {
    const { task } = message;
    if (this.cancelled.has(task.jobId)) throw new CancelledError(`job ${task.jobId} was cancelled`, { details: { jobId: task.jobId } });
    if (task.output !== undefined) throw new InvalidArgumentError('a simulated agent runs no map');
    const results: Array<{ blocks?: number; error?: ReturnType<typeof toErrorData> }> = [];
    const partials: Array<{ index: number; attempt: number; blocks: number; partial: unknown }> = [];
    for (const { index, attempt } of message.partitions) {
      try {
        const partition = this.partition(task.arrayId, index);
        const blocks = blockCount(partition.rowCount, partition.cols * bytesPerElement(partition.dtype));
        partials.push({ index, attempt, blocks, partial: fillRulePartial(task.kernel, partition) });
        results.push({ blocks });
      } catch (error) {
        results.push({ error: toErrorData(error) });
      }
    }
    const subject = subjectFor(this.options.cluster, { to: 'job', clientId: task.clientId, jobId: task.jobId });
    return { reply: { type: 'task.batchDone', results }, before: partials.length === 0 ? [] : [{ subject, message: { type: 'task.partials', jobId: task.jobId, partitions: partials } }] };
  }

  private partition(arrayId: string, index: number): BookedPartition {
    const partition = this.held.get(arrayId)?.get(index);
    if (partition === undefined) {
      // What a real agent says (retryable): the coordinator moves the work to another copy.
      throw new ArrayNotFoundError(`this agent holds no partition ${index} of array ${arrayId}: it may have restarted; retry`, {
        retryable: true,
        details: { [MISSING_PARTITION_DETAIL]: true, arrayId, partition: index },
      });
    }
    return partition;
  }

  private task(message: Message): Answer {
    if (message.type === 'task.batch') return this.taskBatch(message);
    if (message.type !== 'task.run') throw new InvalidArgumentError(`an agent's task subject does not take ${message.type} messages`);
    const { task } = message;
    if (this.cancelled.has(task.jobId)) throw new CancelledError(`job ${task.jobId} was cancelled`, { details: { jobId: task.jobId } });
    if (task.output !== undefined || task.with !== undefined) throw new InvalidArgumentError('a simulated agent runs no map and no reduce over two arrays');
    const partition = this.partition(task.arrayId, task.partitionIndex);
    const partial = fillRulePartial(task.kernel, partition);
    const blocks = blockCount(partition.rowCount, partition.cols * bytesPerElement(partition.dtype));
    return {
      reply: { type: 'task.result', blocks },
      before: [
        {
          subject: subjectFor(this.options.cluster, { to: 'job', clientId: task.clientId, jobId: task.jobId }),
          message: { type: 'task.done', jobId: task.jobId, partitionIndex: task.partitionIndex, attempt: task.attempt, blocks, partial },
        },
      ],
    };
  }

  private cancelJob(jobId: string): void {
    this.cancelled.add(jobId);
    if (this.cancelled.size > CANCELLED_JOBS_KEPT) this.cancelled.delete(this.cancelled.values().next().value as string);
  }
}
