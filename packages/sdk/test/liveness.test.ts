/**
 * Agents that die and coordinators that restart, with real processes: a dead agent is seen
 * within the liveness window, and agents find a restarted coordinator on their own.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import { ConnectionError, connect, type Cluster } from '../src/index.js';
import { jobsRunning } from './cluster-waits.js';
import { KERNELS } from './scenarios.js';

const DETECTION_BUDGET_MS = 15_000;

describe('agent death and coordinator restart (real processes)', () => {
  let processes: ProcessCluster;
  let cluster: Cluster;
  before(async () => {
    // State in memory: a restarted coordinator starts empty (coordinator-restart.test.ts covers JetStream state).
    processes = await startProcessCluster({ agents: 3, threads: 1, memory: '256MiB', coordinatorArgs: ['--state', 'memory'] });
    cluster = await connect({ servers: processes.url });
  });
  after(async () => {
    await cluster?.close();
    await processes?.stop();
  });

  it('declares a SIGKILLed agent dead within the liveness window, and keeps the others alive', async () => {
    const array = await cluster.put(new Float64Array(3 * 1024).fill(1), { partitions: 3 });
    const victim = array.placement[1]!.agentId;
    const started = Date.now();
    await processes.agents.get(victim)!.kill();
    let nodes = await cluster.nodes();
    while (nodes.find((n) => n.id === victim)?.state !== 'dead' && Date.now() - started < DETECTION_BUDGET_MS) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      nodes = await cluster.nodes();
    }
    assert.equal(nodes.find((n) => n.id === victim)?.state, 'dead');
    assert.equal(nodes.filter((n) => n.state === 'alive').length, 2);
    // Its partitions are served by their second copies (recovery.test.ts covers the rest).
    assert.equal(await cluster.reduce(array, 'sum'), 3 * 1024);
  });

  it('keeps serving on the live agents', async () => {
    const array = await cluster.put(Float64Array.from({ length: 1000 }, (_, i) => i), { partitions: 2 });
    assert.equal(await cluster.reduce(array, 'sum'), 499_500);
  });

  it('with state in memory, fails jobs in flight at once when the coordinator restarts, and agents rejoin with their memory freed', async () => {
    const array = await cluster.put(new Float64Array(2 * 1024).fill(1), { partitions: 2 });
    await (await cluster.map(array, { module: KERNELS, kernel: 'slowMap', params: { ms: 1 } })).delete();
    const started = Date.now();
    const job = cluster.map(array, { module: KERNELS, kernel: 'slowMap', params: { ms: 60_000 } });
    // Checked from now on: the job may fail while the restart is still being waited for.
    const failed = assert.rejects(job, (error: Error) => {
      assert.ok(error instanceof ConnectionError, `${error.name}: ${error.message}`);
      assert.equal(error.retryable, true);
      assert.match(error.message, /coordinator restarted/);
      return true;
    });
    await jobsRunning(cluster, 1, 0);
    await processes.restartCoordinator();
    await failed;
    assert.ok(Date.now() - started < DETECTION_BUDGET_MS, `took ${Date.now() - started} ms`);
    let nodes: Awaited<ReturnType<Cluster['nodes']>> = [];
    for (let i = 0; i < 100 && nodes.filter((n) => n.state === 'alive').length < 2; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      nodes = await cluster.nodes().catch(() => []);
    }
    assert.equal(nodes.filter((n) => n.state === 'alive').length, 2);
    // The new coordinator knows no array, so nothing may keep holding agent memory.
    assert.deepEqual(nodes.map((n) => n.usedBytes), [0, 0]);
    const fresh = await cluster.put(new Float64Array(100).fill(3), { partitions: 2 });
    assert.equal(await cluster.reduce(fresh, 'sum'), 300);
  });
});
