/**
 * Simulated agents against a real coordinator process over a real nats-server: they register,
 * a reduce over an array spread on all of them is right (the fill rule: every element is 1),
 * and killing a process of 5 of them at once gets all 5 declared dead, within the product's
 * liveness window.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ProtocolClient, startProcessCluster, startSimulatedAgents, type ProcessCluster, type ServiceProcess } from '../src/index.js';

const SURVIVORS = 45;
const DOOMED = 5;
const PARTITIONS = 200;
const ELEMENTS_PER_PARTITION = 10;
/** Generous: the product promises 3 s of silence plus a heartbeat; a loaded 2-core machine adds more. */
const DEATH_BOUND_MS = 30_000;
/** Generous too: a heartbeat a second. */
const HEARTBEAT_BOUND_MS = 15_000;

describe('simulated agents against a real coordinator over NATS', { timeout: 180_000 }, () => {
  let cluster: ProcessCluster;
  let client: ProtocolClient;
  const groups: ServiceProcess[] = [];

  before(async () => {
    cluster = await startProcessCluster({ agents: 0 });
    groups.push(
      await startSimulatedAgents({ servers: cluster.url, prefix: 'live', count: SURVIVORS }),
      await startSimulatedAgents({ servers: cluster.url, prefix: 'doomed', count: DOOMED }),
    );
    client = await ProtocolClient.connect(cluster.url);
  });

  after(async () => {
    await client?.close();
    await Promise.all(groups.map((group) => group.stop()));
    await cluster?.stop();
  });

  it('every simulated agent is registered and alive', async () => {
    const nodes = await client.nodes();
    assert.equal(nodes.length, SURVIVORS + DOOMED);
    assert.ok(nodes.every((node) => node.state === 'alive'), JSON.stringify(nodes.filter((node) => node.state !== 'alive')));
  });

  it('a reduce over an array spread on every agent counts each element once', async () => {
    const array = await client.placeArray({ name: 'spread', dtype: 'float64', shape: [PARTITIONS * ELEMENTS_PER_PARTITION], partitions: PARTITIONS, copies: 2 });
    const serving = new Set(array.partitions.map((p) => p.agentId));
    assert.equal(serving.size, SURVIVORS + DOOMED, 'the partitions are served by every agent');
    assert.equal(await client.reduce(array, 'sum'), PARTITIONS * ELEMENTS_PER_PARTITION);
    assert.equal(await client.reduce(array, 'max'), 1);
    // nodes() says what the agents' heartbeats (every second) last reported.
    const heldByAll = async () => (await client.nodes()).reduce((sum, node) => sum + node.partitions, 0);
    for (const since = Date.now(); (await heldByAll()) !== PARTITIONS * 2; ) {
      assert.ok(Date.now() - since < HEARTBEAT_BOUND_MS, `nodes() lists ${await heldByAll()} partitions held, not both copies of ${PARTITIONS}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });

  it('killing 5 agents at once gets all 5 declared dead, and the others stay alive', async () => {
    const killedAt = Date.now();
    await groups[1]!.kill();
    for (;;) {
      const nodes = await client.nodes();
      const dead = nodes.filter((node) => node.state === 'dead').map((node) => node.id);
      if (dead.length === DOOMED) {
        assert.deepEqual(dead.sort(), Array.from({ length: DOOMED }, (_, i) => `doomed-${i + 1}`).sort());
        break;
      }
      assert.ok(Date.now() - killedAt < DEATH_BOUND_MS, `after ${DEATH_BOUND_MS} ms only ${dead.length} of ${DOOMED} agents are declared dead`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal((await client.nodes()).filter((node) => node.state === 'alive').length, SURVIVORS);
  });
});
