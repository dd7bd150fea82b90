import { CancelledError, NoAgentsError, bytesPerElement, colsOf, fileLoadTimeoutMs, parseShape, type MessageOf } from '@sharc/protocol';
import type { AgentClient } from '../agents/agent-client.js';
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
  deps: { client: AgentClient; agents: AgentRegistry; placement: PartitionAllocator },
  name: string,
  message: MessageOf<'array.load'>,
  follow: FileLoadFollower | undefined,
): Promise<ArrayRecord> {
  const { client, agents, placement } = deps;
  const inspector = agents.alive()[0];
  if (inspector === undefined) throw new NoAgentsError('no agent is alive to read the file');
  // Reading changes nothing: a request or reply lost while NATS was away is asked again (the agent client's resend policy).
  const layout = await client.control(inspector.id, { type: 'file.inspect', source: message.source });
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
