import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import { ConnectionError, connect, type Cluster } from '../src/index.js';
import { registerScenarios } from './scenarios.js';

const AGENT_MEMORY = 512 * 1024 * 1024;

describe('real cluster: nats-server, a coordinator process and two agent processes', () => {
  let processes: ProcessCluster;
  let cluster: Cluster;
  before(async () => {
    processes = await startProcessCluster({ agents: 2, threads: 2, memory: String(AGENT_MEMORY) });
    cluster = await connect({ servers: processes.url });
  });
  after(async () => {
    await cluster?.close();
    await processes?.stop();
  });

  it('sees both agent processes', async () => {
    const nodes = await cluster.nodes();
    assert.deepEqual(nodes.map((n) => n.id).sort(), ['agent-1', 'agent-2']);
    assert.ok(nodes.every((n) => n.state === 'alive' && n.threads === 2));
  });

  it('uses SHARC_SERVERS when connect() gets no servers', async () => {
    process.env.SHARC_SERVERS = processes.url;
    try {
      const viaEnv = await connect();
      assert.equal(viaEnv.embedded, false);
      assert.equal((await viaEnv.nodes()).length, 2);
      await viaEnv.close();
    } finally {
      delete process.env.SHARC_SERVERS;
    }
  });

  it('fails within the connect timeout, naming the address, when servers are unreachable', async () => {
    const started = Date.now();
    await assert.rejects(connect({ servers: 'nats://127.0.0.1:1', connectTimeoutMs: 2000 }), (error: Error) => {
      assert.ok(error instanceof ConnectionError);
      assert.match(error.message, /nats:\/\/127\.0\.0\.1:1/);
      return true;
    });
    assert.ok(Date.now() - started < 10_000);
  });

  registerScenarios({
    cluster: () => cluster,
    secondClient: () => connect({ servers: processes.url }),
    agentMemoryBytes: AGENT_MEMORY,
    agentCount: 2,
  });
});
