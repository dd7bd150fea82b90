/**
 * Arrays of many partitions: every per-partition step of put, a job and toArray must cost the
 * same whatever the count, and the right results must come back. These tests prove the
 * results on real parts (real worker threads, and real agent processes over NATS and TCP);
 * their speed is the bench's `partitions` curve.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { InvalidArgumentError, MAX_PARTITIONS } from '@sharc/protocol';
import { startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import { connect, type Cluster } from '../src/index.js';

/** Rows 0, 1, 2 … as float64: every partition's sum differs, so a partition counted twice or missed changes the total. */
function rows(count: number): Float64Array {
  return Float64Array.from({ length: count }, (_, i) => i);
}

async function checkManyPartitions(cluster: Cluster, elements: number, partitions: number): Promise<void> {
  const data = rows(elements);
  const a = await cluster.put(data, { partitions });
  try {
    assert.equal(a.partitions, partitions);
    assert.equal(await cluster.reduce(a, 'sum'), (elements * (elements - 1)) / 2);
    assert.equal(await cluster.reduce(a, 'max'), elements - 1);
    const b = await a.scale(2, { offset: 1 });
    try {
      assert.equal(b.partitions, partitions);
      const back = await b.toArray();
      assert.equal(back.length, elements);
      for (let i = 0; i < elements; i++) if (back[i] !== 2 * i + 1) assert.fail(`element ${i} of the map's output is ${back[i]}, expected ${2 * i + 1}`);
      assert.equal(await cluster.reduce(b, 'sum'), elements * elements);
    } finally {
      await b.delete();
    }
    const again = await a.toArray();
    assert.deepEqual(again, data);
  } finally {
    await a.delete();
  }
  assert.deepEqual(await cluster.list(), []);
}

describe('an array of many partitions (embedded: real worker threads)', () => {
  let cluster: Cluster;
  before(async () => {
    delete process.env.SHARC_SERVERS;
    cluster = await connect({ embedded: { agents: 2, threads: 1, memoryBytes: 256 * 1024 * 1024 } });
  });
  after(() => cluster.close());

  it('puts 20,000 partitions; sum, max, a map and toArray are right', async () => {
    await checkManyPartitions(cluster, 60_000, 20_000);
  });

  it(`refuses ${MAX_PARTITIONS + 1} partitions, naming the limit and the fix, before anything is stored`, async () => {
    await assert.rejects(cluster.put(new Float64Array(MAX_PARTITIONS + 1), { partitions: MAX_PARTITIONS + 1 }), (error: unknown) => {
      assert.ok(error instanceof InvalidArgumentError);
      assert.match(error.message, new RegExp(`partitions must be an integer from 1 to ${MAX_PARTITIONS} \\(MAX_PARTITIONS\\), got ${MAX_PARTITIONS + 1}`));
      assert.match(error.message, new RegExp(`pass \\{ partitions: ${MAX_PARTITIONS} \\}`));
      assert.match(error.message, /leave partitions out/);
      return true;
    });
    assert.deepEqual(await cluster.list({ all: true }), []);
  });

  it('takes 100,000 partitions (above the old limit of 65,536)', async () => {
    const a = await cluster.put(rows(200_000), { partitions: 100_000 });
    try {
      assert.equal(a.partitions, 100_000);
      assert.equal(await cluster.reduce(a, 'sum'), (200_000 * 199_999) / 2);
    } finally {
      await a.delete();
    }
  });
});

describe('an array of many partitions (2 agent processes over NATS, data over TCP)', () => {
  let processes: ProcessCluster;
  let cluster: Cluster;
  before(async () => {
    processes = await startProcessCluster({ agents: 2, threads: 1 });
    cluster = await connect({ servers: processes.url });
  });
  after(async () => {
    await cluster?.close();
    await processes?.stop();
  });

  it('puts 5,000 partitions (2 copies each); sum, max, a map and toArray are right', async () => {
    await checkManyPartitions(cluster, 20_000, 5_000);
  });
});
