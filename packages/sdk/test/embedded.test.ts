import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect, type Cluster } from '../src/index.js';
import { registerScenarios } from './scenarios.js';

const AGENT_MEMORY = 512 * 1024 * 1024;

describe('embedded cluster (in-process bus, real worker threads)', () => {
  let cluster: Cluster;
  before(async () => {
    delete process.env.SHARC_SERVERS;
    cluster = await connect({ embedded: { agents: 2, threads: 2, memoryBytes: AGENT_MEMORY } });
  });
  after(() => cluster.close());

  it('starts without any server and shows its agents', async () => {
    assert.equal(cluster.embedded, true);
    const nodes = await cluster.nodes();
    assert.equal(nodes.length, 2);
    for (const node of nodes) {
      assert.equal(node.state, 'alive');
      assert.equal(node.threads, 2);
      assert.equal(node.memoryBytes, AGENT_MEMORY);
    }
  });

  registerScenarios({
    cluster: () => cluster,
    agentMemoryBytes: AGENT_MEMORY,
    agentCount: 2,
  });
});
