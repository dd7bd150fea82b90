import { randomBytes } from 'node:crypto';
import {
  CLIENT_HEARTBEAT_MS,
  CLIENT_REQUEST_TIMEOUT_MS,
  MessageBus,
  TimeoutError,
  combineBuiltin,
  connectNats,
  createLogger,
  finishBuiltin,
  identityOf,
  subjectFor,
  type AgentInfo,
  type ArrayMeta,
  type BuiltinPartial,
  type BuiltinReduction,
  type DType,
  type MessageOf,
  type Shape,
  type ReplyOf,
  type Request,
  type RequestType,
} from '@sharc/protocol';

/** How long partials that went out before job.done may take to arrive after it. */
const LATE_PARTIALS_MS = 5_000;

export interface PlaceArrayOptions {
  name: string;
  dtype: DType;
  shape: Shape;
  partitions: number;
  /** @default the coordinator's (2) */
  copies?: number;
}

/**
 * A client that speaks the control protocol itself, for simulated agents, which hold no bytes
 * and serve no data port: it places an array with the messages a put sends (array.create, which
 * allocates every copy on the agents, then array.commit, which seals them) without writing
 * bytes, and runs built-in reductions (job.submit, partials as task.done on the job's subject).
 * It sends client heartbeats like the SDK, so the coordinator keeps its uploads.
 */
export class ProtocolClient {
  private readonly uploads = new Set<string>();
  private creating = 0;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly partials = new Map<string, Map<string, unknown>>();
  private readonly stopListening: () => void;

  private constructor(
    private readonly bus: MessageBus,
    private readonly cluster: string,
    readonly clientId: string,
  ) {
    this.heartbeat = setInterval(() => this.beat(), CLIENT_HEARTBEAT_MS);
    this.stopListening = bus.listen(subjectFor(cluster, { to: 'jobs of client', clientId }), (message) => {
      if (message.type === 'task.partials') {
        const partials = this.partials.get(message.jobId);
        for (const p of message.partitions) partials?.set(`${p.index}:${p.attempt}`, p.partial);
      }
      if (message.type !== 'task.done') return;
      this.partials.get(message.jobId)?.set(`${message.partitionIndex}:${message.attempt}`, message.partial);
    });
  }

  static async connect(servers: string, cluster = 'default'): Promise<ProtocolClient> {
    const clientId = `protocol-client-${randomBytes(4).toString('hex')}`;
    const logger = createLogger('protocol-client');
    const bus = new MessageBus(await connectNats({ servers, name: clientId, logger }), clientId, logger);
    const client = new ProtocolClient(bus, cluster, clientId);
    await bus.flush();
    return client;
  }

  /** The coordinator's view of every agent: `nodes.list`. */
  async nodes(): Promise<Array<AgentInfo & { state: 'alive' | 'dead' }>> {
    return (await this.ask({ type: 'nodes.list' })).agents;
  }

  /** Places and commits an array without writing its bytes (simulated agents hold none). */
  async placeArray(options: PlaceArrayOptions): Promise<ArrayMeta> {
    this.creating++;
    let placed: MessageOf<'array.placed'>;
    try {
      placed = await this.ask(
        { type: 'array.create', name: options.name, dtype: options.dtype, shape: options.shape, partitions: options.partitions, ...(options.copies === undefined ? {} : { copies: options.copies }) },
      );
    } finally {
      this.creating--;
    }
    this.uploads.add(placed.array.id);
    try {
      const committed = await this.ask({ type: 'array.commit', arrayId: placed.array.id, transferToken: placed.transferToken });
      return committed.array;
    } finally {
      this.uploads.delete(placed.array.id);
    }
  }

  /** Where the array is served, once every partition is (the coordinator waits for recovery first). */
  async locate(arrayId: string): Promise<ArrayMeta> {
    return (await this.ask({ type: 'array.locate', arrayId })).array;
  }

  /** Every stored array, with its placement. */
  async list(): Promise<ArrayMeta[]> {
    return (await this.ask({ type: 'array.list' })).arrays;
  }

  /** A built-in reduction over the whole array, through the coordinator: the partials come from the agents. */
  async reduce(array: ArrayMeta, op: BuiltinReduction): Promise<number | bigint> {
    const jobId = randomBytes(8).toString('hex');
    const partials = new Map<string, unknown>();
    this.partials.set(jobId, partials);
    try {
      const done = await this.ask(
        { type: 'job.submit', jobId, spec: { kind: 'reduce', arrayId: array.id, kernel: { kind: 'builtin', op } } },
      );
      const attempts = done.attempts ?? array.partitions.map(() => 0);
      const keys = array.partitions.map((p) => `${p.index}:${attempts[p.index] ?? 0}`);
      const deadline = Date.now() + LATE_PARTIALS_MS;
      while (keys.some((key) => !partials.has(key))) {
        if (Date.now() > deadline) throw new TimeoutError(`job ${jobId} ended but partials of ${keys.filter((key) => !partials.has(key)).length} partitions never came`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      let result = identityOf(op, array.dtype);
      for (const key of keys) result = combineBuiltin(op, result, partials.get(key) as BuiltinPartial);
      return finishBuiltin(op, result);
    } finally {
      this.partials.delete(jobId);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    this.stopListening();
    await this.bus.close();
  }

  private beat(): void {
    this.bus.publish(subjectFor(this.cluster, { to: 'coordinator', verb: 'client' }), {
      type: 'client.heartbeat',
      uploads: [...this.uploads],
      ...(this.creating > 0 ? { creating: this.creating } : {}),
    });
  }

  private ask<T extends RequestType>(message: Request<T> & { type: T }): Promise<ReplyOf<T>> {
    return this.bus.call<T>(subjectFor(this.cluster, { to: 'coordinator', verb: 'client' }), message, { timeoutMs: CLIENT_REQUEST_TIMEOUT_MS });
  }
}
