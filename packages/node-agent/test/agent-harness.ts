/**
 * A real agent (its worker threads, store and data port) on an in-process bus, driven as the
 * coordinator drives it: control messages, task.run, the partials a reduce sends its client.
 * The test plays the coordinator (it answers agent.register and kernel.get).
 */
import {
  InProcessHub,
  MessageBus,
  PROTOCOL_VERSION,
  bytesPerElement,
  colsOf,
  createLogger,
  fromErrorData,
  kernelHash,
  subjectFor,
  tcpDataPlane,
  type BackingFile,
  type DType,
  type FileSource,
  type KernelRef,
  type Message,
  type PartitionMeta,
  type Shape,
  type Task,
} from '@sharc/protocol';
import { Agent } from '../src/agent.js';

const CLUSTER = 'test';
const CLIENT = 'test-client';
const CALL_MS = 120_000;

export interface ArrayOnAgent {
  arrayId: string;
  dtype: DType;
  shape: Shape;
  partitions: PartitionMeta[];
  /** Set for a file-backed array. */
  file?: BackingFile;
}

export class AgentHarness {
  private jobs = 0;
  /** Arrays allocate() made, freed by freeOutputs(). */
  private outputs: string[] = [];

  private constructor(
    readonly agent: Agent,
    private readonly bus: MessageBus,
    /** Kernel code by hash, as the coordinator's kernel.get answers it. */
    private readonly kernels: Map<string, string>,
    private readonly stopCoordinator: () => void,
  ) {}

  static async start(options: { threads?: number; memoryBytes?: number; kernelCacheDir: string }): Promise<AgentHarness> {
    const hub = new InProcessHub();
    const logger = createLogger('test', 'error');
    const bus = new MessageBus(hub.connect(), 'coordinator', logger);
    const kernels = new Map<string, string>();
    const stop = bus.serve(subjectFor(CLUSTER, { to: 'coordinator', verb: 'agent' }), (message: Message) => {
      if (message.type === 'kernel.get') return { type: 'kernel.code', hash: message.hash, code: kernels.get(message.hash) ?? '' };
      return { type: 'ok' };
    });
    const agent = await Agent.start(hub.connect(), {
      cluster: CLUSTER,
      name: 'agent-0',
      threads: options.threads ?? 2,
      memoryBytes: options.memoryBytes ?? 512 * 1024 * 1024,
      dataHost: '127.0.0.1',
      advertiseHost: '127.0.0.1',
      dataPort: 0,
      kernelCacheDir: options.kernelCacheDir,
      logger,
    });
    return new AgentHarness(agent, bus, kernels, stop);
  }

  async close(): Promise<void> {
    await this.agent.close();
    this.stopCoordinator();
    await this.bus.close();
  }

  /** Makes kernel code fetchable by its hash; returns the hash. */
  putKernel(code: string): string {
    const hash = kernelHash(code);
    this.kernels.set(hash, code);
    return hash;
  }

  control<T extends Message['type']>(message: Parameters<MessageBus['call']>[1] & { type: T }): Promise<Message> {
    return this.bus.call(subjectFor(CLUSTER, { to: 'agent', agentId: this.agent.id, verb: 'control' }), message as never, { timeoutMs: CALL_MS }) as Promise<Message>;
  }

  /** The file's layout and its size and time, as the agent's file.inspect reads them. */
  async inspect(source: FileSource): Promise<Extract<Message, { type: 'file.info' }>> {
    const info = await this.control({ type: 'file.inspect', source });
    if (info.type !== 'file.info') throw new Error(`file.inspect answered ${info.type}`);
    return info;
  }

  /** Loads `source` cut at `cuts` (row starts after 0): into memory, or file-backed (nothing read). */
  async load(arrayId: string, source: FileSource, cuts: number[], fileBacked: boolean): Promise<ArrayOnAgent> {
    const info = await this.inspect(source);
    const partitions = partitionsOf(info.shape, info.dtype, cuts, this.agent.id);
    const rowBytes = colsOf(info.shape) * bytesPerElement(info.dtype);
    const file: BackingFile = { path: source.path, dataOffset: info.dataOffset, size: info.size, mtimeMs: info.mtimeMs };
    for (const partition of partitions) {
      await this.control({
        type: 'partition.load',
        arrayId,
        dtype: info.dtype,
        shape: info.shape,
        partition,
        source,
        dataOffset: info.dataOffset + partition.rowStart * rowBytes,
        ...(fileBacked ? { file } : {}),
      });
    }
    return { arrayId, dtype: info.dtype, shape: info.shape, partitions, ...(fileBacked ? { file } : {}) };
  }

  /** Output partitions (same rows as `like`'s) of a map: in memory, or written into a new .npy file at `path`. */
  async allocateOutput(arrayId: string, like: ArrayOnAgent, dtype: DType, cols: number, path?: string): Promise<ArrayOnAgent> {
    const shape: Shape = like.shape.length === 1 && cols === 1 ? [like.shape[0]!] : [like.shape[0]!, cols];
    const rowBytes = cols * bytesPerElement(dtype);
    const partitions = like.partitions.map((p) => ({ ...p, byteLength: p.rowCount * rowBytes }));
    return this.allocate(arrayId, dtype, shape, partitions, path);
  }

  async allocate(arrayId: string, dtype: DType, shape: Shape, partitions: PartitionMeta[], path?: string): Promise<ArrayOnAgent> {
    let file: BackingFile | undefined;
    if (path !== undefined) {
      const info = await this.control({ type: 'file.create', path, dtype, shape });
      if (info.type !== 'file.info') throw new Error(`file.create answered ${info.type}`);
      file = { path, dataOffset: info.dataOffset, size: info.size, mtimeMs: info.mtimeMs };
    }
    await this.control({ type: 'partitions.allocate', arrayId, dtype, shape, partitions, ...(file === undefined ? {} : { file }) });
    this.outputs.push(arrayId);
    return { arrayId, dtype, shape, partitions, ...(file === undefined ? {} : { file }) };
  }

  /** Frees every array allocate() made (the agent's memory limit holds a few outputs at once). */
  async freeOutputs(): Promise<void> {
    for (const arrayId of this.outputs.splice(0)) await this.control({ type: 'partition.free', arrayId });
  }

  /** Runs one partition's task; a reduce's partial (as its client gets it), or undefined for a map. */
  async run(array: ArrayOnAgent, index: number, kernel: KernelRef, extra: Partial<Pick<Task, 'output' | 'with' | 'params'>> = {}): Promise<unknown> {
    const jobId = `job-${++this.jobs}`;
    let resolvePartial: (message: Message) => void = () => undefined;
    const partial = new Promise<Message>((resolve) => (resolvePartial = resolve));
    const stop = this.bus.listen(subjectFor(CLUSTER, { to: 'job', clientId: CLIENT, jobId }), (message) => resolvePartial(message));
    try {
      const task: Task = { jobId, clientId: CLIENT, arrayId: array.arrayId, partitionIndex: index, attempt: 0, kernel, ...extra };
      const reply = await this.bus.request(subjectFor(CLUSTER, { to: 'agent', agentId: this.agent.id, verb: 'task' }), { type: 'task.run', task }, { timeoutMs: CALL_MS });
      if (reply.type === 'error') throw fromErrorData(reply.error);
      if (reply.type !== 'task.result') throw new Error(`task.run answered ${reply.type}`);
      if (extra.output !== undefined) return undefined;
      const done = await partial;
      if (done.type !== 'task.done') throw new Error(`the job subject got ${done.type}`);
      return done.partial;
    } finally {
      stop();
    }
  }

  /** Every partition's partial of a reduce, in partition order. */
  async reduce(array: ArrayOnAgent, kernel: KernelRef, extra: Partial<Pick<Task, 'with' | 'params'>> = {}): Promise<unknown[]> {
    const partials: unknown[] = [];
    for (const p of array.partitions) partials.push(await this.run(array, p.index, kernel, extra));
    return partials;
  }

  /** A reduce a client sends straight to the agent (tasks.run on its direct subject): every partition's partial, in order. */
  async direct(array: ArrayOnAgent, kernel: KernelRef): Promise<unknown[]> {
    const jobId = `job-${++this.jobs}`;
    const partitions = array.partitions.map((p) => p.index);
    const reply = await this.bus.request(
      subjectFor(CLUSTER, { to: 'agent', agentId: this.agent.id, verb: 'direct' }),
      { type: 'tasks.run', clientId: CLIENT, jobs: [{ jobId, arrayId: array.arrayId, partitions, kernel }] },
      { timeoutMs: CALL_MS },
    );
    if (reply.type !== 'tasks.done') throw new Error(`tasks.run answered ${reply.type}`);
    const outcome = reply.jobs[0]!;
    if (outcome.error !== undefined) throw fromErrorData(outcome.error);
    return outcome.partitions!.map((p) => p.partial);
  }

  /** A reduce sent as one task.batch of every partition: their partials (task.partials to the client), in order. */
  async batch(array: ArrayOnAgent, kernel: KernelRef): Promise<unknown[]> {
    const jobId = `job-${++this.jobs}`;
    const partials = new Map<number, unknown>();
    const stop = this.bus.listen(subjectFor(CLUSTER, { to: 'job', clientId: CLIENT, jobId }), (message) => {
      if (message.type === 'task.partials') for (const p of message.partitions) partials.set(p.index, p.partial);
    });
    try {
      const task = { jobId, clientId: CLIENT, arrayId: array.arrayId, kernel };
      const partitions = array.partitions.map((p) => ({ index: p.index, attempt: 0 }));
      const reply = await this.bus.request(subjectFor(CLUSTER, { to: 'agent', agentId: this.agent.id, verb: 'task' }), { type: 'task.batch', task, partitions }, { timeoutMs: CALL_MS });
      if (reply.type === 'error') throw fromErrorData(reply.error);
      if (reply.type !== 'task.batchDone') throw new Error(`task.batch answered ${reply.type}`);
      const failed = reply.results.find((result) => result.error !== undefined)?.error;
      if (failed !== undefined) throw fromErrorData(failed);
      // The partials were sent before the reply; the in-process bus delivers them in order.
      await new Promise((resolve) => setImmediate(resolve));
      return array.partitions.map((p) => partials.get(p.index));
    } finally {
      stop();
    }
  }

  /** Runs a map over every partition of `array` into `output`. */
  async map(array: ArrayOnAgent, output: ArrayOnAgent, kernel: KernelRef, extra: Partial<Pick<Task, 'with' | 'params'>> = {}): Promise<void> {
    for (const p of array.partitions) {
      await this.run(array, p.index, kernel, { ...extra, output: { arrayId: output.arrayId, dtype: output.dtype, cols: colsOf(output.shape) } });
    }
  }

  /** `with` of a task whose second array is `other` (every partition held here). */
  withOf(other: ArrayOnAgent): NonNullable<Task['with']> {
    const holder = this.agent.info();
    return {
      arrayId: other.arrayId,
      dtype: other.dtype,
      shape: other.shape,
      sources: other.partitions.map((partition) => ({ partition, holder, local: true })),
      ...(other.file === undefined ? {} : { file: other.file }),
    };
  }

  /** The whole array's bytes, read partition by partition over the agent's TCP data port. */
  async readAll(array: ArrayOnAgent): Promise<Uint8Array> {
    const total = array.partitions.reduce((sum, p) => sum + p.byteLength, 0);
    const bytes = new Uint8Array(total);
    let at = 0;
    for (const p of array.partitions) {
      await tcpDataPlane.read(
        this.agent.info(),
        { v: PROTOCOL_VERSION, op: 'read', arrayId: array.arrayId, partitionIndex: p.index, byteOffset: 0, byteLength: p.byteLength },
        bytes.subarray(at, at + p.byteLength),
      );
      at += p.byteLength;
    }
    return bytes;
  }
}

/** Partitions of an array of `shape` cut at the row starts `cuts`. */
export function partitionsOf(shape: Shape, dtype: DType, cuts: number[], agentId: string): PartitionMeta[] {
  const rows = shape.length === 0 ? 1 : shape[0]!;
  const rowBytes = colsOf(shape) * bytesPerElement(dtype);
  const starts = [0, ...cuts];
  return starts.map((rowStart, index) => {
    const rowCount = (starts[index + 1] ?? rows) - rowStart;
    return { index, rowStart, rowCount, byteLength: rowCount * rowBytes, agentId };
  });
}
