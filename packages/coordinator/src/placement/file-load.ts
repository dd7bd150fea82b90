import {
  CancelledError,
  ConnectionError,
  CONTROL_TIMEOUT_MS,
  NoAgentsError,
  TimeoutError,
  bytesPerElement,
  colsOf,
  fileLoadTimeoutMs,
  parseShape,
  type FileSource,
  type MessageBus,
  type MessageOf,
} from '@sharc/protocol';
import type { AgentRegistry } from '../registry/agent-registry.js';
import type { ArrayRecord } from '../registry/array-catalog.js';
import type { PartitionAllocator } from './partition-allocator.js';

/** A client following a file load: its cancel signal, and where progress goes. */
export interface FileLoadFollower {
  signal: AbortSignal;
  progress(done: number, total: number): void;
}

/**
 * Loads a file every agent can read: one agent inspects it (shape, dtype, where the data
 * starts), the rows are placed, and each agent reads its own row ranges straight into its
 * partitions. Returns the pending record, its origin the file (a lost partition is read again).
 */
export async function loadFileOnAgents(
  deps: { bus: MessageBus; agents: AgentRegistry; placement: PartitionAllocator },
  name: string,
  message: MessageOf<'array.load'>,
  follow: FileLoadFollower | undefined,
): Promise<ArrayRecord> {
  const { bus, agents, placement } = deps;
  const inspector = agents.alive()[0];
  if (inspector === undefined) throw new NoAgentsError('no agent is alive to read the file');
  const layout = await inspectFile(bus, placement.agentSubject(inspector.id), message.source);
  const shape = parseShape(layout.shape);
  const meta = placement.place(name, layout.dtype, shape, message.partitions);
  if (follow?.signal.aborted) throw new CancelledError(`loading ${message.source.path} was cancelled`);
  const rowBytes = colsOf(shape) * bytesPerElement(layout.dtype);
  const total = meta.partitions.reduce((sum, p) => sum + p.byteLength, 0);
  let loaded = 0;
  follow?.progress(0, total);
  await placement.allocate(
    meta,
    (partition) => ({
      type: 'partition.load',
      arrayId: meta.id,
      dtype: meta.dtype,
      shape: meta.shape,
      partition,
      source: message.source,
      dataOffset: layout.dataOffset + partition.rowStart * rowBytes,
      ...(message.jobId === undefined ? {} : { jobId: message.jobId }),
    }),
    (partition) => fileLoadTimeoutMs(partition.byteLength),
    (partition) => {
      loaded += partition.byteLength;
      if (loaded < total) follow?.progress(loaded, total);
    },
  );
  if (follow?.signal.aborted) {
    await placement.release(meta);
    throw new CancelledError(`loading ${message.source.path} was cancelled`);
  }
  return {
    meta,
    origin: { kind: 'file', source: message.source, dataOffset: layout.dataOffset },
    state: 'pending',
    replace: message.replace ?? false,
    createdAt: Date.now(),
  };
}

/** How long one file.inspect may go unanswered before it is asked again (it only reads). */
const INSPECT_RESEND_MS = 3_000;

/**
 * Asks an agent what the file holds. Reading changes nothing, so a request or reply lost while
 * NATS was away is simply asked again, within CONTROL_TIMEOUT_MS in all.
 */
async function inspectFile(bus: MessageBus, subject: string, source: FileSource): Promise<MessageOf<'file.info'>> {
  const deadline = Date.now() + CONTROL_TIMEOUT_MS;
  for (;;) {
    try {
      return await bus.call(subject, { type: 'file.inspect', source }, 'file.info', { timeoutMs: Math.max(1, Math.min(INSPECT_RESEND_MS, deadline - Date.now())) });
    } catch (error) {
      const lost = (error instanceof TimeoutError || error instanceof ConnectionError) && error.retryable;
      if (!lost || Date.now() >= deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250).unref());
    }
  }
}
