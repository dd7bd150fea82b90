import type { KV } from '@nats-io/kv';
import { ConnectionError, decodeValue, encodeValue, toErrorData, type Logger } from '@sharc/protocol';
import type { ArrayRecord } from '../registry/array-catalog.js';
import { openKvBucket, type KvConnection } from './kv-bucket.js';
import type { CoordinatorState, PersistedJob, StateStore } from './state-store.js';

/** Bumped when the shape of a stored record changes; records of another version are skipped. */
const STATE_VERSION = 1;
const ARRAY_PREFIX = 'array.';
const KERNEL_PREFIX = 'kernel.';
const JOB_PREFIX = 'job.';
const AGENT_PREFIX = 'agent.';
/** Failed writes remembered for flush(): only requests in flight can still ask about them. */
const KEPT_FAILURES = 100;

/**
 * The coordinator's state in a JetStream key-value bucket (`sharc-<cluster>`, one value per
 * key): `array.<id>`, `kernel.<hash>`, `job.<id>`, `agent.<id>`, each a msgpack record. nats-server keeps
 * it on disk (and replicated, in a NATS cluster), so a coordinator killed outright and
 * started again, here or on another host, finds every array, kernel and running job.
 */
export class KvStateStore implements StateStore {
  readonly kind = 'jetstream';
  private queue: Promise<void> = Promise.resolve();
  /** Writes so far, in order. */
  private written = 0;
  /** Failed (or fenced-off) writes, by their place in that order; the latest few only. */
  private failures: Array<{ seq: number; error: Error }> = [];

  /** Writes are made only while this says yes: a coordinator that lost its lease writes nothing more. */
  private fence: () => boolean = () => true;

  private constructor(
    private readonly kv: KV,
    private readonly bucket: string,
    private readonly logger: Logger,
  ) {}

  /** Makes every later write conditional on `allowed()` (the coordinator still holds its lease). */
  fenceWith(allowed: () => boolean): void {
    this.fence = allowed;
  }

  /**
   * Opens (creating when missing) the cluster's bucket; fails clearly when JetStream is off.
   * `replicas`: copies JetStream keeps on distinct servers of a NATS cluster (see openKvBucket).
   */
  static async open(connection: KvConnection, cluster: string, logger: Logger, options: { replicas?: number } = {}): Promise<KvStateStore> {
    const bucket = `sharc-${cluster}`;
    try {
      const kv = await openKvBucket(connection, bucket, { history: 1, logger, ...options });
      return new KvStateStore(kv, bucket, logger);
    } catch (error) {
      throw new ConnectionError(
        `cannot open the JetStream key-value bucket ${bucket} for the coordinator's state: ${(error as Error).message}. ` +
          'Enable JetStream on nats-server (infra/nats.conf does: jetstream { store_dir: ... }), or run the coordinator with --state memory (a restart then forgets every array)',
        { cause: error, retryable: true },
      );
    }
  }

  async load(): Promise<CoordinatorState> {
    const state: CoordinatorState = { arrays: [], agentIds: [], kernels: [], jobs: [] };
    for await (const key of await this.kv.keys()) {
      const entry = await this.kv.get(key);
      if (entry === null || entry.value.length === 0) continue;
      let record: { v?: unknown; value?: unknown };
      try {
        record = decodeValue(entry.value) as { v?: unknown; value?: unknown };
      } catch (error) {
        this.logger.warn('skipped an unreadable state record', { bucket: this.bucket, key, error: (error as Error).message });
        continue;
      }
      if (record.v !== STATE_VERSION) {
        this.logger.warn('skipped a state record of another version', { bucket: this.bucket, key, version: record.v });
        continue;
      }
      if (key.startsWith(ARRAY_PREFIX)) state.arrays.push(record.value as ArrayRecord);
      else if (key.startsWith(KERNEL_PREFIX)) state.kernels.push({ hash: key.slice(KERNEL_PREFIX.length), code: record.value as string });
      else if (key.startsWith(JOB_PREFIX)) state.jobs.push(record.value as PersistedJob);
      else if (key.startsWith(AGENT_PREFIX)) state.agentIds.push(key.slice(AGENT_PREFIX.length));
    }
    return state;
  }

  saveArray(record: ArrayRecord): void {
    this.put(`${ARRAY_PREFIX}${record.meta.id}`, record);
  }
  deleteArray(arrayId: string): void {
    this.remove(`${ARRAY_PREFIX}${arrayId}`);
  }
  saveKernel(hash: string, code: string): void {
    this.put(`${KERNEL_PREFIX}${hash}`, code);
  }
  saveAgent(agentId: string): void {
    this.put(`${AGENT_PREFIX}${agentId}`, true);
  }
  deleteAgent(agentId: string): void {
    this.remove(`${AGENT_PREFIX}${agentId}`);
  }
  saveJob(job: PersistedJob): void {
    this.put(`${JOB_PREFIX}${job.jobId}`, job);
  }
  deleteJob(jobId: string): void {
    this.remove(`${JOB_PREFIX}${jobId}`);
  }

  mark(): number {
    return this.written;
  }

  /** Resolves once every queued write is stored; rejects if one made after `since` failed. */
  async flush(since = 0): Promise<void> {
    await this.queue;
    const failure = this.failures.find((f) => f.seq > since);
    if (failure !== undefined) {
      throw new ConnectionError(`the coordinator could not store its state in JetStream: ${failure.error.message}`, {
        cause: failure.error,
        retryable: true,
      });
    }
  }

  async close(): Promise<void> {
    await this.queue;
  }

  private put(key: string, value: unknown): void {
    const bytes = encodeValue({ v: STATE_VERSION, value });
    this.enqueue(key, () => this.kv.put(key, bytes));
  }

  private remove(key: string): void {
    this.enqueue(key, () => this.kv.purge(key));
  }

  /** One write after another, in the order the coordinator made its changes. */
  private enqueue(key: string, write: () => Promise<unknown>): void {
    const seq = ++this.written;
    const failed = (error: Error) => {
      this.failures.push({ seq, error });
      if (this.failures.length > KEPT_FAILURES) this.failures.shift();
    };
    this.queue = this.queue.then(async () => {
      if (!this.fence()) {
        this.logger.warn('a state write was dropped: this coordinator no longer holds the lease', { bucket: this.bucket, key });
        failed(new Error('this coordinator no longer holds the lease'));
        return;
      }
      try {
        await write();
      } catch (error) {
        failed(error as Error);
        this.logger.error('a state write failed', { bucket: this.bucket, key, error: toErrorData(error) });
      }
    });
  }
}
