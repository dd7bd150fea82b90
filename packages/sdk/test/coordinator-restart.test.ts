/**
 * A coordinator SIGKILLed and started again, with real processes (nats-server with JetStream,
 * a coordinator keeping its state in a JetStream key-value bucket, three agent processes): it
 * forgets no array, kernel or placement, resumes the jobs that were running, and their callers
 * get the right answer without doing anything.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import { connect, type Cluster } from '../src/index.js';
import type { BlockReport } from './fixtures/recovery-kernels.js';
import { jobsRunning } from './cluster-waits.js';
import { KERNELS } from './scenarios.js';

const RECOVERY_KERNELS = fileURLToPath(new URL('../../test/fixtures/recovery-kernels.ts', import.meta.url));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('coordinator SIGKILLed and restarted: state in JetStream (real processes)', () => {
  let processes: ProcessCluster;
  let cluster: Cluster;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-restart-'));
    // A restarted coordinator counts an agent dead that has not rejoined within this window: roomy, on a loaded machine.
    processes = await startProcessCluster({ agents: 3, threads: 1, memory: '256MiB', coordinatorArgs: ['--dead-after-ms', '6000'] });
    // Jobs the coordinator runs are what a restart must not lose: reduces go through it here.
    cluster = await connect({ servers: processes.url, directReduce: false });
  });
  after(async () => {
    await cluster?.close();
    await processes?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps every array, its placement and contents, and the kernels', async () => {
    const rows = 2000;
    const data = Float64Array.from({ length: rows * 3 }, (_, i) => (i % 101) - 50);
    const uploaded = await cluster.put(data, { shape: [rows, 3], name: 'kept', partitions: 3 });
    const file = path.join(dir, 'kept.npy');
    await uploaded.save(file);
    await cluster.fromFile(file, { name: 'from-file' });
    await cluster.map(uploaded, { module: KERNELS, kernel: 'scale', params: { factor: 2 } }, { name: 'doubled' });
    const before = (await cluster.list()).map((a) => ({ name: a.name, placement: a.placement })).sort((a, b) => a.name.localeCompare(b.name));

    await processes.restartCoordinator();

    const afterRestart = (await cluster.list()).map((a) => ({ name: a.name, placement: a.placement })).sort((a, b) => a.name.localeCompare(b.name));
    assert.deepEqual(afterRestart, before);
    assert.deepEqual(await (await cluster.open('kept')).toArray(), data);
    assert.deepEqual(await (await cluster.open('from-file')).toArray(), data);
    assert.deepEqual(await (await cluster.open('doubled')).toArray(), data.map((v) => v * 2));
    const sum = data.reduce((a, b) => a + b, 0);
    assert.equal(await cluster.reduce(await cluster.open('kept'), 'sum'), sum);
    // Agents rejoined and still hold every copy: memory as before, nothing freed.
    const nodes = await cluster.nodes();
    assert.equal(nodes.filter((n) => n.state === 'alive').length, 3);
    const copies = (await cluster.list()).reduce((n, a) => n + a.placement.reduce((m, p) => m + 1 + (p.replicas?.length ?? 0), 0), 0);
    assert.equal(copies, 3 * 2 + 3 + 3, 'two copies of each uploaded partition, one of each file and map output partition');
    assert.equal(nodes.reduce((n, a) => n + a.partitions, 0), copies);
    for (const ref of await cluster.list()) await ref.delete();
  });

  it('resumes a reduce whose agent died with it; the caller gets the right answer, each partition counted once', async () => {
    const rows = 3000;
    const array = await cluster.put(new Float64Array(rows).fill(1), { partitions: 3 });
    const kernel = { module: RECOVERY_KERNELS, partial: 'reportBlock', combine: 'concatReports' };
    await cluster.reduce(array, { ...kernel, params: { ms: 0 } });
    const victim = array.placement[0]!.agentId;
    const takeover = array.placement[0]!.replicas![0]!;
    const job = cluster.reduce<BlockReport[]>(array, { ...kernel, params: { ms: 3000 } });
    await jobsRunning(cluster);
    // Partition 0's partial can now only come from the job the new coordinator resumes.
    await processes.agents.get(victim)!.kill();
    await processes.restartCoordinator();
    const reports = await job;
    assert.deepEqual(reports.map((r) => r.rowStart).sort((a, b) => a - b), array.placement.map((p) => p.rowStart));
    assert.equal(reports.find((r) => r.rowStart === 0)?.pid, processes.agents.get(takeover)!.child.pid, 'partition 0 counted from the copy');
    assert.equal(reports.reduce((n, r) => n + r.elements, 0), rows);
    assert.deepEqual(await cluster.runningJobs(), []);
    await array.delete();
    await processes.addAgent(victim);
  });

  it('resumes a map that was running; its output is complete, named and stored', async () => {
    const data = Float64Array.from({ length: 3000 }, (_, i) => i);
    const array = await cluster.put(data, { partitions: 3 });
    await (await cluster.map(array, { module: RECOVERY_KERNELS, kernel: 'slowAffine', params: { ms: 0 } })).delete();
    const job = cluster.map(array, { module: RECOVERY_KERNELS, kernel: 'slowAffine', params: { ms: 3000 } }, { name: 'resumed-map' });
    await jobsRunning(cluster);
    await processes.restartCoordinator();
    const output = await job;
    assert.equal(output.name, 'resumed-map');
    assert.deepEqual(await output.toArray(), data.map((v) => 2 * v + 1));
    assert.deepEqual(await (await cluster.open('resumed-map')).toArray(), data.map((v) => 2 * v + 1));
    for (const ref of await cluster.list()) await ref.delete();
  });

  it('serves elsewhere what an agent restarted while the coordinator was down no longer holds', async () => {
    const data = Float64Array.from({ length: 3000 }, (_, i) => i * 0.5);
    const array = await cluster.put(data, { name: 'survivor', partitions: 3 });
    const victim = array.placement[0]!.agentId;
    await processes.coordinator.kill();
    await processes.agents.get(victim)!.kill();
    // Both come back: the agent with empty memory, under the same name.
    await Promise.all([processes.restartCoordinator(), processes.addAgent(victim)]);
    assert.deepEqual(await (await cluster.open('survivor')).toArray(), data);
    // What the coordinator places on the restarted agent is what it holds (copies made again).
    let placedOnVictim = -1;
    let usedByVictim = -2;
    for (let i = 0; i < 100 && placedOnVictim !== usedByVictim; i++) {
      await sleep(100);
      const placement = (await cluster.open('survivor')).placement;
      placedOnVictim = placement.filter((p) => [p.agentId, ...(p.replicas ?? [])].includes(victim)).reduce((n, p) => n + p.byteLength, 0);
      usedByVictim = (await cluster.nodes()).find((n) => n.id === victim)?.usedBytes ?? -3;
    }
    assert.equal(usedByVictim, placedOnVictim);
    await (await cluster.open('survivor')).delete();
  });
});

describe('a standby coordinator takes over when the active one is SIGKILLed (real processes)', () => {
  let processes: ProcessCluster;
  let cluster: Cluster;
  before(async () => {
    processes = await startProcessCluster({ agents: 2, threads: 1, memory: '256MiB' });
    // Jobs the coordinator runs are what a restart must not lose: reduces go through it here.
    cluster = await connect({ servers: processes.url, directReduce: false });
  });
  after(async () => {
    await cluster?.close();
    await processes?.stop();
  });

  it('waits while the active one holds the lease, then serves: arrays intact, the running job finished', async () => {
    const standby = await processes.addStandbyCoordinator('coordinator-2');
    assert.match(standby.tail, /sharc coordinator standby/);
    assert.doesNotMatch(standby.tail, /sharc coordinator ready/);
    const data = Float64Array.from({ length: 2000 }, (_, i) => i);
    const array = await cluster.put(data, { name: 'before-takeover', partitions: 2 });
    const kernel = { module: RECOVERY_KERNELS, partial: 'reportBlock', combine: 'concatReports' };
    await cluster.reduce(array, { ...kernel, params: { ms: 0 } });
    const job = cluster.reduce<BlockReport[]>(array, { ...kernel, params: { ms: 3000 } });
    await jobsRunning(cluster);
    await processes.coordinator.kill();
    const reports = await job;
    for (let i = 0; i < 100 && !/sharc coordinator ready/.test(standby.tail); i++) await sleep(100);
    assert.ok(standby.running && /sharc coordinator ready/.test(standby.tail), 'the standby is the active coordinator now');
    assert.deepEqual(reports.map((r) => r.rowStart).sort((a, b) => a - b), array.placement.map((p) => p.rowStart));
    assert.deepEqual(await (await cluster.open('before-takeover')).toArray(), data);
    const fresh = await cluster.put(new Float64Array(10).fill(2));
    assert.equal(await cluster.reduce(fresh, 'sum'), 20);
  });
});
