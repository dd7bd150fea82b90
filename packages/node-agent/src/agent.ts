import { setMaxListeners } from 'node:events';
import { stat } from 'node:fs/promises';
import os from 'node:os';
import {
  bytesPerElement,
  checkFileUnchanged,
  createNpyFile,
  FileFormatError,
  colsOf,
  inspectFile,
  readRange,
  CONTROL_TIMEOUT_MS,
  CancelledError,
  InvalidArgumentError,
  MessageBus,
  MessageTooLargeError,
  toErrorData,
  subjectFor,
  tcpDataPlane,
  PROTOCOL_VERSION,
  type AgentInfo,
  type BackingFile,
  type DType,
  type PartitionMeta,
  type Shape,
  type Answer,
  type DataRequest,
  type DirectCounts,
  type Message,
  type MessageOf,
  type Outgoing,
  type Transport,
} from '@sharc/protocol';
import { KernelCache } from './kernels/kernel-cache.js';
import { AgentTally } from './metrics/agent-tally.js';
import { resolveAgentOptions, type AgentOptions, type ResolvedAgentOptions } from './options.js';
import { DataServer } from './storage/data-server.js';
import { checkBackingFileNow, readFileRangeSync } from './storage/file-ranges.js';
import { PartitionStore, bytesOf, type Transfer } from './storage/partition-store.js';
import { DirectBatches } from './tasks/direct-batches.js';
import { KernelOutputs } from './tasks/job-output.js';
import { PARTIALS_PER_MESSAGE, runBatch } from './tasks/run-batch.js';
import { runTask } from './tasks/run-task.js';
import { WorkerPool } from './workers/pool.js';

const REGISTER_RETRY_MS = 500;
/** A task's progress goes out at most this often. */
const PROGRESS_INTERVAL_MS = 200;
/**
 * The agent's own deadline for a task trails the job's by this much: the coordinator's
 * task.cancel (and its TimeoutError) normally comes first; this only stops a kernel whose
 * cancel never arrived (a lost coordinator, a dropped message).
 */
const TASK_DEADLINE_MARGIN_MS = 2_000;
/** Cancelled job ids remembered, so a task that arrives after its job's cancel is refused. */
const CANCELLED_JOBS_KEPT = 1_024;
/** Ends a file error: the path is read on the agent's host, not the client's. */
const ON_AGENT = ' on agent host: fromFile needs a path every agent can read (or `sharc put FILE` to upload it from the client)';

/** Ends an error of file.create: the path is written on the agent's host. */
const ON_AGENT_CREATE = ' on agent host: a map written to a file needs a path every agent can write';

/**
 * A node agent: holds partitions in SharedArrayBuffers, serves their bytes on its data port,
 * and runs kernels over them on a pool of worker threads that share those buffers.
 */
/** Loads and fetches remembered, for a coordinator that sends one again. */
const COPIES_REMEMBERED = 10_000;

export class Agent {
  private readonly bus: MessageBus;
  private readonly store: PartitionStore;
  private readonly pool: WorkerPool;
  private readonly kernels: KernelCache;
  private readonly data: DataServer;
  /** Tasks, blocks and data-plane bytes, for the metrics. */
  private readonly tally = new AgentTally();
  /** Reduces clients send straight here, without the coordinator (tasks.run). */
  private readonly direct: DirectBatches;
  /** What kernels print: to each job's client and to this agent's log. */
  private readonly outputs: KernelOutputs;
  private readonly jobs = new Map<string, JobOnAgent>();
  /** Recently cancelled jobs, oldest first. */
  private readonly cancelled = new Set<string>();
  private readonly unsubscribe: Array<() => void> = [];
  private heartbeat: NodeJS.Timeout | undefined;
  /** Tasks running here, listed in every heartbeat. */
  private readonly runningTasks = new Set<{ jobId: string; partitionIndex: number; attempt: number }>();
  private dataPort = 0;
  private closed = false;

  private constructor(
    transport: Transport,
    readonly options: ResolvedAgentOptions,
  ) {
    this.bus = new MessageBus(transport, options.name, options.logger);
    this.store = new PartitionStore(options.memoryBytes);
    this.pool = new WorkerPool({ threads: options.threads, threadHeapMb: options.threadHeapMb, logger: options.logger });
    this.kernels = new KernelCache(options.kernelCacheDir, (hash) => this.fetchKernel(hash));
    this.data = new DataServer(this.store, options.logger, this.tally);
    this.outputs = new KernelOutputs({ bus: this.bus, cluster: options.cluster, agentId: options.name, logger: options.logger, log: options.logKernelOutput });
    this.direct = new DirectBatches({
      logger: options.logger,
      outputs: this.outputs,
      bus: this.bus,
      cluster: options.cluster,
      store: this.store,
      pool: this.pool,
      kernels: this.kernels,
      joinJob: (jobId, timeoutMs) => this.joinJob(jobId, timeoutMs),
      leaveJob: (jobId) => this.leaveJob(jobId),
      wasCancelled: (jobId) => this.cancelled.has(jobId),
      tally: this.tally,
    });
  }

  /** Starts an agent on `transport` and registers it with the coordinator (retrying until one answers). */
  static async start(transport: Transport, options: AgentOptions = {}): Promise<Agent> {
    const agent = new Agent(transport, resolveAgentOptions(options));
    await agent.listen();
    return agent;
  }

  get id(): string {
    return this.options.name;
  }

  info(): AgentInfo {
    return {
      id: this.id,
      host: os.hostname(),
      pid: process.pid,
      dataHost: this.options.advertiseHost,
      dataPort: this.dataPort,
      threads: this.options.threads,
      memoryBytes: this.options.memoryBytes,
      usedBytes: this.store.usedBytes,
      partitions: this.store.count,
      workInFlight: this.pool.inFlight,
      ...(this.options.httpUrl === undefined ? {} : { httpUrl: this.options.httpUrl }),
    };
  }

  /** What the agent's metrics read when scraped: its info, its counts so far, its threads' busy time. */
  observe(): AgentObservation {
    return { info: this.info(), direct: this.direct.counts(), tally: this.tally, threadBusySeconds: this.pool.busySeconds() };
  }

  /**
   * The data plane without a socket, for a client in this same process (the embedded
   * cluster): the same checks as the TCP data port, then one memcpy.
   */
  localData(): { write(request: DataRequest, bytes: Uint8Array): void; read(request: DataRequest, target: Uint8Array): void } {
    const move = (request: DataRequest, copy: (transfer: Transfer) => void) => {
      const transfer = this.store.openTransfer(request);
      try {
        copy(transfer);
        transfer.done(true);
      } catch (error) {
        transfer.done(false);
        throw error;
      }
    };
    return {
      write: (request, bytes) => {
        // openTransfer refuses a write to a file-backed partition.
        move(request, (transfer) => transfer.kind === 'bytes' && transfer.bytes.set(bytes));
        this.tally.dataBytesReceived += request.byteLength;
      },
      read: (request, target) => {
        move(request, (transfer) => {
          // A file-backed partition's range goes straight from its file into the reader's buffer.
          if (transfer.kind === 'file') readFileRangeSync(transfer.file, target.subarray(0, request.byteLength), transfer.position, transfer.written);
          else target.set(transfer.bytes);
        });
        this.tally.dataBytesSent += request.byteLength;
      },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    for (const stop of this.unsubscribe) stop();
    for (const job of this.jobs.values()) {
      clearTimeout(job.deadline);
      job.controller.abort();
    }
    await this.data.close();
    await this.pool.close();
    await this.bus.close();
  }

  private async listen(): Promise<void> {
    const { cluster } = this.options;
    this.dataPort = await this.data.listen(this.options.dataHost, this.options.dataPort);
    this.unsubscribe.push(
      this.bus.serve(subjectFor(cluster, { to: 'agent', agentId: this.id, verb: 'control' }), (m) => this.control(m)),
      this.bus.serve(subjectFor(cluster, { to: 'agent', agentId: this.id, verb: 'task' }), (m) => this.task(m)),
      this.bus.serve(subjectFor(cluster, { to: 'agent', agentId: this.id, verb: 'direct' }), (m) => this.directMessage(m)),
      this.bus.listen(subjectFor(cluster, { to: 'agents', verb: 'cancel' }), (m) => {
        if (m.type === 'task.cancel') this.cancelJob(m.jobId);
      }),
    );
    await this.register();
    // Back after NATS was away: the coordinator hears at once which of its tasks still run here.
    this.unsubscribe.push(this.bus.onConnectionChange((change) => change === 'reconnected' && this.beat()));
    this.heartbeat = setInterval(() => this.beat(), this.options.heartbeatMs);
    this.heartbeat.unref();
  }

  private async register(): Promise<void> {
    const subject = subjectFor(this.options.cluster, { to: 'coordinator', verb: 'agent' });
    for (;;) {
      try {
        await this.bus.call(subject, { type: 'agent.register', agent: this.info(), holds: this.store.holdings() }, { timeoutMs: CONTROL_TIMEOUT_MS });
        this.options.logger.info('registered with the coordinator', { agent: this.id, dataPort: this.dataPort });
        return;
      } catch (error) {
        if (this.closed) throw error;
        this.options.logger.info('waiting for a coordinator', { error: (error as Error).message });
        await new Promise((resolve) => setTimeout(resolve, REGISTER_RETRY_MS));
      }
    }
  }

  private beat(): void {
    try {
      this.bus.publish(subjectFor(this.options.cluster, { to: 'coordinator', verb: 'agent' }), {
        type: 'agent.heartbeat',
        agentId: this.id,
        usedBytes: this.store.usedBytes,
        partitions: this.store.count,
        workInFlight: this.pool.inFlight,
        // The coordinator runs again a task it sent that no heartbeat lists (lost on the way).
        tasks: [...this.runningTasks],
        direct: this.direct.counts(),
      });
    } catch (error) {
      this.options.logger.warn('heartbeat not sent', { error: (error as Error).message });
    }
  }

  /** Partition loads and fetches under way, and the last ones made (see control()). */
  private readonly copying = new Map<string, Promise<Outgoing>>();
  private readonly copied = new Set<string>();

  private async fetchKernel(hash: string): Promise<string> {
    const reply = await this.bus.call(
      subjectFor(this.options.cluster, { to: 'coordinator', verb: 'agent' }),
      { type: 'kernel.get', hash },
      { timeoutMs: CONTROL_TIMEOUT_MS },
    );
    return reply.code;
  }

  private async control(message: Message): Promise<Outgoing> {
    if (message.type === 'partition.load' || message.type === 'partition.fetch') {
      // Sent again when its answer did not come (NATS may have lost the request or the reply):
      // a copy still being made answers with the first one; one made lately, and still held, at once.
      const key = `${message.type} ${message.arrayId}#${message.partition.index}`;
      const running = this.copying.get(key);
      if (running !== undefined) return running;
      if (this.copied.has(key) && this.store.holdings().some((h) => h.arrayId === message.arrayId && h.partitions.includes(message.partition.index))) {
        return { type: 'ok' };
      }
      const copy = this.controlNow(message);
      this.copying.set(key, copy);
      try {
        const answer = await copy;
        this.copied.add(key);
        if (this.copied.size > COPIES_REMEMBERED) this.copied.delete(this.copied.values().next().value!);
        return answer;
      } finally {
        this.copying.delete(key);
      }
    }
    return this.controlNow(message);
  }

  private async controlNow(message: Message): Promise<Outgoing> {
    switch (message.type) {
      case 'partition.allocate':
        if (message.file !== undefined) {
          this.allocateFileOutput(message.arrayId, message.dtype, message.shape, [message.partition], message.file, message.transferToken);
          return { type: 'ok' };
        }
        this.store.allocate(
          message.arrayId,
          message.dtype,
          message.shape,
          message.partition,
          message.transferToken,
          message.transferToken === undefined ? 'zeroed' : 'overwritten',
        );
        return { type: 'ok' };
      case 'partitions.allocate':
        if (message.file !== undefined) {
          this.allocateFileOutput(message.arrayId, message.dtype, message.shape, message.partitions, message.file, message.transferToken);
          return { type: 'ok' };
        }
        for (const partition of message.partitions) {
          this.store.allocate(message.arrayId, message.dtype, message.shape, partition, message.transferToken, message.transferToken === undefined ? 'zeroed' : 'overwritten');
        }
        return { type: 'ok' };
      case 'partition.load': {
        if (message.file !== undefined) {
          // File-backed: nothing is read now. The file must still be the one the array was
          // registered from (size and modification time), and the load must describe rows of it.
          const rowBytes = colsOf(message.shape) * bytesPerElement(message.dtype);
          if (message.source.path !== message.file.path || message.dataOffset !== message.file.dataOffset + message.partition.rowStart * rowBytes) {
            throw new InvalidArgumentError(
              `partition.load of partition ${message.partition.index} of ${message.arrayId}: source ${message.source.path} at byte ${message.dataOffset} ` +
                `is not row ${message.partition.rowStart} of its file ${message.file.path} (element 0 at byte ${message.file.dataOffset})`,
            );
          }
          await checkBackingFileNow(message.file);
          this.store.allocateFile(message.arrayId, message.dtype, message.shape, message.partition, message.file, false);
          return { type: 'ok' };
        }
        // The file must still be what the array was loaded from (a lost partition is read again
        // from it, maybe long after): the same dtype and shape, element 0 at the same byte.
        const rowBytes = colsOf(message.shape) * bytesPerElement(message.dtype);
        await checkFileUnchanged(
          message.source,
          { dtype: message.dtype, shape: message.shape, dataOffset: message.dataOffset - message.partition.rowStart * rowBytes },
          ON_AGENT,
        );
        const partition = this.store.allocate(message.arrayId, message.dtype, message.shape, message.partition, undefined, 'overwritten');
        const lease = this.store.acquire(message.arrayId, message.partition.index);
        const job = message.jobId === undefined ? undefined : this.joinJob(message.jobId);
        try {
          await readRange(message.source.path, message.dataOffset, bytesOf(partition), job?.controller.signal, ON_AGENT);
          lease.release(true);
          this.store.markReady(message.arrayId, message.partition.index);
        } catch (error) {
          lease.release(false);
          // Only this partition: others of the array here are intact.
          this.store.free(message.arrayId, message.partition.index);
          throw error;
        } finally {
          if (message.jobId !== undefined) this.leaveJob(message.jobId);
        }
        return { type: 'ok' };
      }
      case 'partition.fetch': {
        const { arrayId, partition, holder } = message;
        const held = this.store.allocate(arrayId, message.dtype, message.shape, partition, undefined, 'overwritten');
        const lease = this.store.acquire(arrayId, partition.index);
        try {
          await tcpDataPlane.read(
            holder,
            { v: PROTOCOL_VERSION, op: 'read', arrayId, partitionIndex: partition.index, byteOffset: 0, byteLength: partition.byteLength },
            bytesOf(held),
          );
          lease.release(true);
          this.tally.dataBytesReceived += partition.byteLength;
          this.store.markReady(arrayId, partition.index);
        } catch (error) {
          lease.release(false);
          this.store.free(arrayId, partition.index);
          throw error;
        }
        return { type: 'ok' };
      }
      case 'partition.seal':
        this.store.seal(message.arrayId);
        return { type: 'ok' };
      case 'partition.free':
        this.store.free(message.arrayId, message.partitionIndex);
        return { type: 'ok' };
      case 'agent.hello': {
        const keep = new Set(message.keep.flatMap(({ arrayId, partitions }) => partitions.map((index) => `${arrayId}#${index}`)));
        const freed = this.store.keepOnly((arrayId, index) => keep.has(`${arrayId}#${index}`));
        if (freed > 0) this.options.logger.info('freed partitions the coordinator no longer places here', { agent: this.id, freedBytes: freed });
        return { type: 'agent.register', agent: this.info(), holds: this.store.holdings() };
      }
      case 'file.create': {
        const { dataOffset, size } = await createNpyFile(message.path, message.dtype, message.shape, message.replace === true, ON_AGENT_CREATE);
        const stats = await stat(message.path);
        if (stats.size !== size) throw new FileFormatError(`${message.path} has ${stats.size} bytes just after it was created with ${size}${ON_AGENT_CREATE}`);
        return { type: 'file.info', dtype: message.dtype, shape: message.shape, dataOffset, size, mtimeMs: stats.mtimeMs };
      }
      case 'file.inspect': {
        const layout = await inspectFile(message.source, ON_AGENT);
        return { type: 'file.info', dtype: layout.dtype, shape: layout.shape, dataOffset: layout.dataOffset, size: layout.size, mtimeMs: layout.mtimeMs };
      }
      default:
        throw new InvalidArgumentError(`an agent's control subject does not take ${message.type} messages`);
    }
  }

  /**
   * Map output partitions written into `file` (file.create made it): no memory, the threads
   * write their rows there. Checked against the file as it is now (its size; its time moves
   * as it is written).
   */
  private allocateFileOutput(arrayId: string, dtype: DType, shape: Shape, partitions: PartitionMeta[], file: BackingFile, transferToken: string | undefined): void {
    if (transferToken !== undefined) {
      throw new InvalidArgumentError(`partitions of ${arrayId} written to ${file.path} take no upload (transferToken): a map's threads write them`);
    }
    for (const partition of partitions) this.store.allocateFile(arrayId, dtype, shape, partition, file, true);
  }

  /** A task.batch: its partitions' tasks run together; one answer, and a reduce's partials to the client in few messages. */
  private async taskBatch(message: MessageOf<'task.batch'>): Promise<Outgoing | Answer> {
    const { task } = message;
    if (this.cancelled.has(task.jobId)) throw new CancelledError(`job ${task.jobId} was cancelled`, { details: { jobId: task.jobId } });
    const job = this.joinJob(task.jobId, task.timeoutMs);
    const progressSubject = subjectFor(this.options.cluster, { to: 'coordinator', verb: 'agent' });
    const output = this.outputs.forJob(task.jobId, task.clientId);
    try {
      const { results, partials } = await runBatch(message, {
        store: this.store,
        pool: this.pool,
        kernels: this.kernels,
        signal: job.controller.signal,
        tally: this.tally,
        onOutput: (lines, dropped) => output.add(lines, dropped),
        running: this.runningTasks,
        publishProgress: (progress) => this.bus.publish(progressSubject, { type: 'task.batchProgress', jobId: task.jobId, progress }),
      });
      const reply: Outgoing = { type: 'task.batchDone', results };
      if (task.output !== undefined || partials.length === 0) return reply;
      // A reduce's partials go straight to the client, in the same write as the reply.
      const subject = subjectFor(this.options.cluster, { to: 'job', clientId: task.clientId, jobId: task.jobId });
      const before: Array<{ subject: string; bytes: Uint8Array }> = [];
      // At most PARTIALS_PER_MESSAGE in a message, and fewer when they would not fit in one
      // (large partials): halved until they do. One partial too large alone fails the batch.
      const add = (chunk: typeof partials) => {
        try {
          before.push({ subject, bytes: this.bus.encode({ type: 'task.partials', jobId: task.jobId, partitions: chunk }) });
        } catch (error) {
          if (!(error instanceof MessageTooLargeError) || chunk.length === 1) throw error;
          const half = Math.ceil(chunk.length / 2);
          add(chunk.slice(0, half));
          add(chunk.slice(half));
        }
      };
      for (let start = 0; start < partials.length; start += PARTIALS_PER_MESSAGE) add(partials.slice(start, start + PARTIALS_PER_MESSAGE));
      return { reply, before };
    } finally {
      // The lines go before the answer: the client has them all when it hears the job is done.
      output.finish();
      this.leaveJob(task.jobId);
    }
  }

  /**
   * Folds a detached custom reduce's partials with its module's combine export, on a worker
   * thread (the coordinator never runs user code). job.cancel of the job stops it.
   */
  private async combinePartials(message: MessageOf<'partials.combine'>): Promise<Outgoing> {
    const { kernel, jobId } = message;
    if (kernel.kind !== 'reduce') throw new InvalidArgumentError(`partials.combine takes a module's reduce kernel, not ${kernel.kind}`);
    if (this.cancelled.has(jobId)) throw new CancelledError(`job ${jobId} was cancelled`, { details: { jobId } });
    const job = this.joinJob(jobId);
    try {
      const path = await this.kernels.pathOf(kernel.hash);
      const label = `${kernel.module}#${kernel.combine}`;
      const folded = await this.pool.run(
        { kind: 'combine', kernel: { kind: 'module', path, exportName: kernel.combine, label, dtypes: [message.dtype] }, partials: message.partials },
        job.controller.signal,
      );
      return { type: 'partials.combined', partial: folded.partials[0] };
    } finally {
      this.leaveJob(jobId);
    }
  }

  private async task(message: Message): Promise<Outgoing | Answer> {
    if (message.type === 'task.batch') return this.taskBatch(message);
    if (message.type === 'partials.combine') return this.combinePartials(message);
    if (message.type !== 'task.run') throw new InvalidArgumentError(`an agent's task subject does not take ${message.type} messages`);
    const { task } = message;
    if (this.cancelled.has(task.jobId)) throw new CancelledError(`job ${task.jobId} was cancelled`, { details: { jobId: task.jobId } });
    const job = this.joinJob(task.jobId, task.timeoutMs);
    const running = { jobId: task.jobId, partitionIndex: task.partitionIndex, attempt: task.attempt };
    this.runningTasks.add(running);
    const progressSubject = subjectFor(this.options.cluster, { to: 'coordinator', verb: 'agent' });
    // Progress goes out at most every PROGRESS_INTERVAL_MS per task: on 2 cores every message
    // wakes three processes that share them with the compute threads. The task's result
    // carries the final count, so nothing is lost by holding some back.
    let unreported = 0;
    let lastReport = Date.now();
    const reportProgress = (blocks: number) => {
      unreported += blocks;
      const now = Date.now();
      if (now - lastReport < PROGRESS_INTERVAL_MS) return;
      lastReport = now;
      this.bus.publish(progressSubject, { type: 'task.progress', jobId: task.jobId, partitionIndex: task.partitionIndex, attempt: task.attempt, blocks: unreported });
      unreported = 0;
    };
    const output = this.outputs.forJob(task.jobId, task.clientId);
    try {
      const outcome = await runTask(task, {
        store: this.store,
        pool: this.pool,
        kernels: this.kernels,
        signal: job.controller.signal,
        tally: this.tally,
        onBlocksDone: reportProgress,
        onOutput: (lines, dropped) => output.add(lines, dropped),
      });
      const reply: Outgoing = { type: 'task.result', blocks: outcome.blocks };
      if (task.output !== undefined) return reply;
      // A reduce's partial goes straight to the client, in the same write as the reply.
      const done: Outgoing = {
        type: 'task.done',
        jobId: task.jobId,
        partitionIndex: task.partitionIndex,
        attempt: task.attempt,
        blocks: outcome.blocks,
        ...('partial' in outcome ? { partial: outcome.partial } : {}),
      };
      return { reply, before: [{ subject: subjectFor(this.options.cluster, { to: 'job', clientId: task.clientId, jobId: task.jobId }), message: done }] };
    } finally {
      output.finish();
      this.runningTasks.delete(running);
      this.leaveJob(task.jobId);
    }
  }

  /** A client's reduce sent straight here (tasks.run), or its cancel (task.cancel, published). */
  private directMessage(message: Message): Answer | Promise<Answer> | Outgoing {
    if (message.type === 'tasks.run') {
      const done = this.direct.run(message);
      return done instanceof Promise ? done.then(withSmallerReply) : withSmallerReply(done);
    }
    if (message.type === 'task.cancel') {
      this.cancelJob(message.jobId);
      return { type: 'ok' };
    }
    throw new InvalidArgumentError(`an agent's direct subject does not take ${message.type} messages`);
  }

  /** Stops every task of the job on this agent: piscina terminates the threads running them. */
  private cancelJob(jobId: string): void {
    this.cancelled.add(jobId);
    if (this.cancelled.size > CANCELLED_JOBS_KEPT) this.cancelled.delete(this.cancelled.values().next().value as string);
    this.jobs.get(jobId)?.controller.abort();
  }

  /**
   * Work of a job on this agent shares one AbortController, so task.cancel stops all of it.
   * With `timeoutMs` (a task's share of the job's time) the agent also stops it by itself.
   */
  private joinJob(jobId: string, timeoutMs?: number): JobOnAgent {
    let job = this.jobs.get(jobId);
    if (job === undefined) {
      const controller = new AbortController();
      // One listener per queued worker request of the job: many, by design.
      setMaxListeners(0, controller.signal);
      job = { controller, tasks: 0 };
      if (timeoutMs !== undefined) {
        job.deadline = setTimeout(() => {
          this.options.logger.warn('stopping a job whose time ran out without a cancel from the coordinator', { jobId });
          this.cancelJob(jobId);
        }, timeoutMs + TASK_DEADLINE_MARGIN_MS);
        job.deadline.unref();
      }
      this.jobs.set(jobId, job);
    }
    job.tasks++;
    return job;
  }

  private leaveJob(jobId: string): void {
    const job = this.jobs.get(jobId);
    if (job !== undefined && --job.tasks === 0) {
      clearTimeout(job.deadline);
      this.jobs.delete(jobId);
    }
  }
}

/** An agent as its metrics see it (Agent.observe). */
export interface AgentObservation {
  info: AgentInfo;
  /** Reduces clients sent straight here, as heartbeats count them. */
  direct: DirectCounts;
  tally: Readonly<AgentTally>;
  /** Seconds each worker thread slot has been busy since the agent started. */
  threadBusySeconds: number[];
}

interface JobOnAgent {
  controller: AbortController;
  /** Tasks of the job running here. */
  tasks: number;
  /** The agent's own stop, should no task.cancel come. */
  deadline?: NodeJS.Timeout;
}

/**
 * A tasks.done whose partials would not fit in one message: each job that has partials fails
 * instead with a retryable MessageTooLargeError, and its client runs it through the
 * coordinator, which gets the partials in several messages.
 */
function withSmallerReply(reply: Outgoing): Answer {
  return {
    reply,
    before: [],
    oversized: () => {
      if (reply.type !== 'tasks.done') return reply;
      const error = toErrorData(new MessageTooLargeError("this agent's partials of the job do not fit in one message: ask the coordinator", { retryable: true }));
      return { type: 'tasks.done', jobs: reply.jobs.map((job) => (job.partitions === undefined ? job : { jobId: job.jobId, error })) };
    },
  };
}
