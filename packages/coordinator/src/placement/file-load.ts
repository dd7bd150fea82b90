import {
  CONTROL_TIMEOUT_MS,
  CancelledError,
  InsufficientMemoryError,
  NoAgentsError,
  bytesPerElement,
  colsOf,
  fileLoadTimeoutMs,
  parseShape,
  type ArrayMeta,
  type BackingFile,
  type MessageOf,
} from '@sharc/protocol';
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
 * starts, size and modification time), the rows are placed, and each agent reads its own row
 * ranges straight into its partitions. Returns the pending record, its origin the file (a lost
 * partition is read again).
 *
 * `resident: false` makes a file-backed array instead: the partitions are placed without
 * memory and the agents only check the file (its rows are read by the jobs that run over it);
 * `'auto'` makes one only when the agents have no room for the array resident.
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
  const file: BackingFile = { path: message.source.path, dataOffset: layout.dataOffset, size: layout.size, mtimeMs: layout.mtimeMs };
  const meta = placeLoad(placement, name, layout.dtype, shape, message, file);
  if (follow?.signal.aborted) throw new CancelledError(`loading ${message.source.path} was cancelled`);
  const rowBytes = colsOf(shape) * bytesPerElement(layout.dtype);
  // A file-backed array's progress is its partitions registered: nothing is read now.
  const sizeOf = (partition: { byteLength: number }) => (meta.file === undefined ? partition.byteLength : 1);
  const total = meta.partitions.reduce((sum, p) => sum + sizeOf(p), 0);
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
      ...(meta.file === undefined ? {} : { file: meta.file }),
    }),
    (partition) => (meta.file === undefined ? fileLoadTimeoutMs(partition.byteLength) : CONTROL_TIMEOUT_MS),
    (partition) => {
      loaded += sizeOf(partition);
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

/** Where the load's partitions go: into the agents' memory, or (file-backed) only assigned to them. */
function placeLoad(
  placement: PartitionAllocator,
  name: string,
  dtype: ArrayMeta['dtype'],
  shape: ArrayMeta['shape'],
  message: MessageOf<'array.load'>,
  file: BackingFile,
): ArrayMeta {
  const resident = message.resident ?? true;
  if (resident === false) return placement.placeFileBacked(name, dtype, shape, message.partitions, file);
  try {
    return placement.place(name, dtype, shape, message.partitions);
  } catch (error) {
    if (resident !== 'auto' || !(error instanceof InsufficientMemoryError)) {
      if (error instanceof InsufficientMemoryError) throw withStreamingHint(error, message.source.path);
      throw error;
    }
    return placement.placeFileBacked(name, dtype, shape, message.partitions, file);
  }
}

/** A resident load that does not fit says how to load the file anyway. */
function withStreamingHint(error: InsufficientMemoryError, path: string): InsufficientMemoryError {
  return new InsufficientMemoryError(
    `${error.message}; or keep ${path} on disk as a file-backed array, which jobs stream through a bounded buffer: fromFile(path, { resident: false }) ` +
      "(sharc put FILE --agents-read --stream), or { resident: 'auto' } (--stream auto) to do so only when it does not fit",
    { ...(error.details === undefined ? {} : { details: error.details }), retryable: error.retryable, cause: error },
  );
}
