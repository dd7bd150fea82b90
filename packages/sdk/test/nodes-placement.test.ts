/**
 * `nodes()` answers from the coordinator's placement: as soon as a put, a map or a delete
 * returns, the partition counts it shows include (or no longer include) that array's
 * partitions, every copy counted on the agent that holds it. No waiting for heartbeats.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect, type ArrayRef, type Cluster } from '../src/index.js';

const AGENT_MEMORY = 256 * 1024 * 1024;

/** Partition copies each agent holds by the arrays' own placement (serving copy and replicas). */
function copiesByAgent(arrays: readonly ArrayRef[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const p of arrays.flatMap((a) => a.placement)) {
    for (const id of [p.agentId, ...(p.replicas ?? [])]) counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

async function shownCounts(cluster: Cluster): Promise<Map<string, number>> {
  return new Map((await cluster.nodes()).filter((n) => n.partitions > 0).map((n) => [n.id, n.partitions]));
}

describe('nodes() agrees with the call that just returned', () => {
  let cluster: Cluster;
  before(async () => {
    delete process.env.SHARC_SERVERS;
    cluster = await connect({ embedded: { agents: 2, threads: 1, memoryBytes: AGENT_MEMORY } });
  });
  after(() => cluster.close());

  it('shows the partitions of a put, a map output, and none once they are deleted, at once', async () => {
    // Several rounds: a heartbeat may happen to fall between a call and nodes() once, not every time.
    for (let round = 0; round < 3; round++) {
      const data = Float64Array.from({ length: 6000 }, (_, i) => i % 17);
      const input = await cluster.put(data, { name: `input-${round}`, partitions: 6, copies: 2 });
      assert.equal([...copiesByAgent([input]).values()].reduce((a, b) => a + b, 0), 12, 'two copies of each of the 6 partitions');
      assert.deepEqual(await shownCounts(cluster), copiesByAgent([input]), `round ${round}: after put`);

      const doubled = await input.scale(2, { name: `doubled-${round}` });
      assert.deepEqual(await shownCounts(cluster), copiesByAgent([input, doubled]), `round ${round}: after map`);

      // The input of a live map output is kept (retired: unlisted, the output's lineage) until the output goes.
      await input.delete();
      assert.deepEqual((await cluster.list()).map((a) => a.name), [doubled.name]);
      assert.deepEqual(await shownCounts(cluster), copiesByAgent([input, doubled]), `round ${round}: input deleted, kept as lineage`);
      await doubled.delete();
      assert.deepEqual(await shownCounts(cluster), new Map(), `round ${round}: after both deletes, nothing is placed`);
    }
  });

  it('shows the partitions of a put, and none once it is deleted, at once', async () => {
    for (let round = 0; round < 3; round++) {
      const array = await cluster.put(new Float64Array(4000).fill(round), { name: `plain-${round}`, partitions: 5, copies: 1 });
      assert.deepEqual(await shownCounts(cluster), copiesByAgent([array]), `round ${round}: after put`);
      await array.delete();
      assert.deepEqual(await shownCounts(cluster), new Map(), `round ${round}: after delete`);
    }
  });
});
