/**
 * What a NATS blip can leave behind, though every process lives on: NATS core delivers at most
 * once, so a partition.free, the reply to a copy an agent made, or the reply to array.create
 * or an abort may be lost. The cluster notices and frees it, without a restart:
 * - an agent holding partitions the catalog does not place on it is told what counts;
 * - an upload its client no longer lists in its heartbeats is dropped, though the client lives.
 * These are made here on purpose, with a raw NATS client speaking the protocol (real
 * nats-server, coordinator and agent processes).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PROTOCOL_VERSION, connectNats, decodeMessage, encodeValue, subjectFor, type MessageOf, type Transport } from '@sharc/protocol';
import { startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import { connect, type Cluster } from '../src/index.js';
import { settledUsedBytes, usedBytes } from './cluster-waits.js';

/** The coordinator's heartbeats and checks: a generous bound that cannot flake. */
const BOUND_MS = 15_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, condition: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + BOUND_MS;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${BOUND_MS} ms`);
    await sleep(200);
  }
}

describe('leftovers of lost messages are freed while every process lives on (real processes)', () => {
  let processes: ProcessCluster;
  let cluster: Cluster;
  let raw: Transport;
  const coordinator = subjectFor('default', { to: 'coordinator', verb: 'client' });

  before(async () => {
    processes = await startProcessCluster({ agents: 2, threads: 1, memory: '256MiB' });
    cluster = await connect({ servers: processes.url });
    raw = await connectNats({ servers: processes.url, name: 'lost-messages' });
  });
  after(async () => {
    await raw?.close();
    await cluster?.close();
    await processes?.stop();
  });

  it('an agent holding a partition nobody placed on it (its free was lost) is told what counts, and frees it', async () => {
    const kept = await cluster.put(Float64Array.from({ length: 20_000 }, (_, i) => i), { name: 'kept', partitions: 2 });
    const baseline = await settledUsedBytes(cluster);
    // As if the coordinator had sent this and then lost the partition.free that followed.
    const orphan = encodeValue({
      v: PROTOCOL_VERSION,
      from: 'coordinator',
      type: 'partition.allocate',
      arrayId: 'orphan-array',
      dtype: 'float64',
      shape: [100_000],
      partition: { index: 0, rowStart: 0, rowCount: 100_000, byteLength: 800_000, agentId: 'agent-1' },
    });
    const reply = decodeMessage(await raw.request(subjectFor('default', { to: 'agent', agentId: 'agent-1', verb: 'control' }), orphan, 5000));
    assert.equal(reply.type, 'ok', JSON.stringify(reply));
    await until('agent-1 reports the orphan partition', async () => (await usedBytes(cluster)) === baseline + 800_000);
    await until('the orphan partition freed', async () => (await usedBytes(cluster)) === baseline);
    // What the catalog places there was kept.
    assert.deepEqual(await kept.toArray(), Float64Array.from({ length: 20_000 }, (_, i) => i));
    assert.equal((await cluster.nodes()).filter((n) => n.state === 'alive').length, 2, 'both agents alive throughout');
    await kept.delete();
  });

  for (const listed of [false, true]) {
    it(
      listed
        ? 'an upload its live client lists in its heartbeats stays, however long it takes'
        : 'an upload its live client no longer lists (its put failed while NATS was away) is dropped: memory and name free',
      async () => {
        const baseline = await settledUsedBytes(cluster);
        const name = `half-written-${String(listed)}`;
        const create = encodeValue({ v: PROTOCOL_VERSION, from: 'client-raw', type: 'array.create', name, dtype: 'float64', shape: [50_000], copies: 1 });
        const placed = decodeMessage(await raw.request(coordinator, create, 5000)) as MessageOf<'array.placed'>;
        assert.equal(placed.type, 'array.placed', JSON.stringify(placed));
        // The client lives on: it heartbeats every half second, listing its upload or not.
        const heartbeat = () =>
          raw.publish(coordinator, encodeValue({ v: PROTOCOL_VERSION, from: 'client-raw', type: 'client.heartbeat', uploads: listed ? [placed.array.id] : [] }));
        const beating = setInterval(heartbeat, 500);
        try {
          if (listed) {
            await sleep(6000);
            const pending = (await cluster.list({ all: true })).find((a) => a.name === name);
            assert.equal(pending?.state, 'pending', 'a listed upload is kept');
            assert.equal(await usedBytes(cluster), baseline + 400_000);
          } else {
            await until('the upload dropped', async () => (await cluster.list({ all: true })).every((a) => a.name !== name));
            await until('its memory freed', async () => (await usedBytes(cluster)) === baseline);
            const again = await cluster.put(new Float64Array(10), { name });
            await again.delete();
          }
        } finally {
          clearInterval(beating);
        }
        // Its client goes away: a listed upload goes too, as any upload of a client that left.
        await until('no upload left', async () => (await cluster.list({ all: true })).every((a) => a.name !== name));
        await until('memory back', async () => (await usedBytes(cluster)) === baseline);
      },
    );
  }
});
