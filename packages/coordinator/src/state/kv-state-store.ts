import type { KV } from '@nats-io/kv';
import { ConnectionError, decodeValue, encodeValue, type Logger } from '@sharc/protocol';
import { parseRecord, RECORD_KINDS, STATE_FORMAT_VERSION, StateUnreadableError, type ArrayRecord, type FinishedJob, type PersistedJob } from './records.js';
import { openKvBucket, type KvConnection } from './kv-bucket.js';
import type { CoordinatorState, StateStore } from './state-store.js';

const ARRAY_PREFIX = RECORD_KINDS.array.prefix;
const KERNEL_PREFIX = RECORD_KINDS.kernel.prefix;
const JOB_PREFIX = RECORD_KINDS.job.prefix;
const AGENT_PREFIX = RECORD_KINDS.agent.prefix;
const FINISHED_PREFIX = RECORD_KINDS.finished.prefix;
/** Unreadable records named in the error at most (the rest are counted). */
const MAX_PROBLEMS_SHOWN = 5;
/** Failed writes remembered for flush(): only requests in flight can still ask about them. */
const KEPT_FAILURES = 100;
/** How soon a failed write is tried again (NATS reconnects every 250 ms). */
const WRITE_RETRY_MS = 250;

/** What the store uses of a key-value bucket. */
export type StateKv = Pick<KV, 'put' | 'purge' | 'get' | 'keys'>;

/**
 * The coordinator's state in a JetStream key-value bucket (`sharc-<cluster>`, one value per
 * key): `array.<id>`, `kernel.<hash>`, `job.<id>`, `agent.<id>`, `finished.<job id>`, each a msgpack record. nats-server keeps
 * it on disk (and replicated, in a NATS cluster), so a coordinator killed outright and
 * started again, here or on another host, finds every array, kernel and running job.
 */
export class KvStateStore implements StateStore {
  readonly kind = 'jetstream';
  /**
   * Keys changed and not yet being written, in the order of their first change since their
   * last write: each holds only its latest value (see enqueue).
   */
  private readonly pending = new Map<string, PendingWrite>();
  /** The write being made now, if any. */
  private writing: PendingWrite | undefined;
  /** Resolves when the writer has nothing left to write; undefined while it is idle. */
  private drained: Promise<void> | undefined;
  /** Changes so far, in order (each save or delete is one). */
  private written = 0;
  /** Failed (or fenced-off) writes, by the last change each carried; the latest few only. */
  private failures: Array<{ seq: number; error: Error }> = [];

  /** Writes are made only while this says yes: a coordinator that lost its lease writes nothing more. */
  private fence: () => boolean = () => true;
  private closing = false;

  private constructor(
    private readonly kv: StateKv,
    private readonly bucket: string,
    private readonly logger: Logger,
  ) {}

  /** A store over a bucket opened elsewhere (tests: one that is slow, or fails). */
  static over(kv: StateKv, bucket: string, logger: Logger): KvStateStore {
    return new KvStateStore(kv, bucket, logger);
  }

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

  /**
   * Reads every record, each validated against its schema and migrated from an older state
   * format version (then written back in the current one). A record that cannot be read (not
   * msgpack, of a newer version, not matching its schema) stops the load with a
   * StateUnreadableError naming the bucket, the keys and what to do; no record is skipped,
   * because whatever a skipped record held would be freed on the agents.
   */
  async load(): Promise<CoordinatorState> {
    const state: CoordinatorState = { arrays: [], agentIds: [], kernels: [], jobs: [], finished: [] };
    const problems: string[] = [];
    const migrated: Array<{ key: string; value: unknown }> = [];
    for await (const key of await this.kv.keys()) {
      const entry = await this.kv.get(key);
      // A deleted key (purged, or a delete marker) has no value.
      if (entry === null || entry.value.length === 0 || entry.operation !== 'PUT') continue;
      let parsed: ReturnType<typeof parseRecord>;
      try {
        let raw: unknown;
        try {
          raw = decodeValue(entry.value);
        } catch (error) {
          throw new Error(`it is not msgpack (${entry.value.length} bytes): ${(error as Error).message}`);
        }
        parsed = parseRecord(key, raw);
      } catch (error) {
        problems.push(`${key}: ${(error as Error).message}`);
        continue;
      }
      const { record } = parsed;
      if (record.kind === 'array') state.arrays.push(record.value);
      else if (record.kind === 'kernel') state.kernels.push({ hash: record.hash, code: record.code });
      else if (record.kind === 'job') state.jobs.push(record.value);
      else if (record.kind === 'finished') state.finished.push(record.value);
      else state.agentIds.push(record.agentId);
      if (parsed.migrated) {
        migrated.push({ key, value: record.kind === 'array' || record.kind === 'job' || record.kind === 'finished' ? record.value : record.kind === 'kernel' ? record.code : true });
      }
    }
    if (problems.length > 0) throw this.unreadable(problems);
    for (const { key, value } of migrated) this.put(key, () => value);
    if (migrated.length > 0) {
      this.logger.info('migrated saved state records to the current format', { bucket: this.bucket, records: migrated.length, version: STATE_FORMAT_VERSION });
    }
    return state;
  }

  private unreadable(problems: string[]): StateUnreadableError {
    const shown = problems.slice(0, MAX_PROBLEMS_SHOWN);
    const more = problems.length > shown.length ? ` (and ${problems.length - shown.length} more)` : '';
    return new StateUnreadableError(
      `the coordinator cannot read its saved state in the JetStream bucket ${this.bucket} and stopped, ` +
        `changing nothing (no agent was told to free anything). ${problems.length === 1 ? 'Record' : 'Records'} ${shown.join('; ')}${more}. ` +
        'Run the sharc version that wrote it, or repair or delete that record ' +
        `(nats kv get/del ${this.bucket} KEY). To start fresh instead: --state memory, or delete the bucket ` +
        `(nats kv rm ${this.bucket}); a fresh coordinator forgets every array, and agents then free their partitions`,
      { details: { bucket: this.bucket, problems } },
    );
  }

  saveArray(arrayId: string, current: () => ArrayRecord): void {
    this.put(`${ARRAY_PREFIX}${arrayId}`, current);
  }
  deleteArray(arrayId: string): void {
    this.remove(`${ARRAY_PREFIX}${arrayId}`);
  }
  saveKernel(hash: string, code: string): void {
    this.put(`${KERNEL_PREFIX}${hash}`, () => code);
  }
  saveAgent(agentId: string): void {
    this.put(`${AGENT_PREFIX}${agentId}`, () => true);
  }
  deleteAgent(agentId: string): void {
    this.remove(`${AGENT_PREFIX}${agentId}`);
  }
  saveJob(job: PersistedJob): void {
    this.put(`${JOB_PREFIX}${job.jobId}`, () => job);
  }
  deleteJob(jobId: string): void {
    this.remove(`${JOB_PREFIX}${jobId}`);
  }
  saveFinished(job: FinishedJob): void {
    this.put(`${FINISHED_PREFIX}${job.jobId}`, () => job);
  }
  deleteFinished(jobId: string): void {
    this.remove(`${FINISHED_PREFIX}${jobId}`);
  }

  mark(): number {
    return this.written;
  }

  /**
   * Resolves once every change made so far is stored (a later value of the same key stores it
   * too); rejects if a write carrying a change made after `since` failed.
   */
  async flush(since = 0): Promise<void> {
    const waits = [...this.pending.values(), ...(this.writing === undefined ? [] : [this.writing])].map((write) => write.stored.promise);
    await Promise.all(waits);
    const failure = this.failures.find((f) => f.seq > since);
    if (failure !== undefined) {
      throw new ConnectionError(`the coordinator could not store its state in JetStream: ${failure.error.message}`, {
        cause: failure.error,
        retryable: true,
      });
    }
  }

  async close(): Promise<void> {
    // Writes that cannot be stored now are given up (and logged) instead of holding the stop.
    this.closing = true;
    await this.drained;
  }

  /** `current` gives the value when it is written (not now): see enqueue. */
  private put(key: string, current: () => unknown): void {
    this.enqueue(key, { current });
  }

  private remove(key: string): void {
    this.enqueue(key, undefined);
  }

  /**
   * Queues the key's new value (`undefined`: purge it), read by `current()` when written. A key already waiting to be written
   * keeps its place and takes the new value: a record changed many times before its write
   * (recovery moving thousands of partitions of one array) is written once, with its latest
   * value, and encoded only then, so the cost is one encoding per write instead of one per change.
   */
  private enqueue(key: string, change: { current: () => unknown } | undefined): void {
    const seq = ++this.written;
    const waiting = this.pending.get(key);
    if (waiting !== undefined) {
      waiting.change = change;
      waiting.lastSeq = seq;
      return;
    }
    this.pending.set(key, { key, change, lastSeq: seq, stored: deferred() });
    this.drained ??= this.drain().finally(() => (this.drained = undefined));
  }

  /**
   * One write after another, keys in the order of their first change, each key's writes in
   * the order made. A write that fails (NATS is away for a moment) or may not be made yet
   * (the lease is unrenewed while NATS is away) is tried again until it is stored, later
   * writes waiting behind it: state is never dropped while this coordinator lives. It ends
   * only when the coordinator loses its lease to another (the process stops) or closes: then
   * a write never stored is a failure for flush().
   */
  private async drain(): Promise<void> {
    for (let next = this.takeNext(); next !== undefined; next = this.takeNext()) {
      this.writing = next;
      try {
        await this.write(next);
      } finally {
        this.writing = undefined;
        next.stored.resolve();
      }
    }
  }

  private takeNext(): PendingWrite | undefined {
    const first = this.pending.values().next();
    if (first.done === true) return undefined;
    this.pending.delete(first.value.key);
    return first.value;
  }

  private async write(write: PendingWrite): Promise<void> {
    for (let tries = 1; ; tries++) {
      let failure: Error;
      if (!this.fence()) {
        failure = new Error('this coordinator does not hold the lease now (NATS is away, or another coordinator took over)');
      } else {
        try {
          const { key, change } = write;
          // Encoded now, not when changed: only the value that is written is encoded.
          if (change === undefined) await this.kv.purge(key);
          else await this.kv.put(key, encodeValue({ v: STATE_FORMAT_VERSION, value: change.current() }));
          if (tries > 1) this.logger.warn('a state write is stored after it failed', { bucket: this.bucket, key, tries });
          return;
        } catch (error) {
          failure = error as Error;
        }
      }
      if (tries === 1) this.logger.error('a state write failed; trying again until it is stored', { bucket: this.bucket, key: write.key, error: failure.message });
      if (this.closing) {
        this.failures.push({ seq: write.lastSeq, error: failure });
        if (this.failures.length > KEPT_FAILURES) this.failures.shift();
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, WRITE_RETRY_MS).unref());
      // Changed meanwhile: the next try writes the latest value (it carries both changes).
      const newer = this.pending.get(write.key);
      if (newer !== undefined) {
        this.pending.delete(write.key);
        write.change = newer.change;
        write.lastSeq = newer.lastSeq;
        const { stored } = newer;
        void write.stored.promise.then(() => stored.resolve());
      }
    }
  }
}

/** A key's latest unwritten change and who waits for it to be stored. */
interface PendingWrite {
  key: string;
  /** The value to put (as it is when written), or undefined to purge the key. */
  change: { current: () => unknown } | undefined;
  /** The last change (in the order of all changes) this write carries: flush(since) compares it. */
  lastSeq: number;
  /** Resolved once the write is stored, or given up on (then a failure is recorded). */
  stored: { promise: Promise<void>; resolve: () => void };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
