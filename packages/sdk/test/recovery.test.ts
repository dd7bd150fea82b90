/**
 * Agents that die, with real processes (nats-server, a coordinator, three agent processes):
 * every array survives the loss of one agent (uploads through their second copy, file loads
 * read again, map outputs computed again from their input), jobs in flight finish with the
 * right answer, and an agent that comes back after being declared dead counts nothing twice.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, afterEach, before, describe, it } from 'node:test';
import { startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import { DataLostError, FileFormatError, connect, type ArrayRef, type Cluster } from '../src/index.js';
import type { BlockReport } from './fixtures/recovery-kernels.js';
import { KERNELS } from './scenarios.js';

const RECOVERY_KERNELS = fileURLToPath(new URL('../../test/fixtures/recovery-kernels.ts', import.meta.url));
const AGENTS = ['agent-1', 'agent-2', 'agent-3'];
/** Generous bounds for the cluster to notice a death (liveness window 3 s). */
const VERDICT_POLLS = 150;
const POLL_MS = 100;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('agent death: no data lost, jobs in flight finish correctly (real processes)', () => {
  let processes: ProcessCluster;
  let cluster: Cluster;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-recovery-'));
    processes = await startProcessCluster({ agents: 3, threads: 1, memory: '256MiB' });
    cluster = await connect({ servers: processes.url });
  });
  after(async () => {
    await cluster?.close();
    await processes?.stop();
    await rm(dir, { recursive: true, force: true });
  });
  // Each test kills or stops an agent: bring the cluster back to three live agents after it.
  afterEach(async () => {
    for (const name of AGENTS) {
      const agent = processes.agents.get(name);
      agent?.child.kill('SIGCONT');
      if (agent === undefined || !agent.running) await processes.addAgent(name);
    }
    await untilNodes((nodes) => nodes.filter((n) => n.state === 'alive').length === AGENTS.length);
    for (const ref of await cluster.list()) await ref.delete();
  });

  async function untilNodes(check: (nodes: Awaited<ReturnType<Cluster['nodes']>>) => boolean): Promise<void> {
    for (let i = 0; i < VERDICT_POLLS; i++) {
      if (check(await cluster.nodes())) return;
      await sleep(POLL_MS);
    }
    assert.fail(`the cluster never reached the expected state: ${JSON.stringify(await cluster.nodes())}`);
  }
  const untilDead = (agentId: string) => untilNodes((nodes) => nodes.some((n) => n.id === agentId && n.state === 'dead'));
  const servingAgent = (ref: ArrayRef, index: number) => ref.placement[index]!.agentId;
  const pidOf = (agentId: string) => processes.agents.get(agentId)!.child.pid!;

  it('every kind of array survives a SIGKILLed agent: uploads, file loads and map outputs read back exactly; lost copies are made again', async () => {
    // Partitions just over 1 MiB: held in WebAssembly memories longer than their bytes, so every
    // path that moves them (upload, file load, map output, copy to another agent) must use only their bytes.
    const rows = 100_000;
    const data = Float64Array.from({ length: rows * 4 }, (_, i) => Math.sin(i) * 100);
    const uploaded = await cluster.put(data, { shape: [rows, 4], name: 'uploaded', partitions: 3 });
    // Two copies of every partition, on distinct agents.
    for (const p of uploaded.placement) assert.equal(new Set([p.agentId, ...(p.replicas ?? [])]).size, 2);
    const file = path.join(dir, 'loaded.npy');
    await uploaded.save(file);
    await cluster.fromFile(file, { name: 'loaded', partitions: 3 });
    await cluster.map(uploaded, { module: RECOVERY_KERNELS, kernel: 'slowAffine', params: { ms: 0 } }, { name: 'mapped' });
    const single = await cluster.put(data, { shape: [rows, 4], name: 'single', partitions: 3, copies: 1 });

    const victim = servingAgent(uploaded, 0);
    await processes.agents.get(victim)!.kill();
    await untilDead(victim);

    const expectedMap = data.map((v) => 2 * v + 1);
    for (const [name, expected] of [['uploaded', data], ['loaded', data], ['mapped', expectedMap]] as const) {
      const ref = await cluster.open(name);
      assert.ok(ref.placement.every((p) => p.agentId !== victim), `${name} is still served by the dead agent: ${JSON.stringify(ref.placement)}`);
      assert.deepEqual(await ref.toArray(), expected, `${name} reads back exactly`);
    }
    const sum = data.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(Number(await cluster.reduce(await cluster.open('uploaded'), 'sum')) - sum) < 1e-6);
    // The lost copies are made again on the live agents: a second death loses nothing either.
    const twoLiveCopies = async () =>
      (await cluster.open('uploaded')).placement.every((p) => {
        const holders = new Set([p.agentId, ...(p.replicas ?? [])]);
        return holders.size === 2 && !holders.has(victim);
      });
    for (let i = 0; i < VERDICT_POLLS && !(await twoLiveCopies()); i++) await sleep(POLL_MS);
    assert.ok(await twoLiveCopies(), `copies not restored: ${JSON.stringify((await cluster.open('uploaded')).placement)}`);
    const second = servingAgent(await cluster.open('uploaded'), 1);
    await processes.agents.get(second)!.kill();
    await untilDead(second);
    assert.deepEqual(await (await cluster.open('uploaded')).toArray(), data, 'uploaded reads back exactly after a second agent died');
    // One copy only, and it was on a dead agent: a clear, retryable refusal, not a hang.
    const lost = single.placement.flatMap((p, index) => (p.agentId === victim || p.agentId === second ? [index] : []));
    if (lost.length > 0) {
      await assert.rejects(cluster.reduce(single, 'sum'), (error: Error) => {
        assert.ok(error instanceof DataLostError, `${error.name}: ${error.message}`);
        assert.match(error.message, new RegExp(`partition (${lost.join('|')}) of 'single' was stored only on agent (${victim}|${second}).*put the array again`));
        return true;
      });
    }
  });

  it('a lost partition of a file load is not read again from a file that changed since: a clear refusal, not wrong numbers', async () => {
    const rows = 3000;
    const data = Float64Array.from({ length: rows * 4 }, (_, i) => i);
    const file = path.join(dir, 'replaced.npy');
    await (await cluster.put(data, { shape: [rows, 4], name: 'source', partitions: 3 })).save(file);
    const loaded = await cluster.fromFile(file, { name: 'replaced', partitions: 3 });
    // Saved over with float32 data of twice the rows: the very same size, garbage as float64.
    await (await cluster.put(new Float32Array(rows * 8).fill(1), { shape: [rows * 2, 4], name: 'other', partitions: 3 })).save(file);
    const victim = servingAgent(loaded, 0);
    await processes.agents.get(victim)!.kill();
    await untilDead(victim);
    // (open waits for a partition being recovered, and says why it could not be.)
    await assert.rejects(async () => (await cluster.open('replaced')).toArray(), (error: Error) => {
      assert.ok(error instanceof FileFormatError, `${error.name}: ${error.message}`);
      assert.match(error.message, /replaced\.npy is no longer the file the array was loaded from \(float64 \[3000, 4\] from byte 128\): it is a \.npy file of float32 \[6000, 4\] from byte 128 now/);
      return true;
    });
  });

  it('a reduce in flight when an agent is SIGKILLed finishes, counting every partition exactly once', async () => {
    const rows = 6000;
    const array = await cluster.put(new Float64Array(rows).fill(1), { partitions: 6 });
    const kernel = { module: RECOVERY_KERNELS, partial: 'reportBlock', combine: 'concatReports' };
    // Every agent caches the kernel first, so the slow job below is computing when the kill comes.
    await cluster.reduce(array, { ...kernel, params: { ms: 0 } });
    const victim = servingAgent(array, 0);
    const job = cluster.reduce<BlockReport[]>(array, { ...kernel, params: { ms: 1500 } });
    await sleep(700);
    await processes.agents.get(victim)!.kill();
    const reports = await job;
    assert.deepEqual(
      reports.map((r) => r.rowStart).sort((a, b) => a - b),
      array.placement.map((p) => p.rowStart),
      'one block report per partition: none missing, none twice',
    );
    assert.equal(reports.reduce((n, r) => n + r.elements, 0), rows);
    assert.equal(await cluster.reduce(array, 'sum'), rows);
  });

  it('a map in flight when an agent is SIGKILLed finishes with every row right', async () => {
    const rows = 4000;
    const data = Float64Array.from({ length: rows }, (_, i) => i);
    const array = await cluster.put(data, { partitions: 6 });
    await (await cluster.map(array, { module: RECOVERY_KERNELS, kernel: 'slowAffine', params: { ms: 0 } })).delete();
    const victim = servingAgent(array, 1);
    const job = cluster.map(array, { module: RECOVERY_KERNELS, kernel: 'slowAffine', params: { ms: 1500 } }, { name: 'affine' });
    await sleep(700);
    await processes.agents.get(victim)!.kill();
    const output = await job;
    assert.ok(output.placement.every((p) => p.agentId !== victim));
    assert.deepEqual(await output.toArray(), data.map((v) => 2 * v + 1));
  });

  it('an agent declared dead that comes back (SIGSTOP, SIGCONT) rejoins; its late partial is not counted', async (t) => {
    const rows = 3000;
    const array = await cluster.put(new Float64Array(rows).fill(1), { partitions: 3 });
    const kernel = { module: RECOVERY_KERNELS, partial: 'reportBlock', combine: 'concatReports' };
    await cluster.reduce(array, { ...kernel, params: { ms: 0 } });
    const victim = servingAgent(array, 0);
    const takeover = array.placement[0]!.replicas![0]!;
    const frozen = processes.agents.get(victim)!;
    // Through the coordinator, whose fencing is what this checks: a direct reduce of so small an
    // array goes to one agent holding every partition, which may not be the victim at all.
    const viaCoordinator = await connect({ servers: processes.url, directReduce: false });
    t.after(() => viaCoordinator.close());
    const job = viaCoordinator.reduce<BlockReport[]>(array, { ...kernel, params: { ms: 2500 } });
    await sleep(500);
    frozen.child.kill('SIGSTOP');
    await untilDead(victim);
    // Back while the copy on `takeover` is still computing partition 0: the frozen attempt
    // finishes first and sends its partial, which must not count.
    frozen.child.kill('SIGCONT');
    const reports = await job;
    assert.deepEqual(reports.map((r) => r.rowStart).sort((a, b) => a - b), array.placement.map((p) => p.rowStart));
    assert.equal(reports.find((r) => r.rowStart === 0)?.pid, pidOf(takeover), 'partition 0 counted from the agent that took it over');
    assert.equal(reports.reduce((n, r) => n + r.elements, 0), rows);

    // It rejoins, keeping only the copies the coordinator still places on it.
    await untilNodes((nodes) => nodes.find((n) => n.id === victim)?.state === 'alive');
    const placed = (await cluster.open(array.name)).placement;
    const expected = placed.filter((p) => [p.agentId, ...(p.replicas ?? [])].includes(victim)).reduce((n, p) => n + p.byteLength, 0);
    await untilNodes((nodes) => nodes.find((n) => n.id === victim)?.usedBytes === expected);
    assert.equal(await cluster.reduce(array, 'sum'), rows);
  });

  it('an agent restarted (empty) before it is declared dead has its partitions served from their copies', async () => {
    const data = Float64Array.from({ length: 3000 }, (_, i) => i % 13);
    const array = await cluster.put(data, { name: 'fast-restart', partitions: 3 });
    const victim = servingAgent(array, 0);
    await processes.agents.get(victim)!.kill();
    await processes.addAgent(victim);
    // Read while the coordinator moves the partitions: it waits for them, never reads the empty agent.
    assert.deepEqual(await (await cluster.open('fast-restart')).toArray(), data);
    assert.equal(await cluster.reduce(await cluster.open('fast-restart'), 'sum'), data.reduce((a, b) => a + b, 0));
    // Two real copies again, and the agent holds what is placed on it.
    await untilNodes((nodes) => nodes.find((n) => n.id === victim)?.state === 'alive');
    for (let i = 0; i < VERDICT_POLLS; i++) {
      const placement = (await cluster.open('fast-restart')).placement;
      const placed = placement.filter((p) => [p.agentId, ...(p.replicas ?? [])].includes(victim)).reduce((n, p) => n + p.byteLength, 0);
      const used = (await cluster.nodes()).find((n) => n.id === victim)?.usedBytes;
      if (placement.every((p) => new Set([p.agentId, ...(p.replicas ?? [])]).size === 2) && used === placed) break;
      await sleep(POLL_MS);
    }
    const placement = (await cluster.open('fast-restart')).placement;
    assert.ok(placement.every((p) => new Set([p.agentId, ...(p.replicas ?? [])]).size === 2), JSON.stringify(placement));
  });

  it('a map output whose input was deleted is still rebuilt from it; deleting the output frees both', async () => {
    const data = Float64Array.from({ length: 3000 }, (_, i) => i % 17);
    const input = await cluster.put(data, { name: 'input', partitions: 3 });
    const output = await cluster.map(input, { module: KERNELS, kernel: 'scale', params: { factor: 3 } }, { name: 'tripled' });
    await input.delete();
    assert.deepEqual((await cluster.list()).map((a) => a.name), ['tripled']);
    const victim = servingAgent(output, 2);
    await processes.agents.get(victim)!.kill();
    await untilDead(victim);
    assert.deepEqual(await (await cluster.open('tripled')).toArray(), data.map((v) => v * 3));
    await output.delete();
    await untilNodes((nodes) => nodes.filter((n) => n.state === 'alive').every((n) => n.usedBytes === 0));
  });
});
