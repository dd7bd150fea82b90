/**
 * The coordinator's state writes: a record changed many times while the store is slow is
 * written once per write slot with its latest value (not once per change), the last value is
 * what is stored, writes of a key are stored in the order made, a failed write is tried again
 * until stored, flush() waits for every change made so far, and flush(since) reports a write
 * given up on only to those who made changes it carried.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KV } from '@nats-io/kv';
import { decodeValue, type Logger } from '@sharc/protocol';
import { KvStateStore, type StateKv } from '../src/state/kv-state-store.js';
import type { ArrayRecord } from '../src/state/records.js';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const WRITE_MS = 5;

/** A bucket whose every put or purge takes WRITE_MS, and fails while `failing` says so. */
class SlowBucket {
  readonly values = new Map<string, unknown>();
  /** Every write made, in order: key and the value stored (undefined: purged). */
  readonly log: Array<{ key: string; value: unknown }> = [];
  failing = false;

  async put(key: string, bytes: Uint8Array): Promise<number> {
    await new Promise((resolve) => setTimeout(resolve, WRITE_MS));
    if (this.failing) throw new Error('nats is away');
    const value = (decodeValue(bytes) as { value: unknown }).value;
    this.values.set(key, value);
    this.log.push({ key, value });
    return this.log.length;
  }

  async purge(key: string): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, WRITE_MS));
    if (this.failing) throw new Error('nats is away');
    this.values.delete(key);
    this.log.push({ key, value: undefined });
  }

  asKv(): StateKv {
    return this as unknown as Pick<KV, 'put' | 'purge' | 'get' | 'keys'>;
  }
}

function constant<T>(value: T): () => T {
  return () => value;
}

function record(id: string, version: number): ArrayRecord {
  return {
    meta: { id, name: `a-${id}`, dtype: 'float64', shape: [1], partitions: [{ index: 0, rowStart: 0, rowCount: 1, byteLength: 8, agentId: `agent-${version}` }], createdAt: 1 },
    origin: { kind: 'upload', copies: 1 },
    state: 'ready',
    replace: false,
    createdAt: version,
  };
}

describe('KvStateStore writes', () => {
  // The store's retry timer does not hold the process (a NATS connection does, in a coordinator).
  let connection: NodeJS.Timeout;
  before(() => (connection = setInterval(() => undefined, 1000)));
  after(() => clearInterval(connection));

  it('writes a record changed 10,000 times while the store is slow a few times, its last value stored', async () => {
    const bucket = new SlowBucket();
    const store = KvStateStore.over(bucket.asKv(), 'sharc-test', quiet);
    for (let version = 1; version <= 10_000; version++) store.saveArray('big', constant(record('big', version)));
    await store.flush();
    const writes = bucket.log.filter((w) => w.key === 'array.big');
    assert.ok(writes.length <= 2, `10,000 changes made ${writes.length} writes`);
    assert.equal((bucket.values.get('array.big') as ArrayRecord).createdAt, 10_000);
    await store.close();
  });

  it('keeps the order of changes of one key, and stores each key it was given', async () => {
    const bucket = new SlowBucket();
    const store = KvStateStore.over(bucket.asKv(), 'sharc-test', quiet);
    store.saveArray('x', constant(record('x', 1)));
    store.saveArray('y', constant(record('y', 1)));
    // While x's first write is made: a change, then a delete, then the key saved again.
    await new Promise((resolve) => setTimeout(resolve, 1));
    store.saveArray('x', constant(record('x', 2)));
    store.deleteArray('y');
    store.saveJob({ jobId: 'job-1', clientId: 'c', spec: { kind: 'reduce', arrayId: 'x', kernel: { kind: 'builtin', op: 'sum' } } as never, startedAt: 1, timeoutMs: 1000, replyTo: 'r', generation: 0 });
    await store.flush();
    assert.equal((bucket.values.get('array.x') as ArrayRecord).createdAt, 2);
    assert.equal(bucket.values.has('array.y'), false);
    assert.ok(bucket.values.has('job.job-1'));
    const xs = bucket.log.filter((w) => w.key === 'array.x').map((w) => (w.value as ArrayRecord).createdAt);
    assert.deepEqual(xs, [1, 2]);
    await store.close();
  });

  it('tries a failed write again until it is stored, with the latest value, and flush waits for it', async () => {
    const bucket = new SlowBucket();
    const store = KvStateStore.over(bucket.asKv(), 'sharc-test', quiet);
    bucket.failing = true;
    store.saveArray('z', constant(record('z', 1)));
    let flushed = false;
    const flush = store.flush().then(() => (flushed = true));
    await new Promise((resolve) => setTimeout(resolve, 100));
    store.saveArray('z', constant(record('z', 2)));
    assert.equal(flushed, false, 'flush resolved while the write was not stored');
    bucket.failing = false;
    await flush;
    await store.flush();
    assert.equal((bucket.values.get('array.z') as ArrayRecord).createdAt, 2);
    await store.close();
  });

  it('flush(since) reports a write given up on to those who made changes it carried, not to those before', async () => {
    const bucket = new SlowBucket();
    const store = KvStateStore.over(bucket.asKv(), 'sharc-test', quiet);
    store.saveArray('a', constant(record('a', 1)));
    await store.flush();
    const afterA = store.mark();
    bucket.failing = true;
    store.saveArray('b', constant(record('b', 1)));
    // Closing gives up the writes that cannot be stored now: their changes' flush fails.
    await store.close();
    await store.flush(afterA + 1);
    await assert.rejects(store.flush(afterA), { name: 'ConnectionError', retryable: true });
    await assert.rejects(store.flush(0), { name: 'ConnectionError' });
  });

  it('writes nothing while the lease is not held, and stores it once the lease is back', async () => {
    const bucket = new SlowBucket();
    const store = KvStateStore.over(bucket.asKv(), 'sharc-test', quiet);
    let held = false;
    store.fenceWith(() => held);
    store.saveAgent('agent-1');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(bucket.log.length, 0);
    held = true;
    await store.flush();
    assert.deepEqual(bucket.log, [{ key: 'agent.agent-1', value: true }]);
    await store.close();
  });
});
