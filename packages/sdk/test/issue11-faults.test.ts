/**
 * Faults thrown at what issue 11 added (reduces sent straight to the agents, tasks.run /
 * tasks.done), on real processes: nats-server, a coordinator and agent processes. Each test
 * is a defect found by trying to break it; results are checked against closed-form sums.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MAX_DIRECT_PARTITIONS, PROTOCOL_VERSION, connectNats, decodeMessage, encodeMessage, subjectFor, type Message, type Transport } from '@sharc/protocol';
import { startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import { connect, type ArrayRef, type Cluster } from '../src/index.js';
import { hangGuard } from './cluster-waits.js';
import { KERNELS } from './scenarios.js';

const bounded = hangGuard(45_000);

/** 0, 1, 2 … as float64: a partition counted twice or missed changes the sum, n(n-1)/2. */
function rows(count: number): Float64Array {
  return Float64Array.from({ length: count }, (_, i) => i);
}

describe('direct reduce under hostile input (real processes)', () => {
  let processes: ProcessCluster;
  let cluster: Cluster;

  before(async () => {
    processes = await startProcessCluster({ agents: 2, threads: 1, memory: '256MiB' });
    cluster = await connect({ servers: processes.url });
  });
  after(async () => {
    await cluster?.close().catch(() => undefined);
    await processes?.stop();
  });

  it('a tasks.run naming millions of partitions over its jobs is refused at once; the agent lives on', async () => {
    const elements = 64;
    const data: ArrayRef = await cluster.put(rows(elements), { partitions: 8, name: 'hostile-many' });
    const agentId = data.placement[0]!.agentId;
    const held = data.placement.find((p) => p.agentId === agentId)!.index;
    const transport: Transport = await connectNats({ servers: processes.url, name: 'raw-client' });
    try {
      // 20 jobs each naming a held partition 262,144 times: each job alone is within bounds,
      // all of them together ask one agent for 5 million partials in one reply.
      const job = (k: number) => ({ jobId: `flood-${k}`, arrayId: data.id, partitions: new Array<number>(MAX_DIRECT_PARTITIONS).fill(held), kernel: { kind: 'builtin', op: 'sum' } });
      const flood = encodeMessage({ v: PROTOCOL_VERSION, from: 'raw-client', type: 'tasks.run', clientId: 'raw-client', jobs: Array.from({ length: 20 }, (_, k) => job(k)) } as unknown as Message);
      const subject = subjectFor('default', { to: 'agent', agentId, verb: 'direct' });
      const reply = decodeMessage(await transport.request(subject, flood, 10_000));
      assert.equal(reply.type, 'error');
      assert.match(reply.type === 'error' ? reply.error.message : '', /at most 262144 partitions over all jobs/);
    } finally {
      await transport.close();
    }
    const nodes = await cluster.nodes();
    assert.ok(nodes.every((n) => n.state === 'alive'), JSON.stringify(nodes.map((n) => [n.id, n.state])));
    assert.equal(await bounded(cluster.reduce(data, 'sum'), 'a reduce after the flood'), (elements * (elements - 1)) / 2);
    await data.delete();
  });
});

describe('direct reduces naming many partitions at once (real processes)', () => {
  let processes: ProcessCluster;

  before(async () => {
    processes = await startProcessCluster({ agents: 2, threads: 1, memory: '256MiB' });
  });
  after(async () => {
    await processes?.stop();
  });

  it('24 reduces of an array of 20,000 small partitions: right, and the agent is never given up', async () => {
    const elements = 40_000;
    const client = await connect({ servers: processes.url, maxJobsInFlight: 24 });
    try {
      const data = await client.put(rows(elements), { partitions: 20_000, name: 'many-small' });
      // Small: one agent gets every partition of all 24 jobs, 480,000 in two tasks.run. Run in
      // one turn each, they held the agent for seconds without a word to the client or the
      // coordinator, and every job was given up to the coordinator.
      const sums = await bounded(Promise.all(Array.from({ length: 24 }, () => client.reduce(data, 'sum', { timeoutMs: 40_000 }))), '24 reduces');
      assert.deepEqual(new Set(sums), new Set([(elements * (elements - 1)) / 2]));
      const nodes = await client.nodes();
      assert.ok(nodes.every((n) => n.state === 'alive'), JSON.stringify(nodes.map((n) => [n.id, n.state])));
      // Sent straight to the agents (on a loaded machine some may fall back to the coordinator: right too).
      assert.ok(nodes.reduce((n, node) => n + (node.direct?.batches ?? 0), 0) >= 1, 'reduces went to the agents direct');
      await data.delete();
    } finally {
      await client.close();
    }
  });
});

describe('reduces whose partials do not fit in one message (a stock nats-server: max_payload 1 MiB)', () => {
  let processes: ProcessCluster;

  before(async () => {
    processes = await startProcessCluster({ agents: 2, threads: 1, memory: '256MiB', natsConfig: 'max_payload: 1048576' });
  });
  after(async () => {
    await processes?.stop();
  });

  it('gives the right result, direct and through the coordinator', async () => {
    const elements = 64_000;
    const partitions = 64;
    const width = 8000;
    const direct = await connect({ servers: processes.url });
    const viaCoordinator = await connect({ servers: processes.url, directReduce: false });
    try {
      const data = await direct.put(rows(elements), { partitions, name: 'wide' });
      // 32 partials of 8,000 float64 on each agent: about 2.3 MB, in messages of at most 1 MiB.
      const total = (elements * (elements - 1)) / 2;
      const kernel = { module: KERNELS, partial: 'wideSum', combine: 'addWide', params: { width } };
      for (const [how, client] of [['direct', direct], ['through the coordinator', viaCoordinator]] as const) {
        const wide = await bounded(client.reduce<number[]>(await client.open('wide'), kernel, { timeoutMs: 40_000 }), how);
        assert.equal(wide.length, width, how);
        for (const i of [0, 1, width - 1]) assert.equal(wide[i], total + (partitions * i) / 2, `${how}: slot ${i}`);
      }
      await data.delete();
    } finally {
      await direct.close();
      await viaCoordinator.close();
    }
  });
});
