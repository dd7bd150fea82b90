/**
 * Placement after agents die and come back, with real processes (nats-server, a coordinator and
 * two agent processes):
 * - a `copies: 1` partition whose agent is only dead (paused) comes back with it, but one whose
 *   agent restarted without it is lost for good: jobs and reads fail at once with a
 *   PartitionLostError that is not retryable and says what to do, `list()` and `sharc ls` show
 *   the array as lost, and deleting it works;
 * - after an agent restarts and its copies are made again, the primaries (the copies that
 *   serve) are spread evenly again instead of staying piled onto the agent that survived.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, afterEach, before, describe, it } from 'node:test';
import { SHARC_BIN, startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import { DataLostError, PartitionLostError, connect, type ArrayRef, type Cluster } from '../src/index.js';
import { KERNELS } from './scenarios.js';

const AGENTS = ['agent-1', 'agent-2'];
/** Generous bounds for the cluster to notice a death (liveness window 3 s) or make copies. */
const POLLS = 200;
const POLL_MS = 100;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const run = promisify(execFile);
const holders = (p: ArrayRef['placement'][number]) => [p.agentId, ...(p.replicas ?? [])];

describe('placement after agents die and come back (real processes)', () => {
  let processes: ProcessCluster;
  let cluster: Cluster;
  before(async () => {
    processes = await startProcessCluster({ agents: 2, threads: 1, memory: '256MiB' });
    cluster = await connect({ servers: processes.url });
  });
  after(async () => {
    await cluster?.close();
    await processes?.stop();
  });
  // Each test kills, stops or restarts an agent: two live agents and no array after it.
  afterEach(async () => {
    for (const name of AGENTS) {
      const agent = processes.agents.get(name);
      agent?.child.kill('SIGCONT');
      if (agent === undefined || !agent.running) await processes.addAgent(name);
    }
    await until(async () => (await cluster.nodes()).filter((n) => n.state === 'alive').length === AGENTS.length, 'both agents alive');
    for (const ref of await cluster.list()) await ref.delete();
  });

  async function until(check: () => Promise<boolean>, what: string): Promise<void> {
    for (let i = 0; i < POLLS; i++) {
      if (await check()) return;
      await sleep(POLL_MS);
    }
    assert.fail(`never reached: ${what}: ${JSON.stringify(await cluster.nodes())}`);
  }
  const stateOf = async (agentId: string) => (await cluster.nodes()).find((n) => n.id === agentId)?.state;
  const untilDead = (agentId: string) => until(async () => (await stateOf(agentId)) === 'dead', `${agentId} declared dead`);
  const untilAlive = (agentId: string) => until(async () => (await stateOf(agentId)) === 'alive', `${agentId} alive`);
  const listed = async (name: string) => (await cluster.list()).find((a) => a.name === name);

  it('a copies-1 partition whose agent restarted empty is lost for good: a clear, final error; listed as lost; delete frees it', async () => {
    const data = Float64Array.from({ length: 4000 }, (_, i) => i % 7);
    const array = await cluster.put(data, { name: 'fragile', partitions: 4, copies: 1 });
    const victim = array.placement[0]!.agentId;
    const lostIndexes = array.placement.filter((p) => p.agentId === victim).map((p) => p.index);
    await processes.agents.get(victim)!.kill();
    await untilDead(victim);
    // Dead: it may come back with its memory, so this is retryable for now.
    await assert.rejects(cluster.reduce(array, 'sum'), (error: Error) => {
      assert.ok(error instanceof DataLostError && !(error instanceof PartitionLostError), `${error.name}: ${error.message}`);
      assert.equal((error as DataLostError).retryable, true);
      return true;
    });
    assert.equal((await listed('fragile'))?.state, 'ready');
    // It opens (so that it could be deleted); reading it says why it cannot be read.
    await assert.rejects((await cluster.open('fragile')).toArray(), (error: Error) => error instanceof DataLostError && (error as DataLostError).retryable);

    // Restarted under the same name, with empty memory: that partition will never come back.
    await processes.addAgent(victim);
    await untilAlive(victim);
    const final = (error: Error) => {
      assert.ok(error instanceof PartitionLostError && error instanceof DataLostError, `${error.name}: ${error.message}`);
      assert.equal(error.retryable, false);
      assert.equal(error.code, 'PARTITION_LOST');
      const which = lostIndexes.length === 1 ? `partition ${lostIndexes[0]}` : `partitions ${lostIndexes.join(', ')}`;
      assert.match(error.message, new RegExp(`array 'fragile' has lost ${which} for good: .*Delete it .*put it again, with \\{ copies: 2 \\}`));
      assert.doesNotMatch(error.message, /restart that agent|comes back/, 'no advice to wait for an agent that already came back');
      assert.deepEqual(error.details.partitions, lostIndexes);
      return true;
    };
    await assert.rejects(cluster.reduce(array, 'sum'), final);
    await assert.rejects(cluster.map(array, { module: KERNELS, kernel: 'scale', params: { factor: 2 } }), final);
    await assert.rejects(array.toArray(), final);
    // Listed, and said to be lost: by the SDK and by `sharc ls`.
    const lost = await listed('fragile');
    assert.equal(lost?.state, 'lost');
    assert.deepEqual(lost?.lostPartitions, lostIndexes);
    const { stdout: table } = await run(process.execPath, [SHARC_BIN, 'ls', '--servers', processes.url]);
    assert.match(table, /fragile .*lost \(partitions? [\d, ]+\)/, table);
    const { stdout: json } = await run(process.execPath, [SHARC_BIN, 'ls', '--servers', processes.url, '--json']);
    assert.deepEqual(
      (JSON.parse(json) as Array<{ name: string; state: string; lostPartitions?: number[] }>).map(({ name, state, lostPartitions }) => ({ name, state, lostPartitions })),
      [{ name: 'fragile', state: 'lost', lostPartitions: lostIndexes }],
    );
    // Deleting it works (by name, as `sharc rm` does) and frees what the other agent held.
    await run(process.execPath, [SHARC_BIN, 'rm', 'fragile', '--servers', processes.url]);
    assert.equal(await listed('fragile'), undefined);
    await until(async () => (await cluster.nodes()).every((n) => n.usedBytes === 0), 'every agent freed the lost array');
    // The name is free for the array put again.
    const again = await cluster.put(data, { name: 'fragile', partitions: 4 });
    assert.equal(await cluster.reduce(again, 'sum'), data.reduce((a, b) => a + b, 0));
  });

  it('an array whose only copy of a partition is on a dead agent can be deleted by name (sharc rm)', async () => {
    const array = await cluster.put(new Float64Array(4000).fill(2), { name: 'orphaned', partitions: 4, copies: 1 });
    const victim = array.placement[0]!.agentId;
    await processes.agents.get(victim)!.kill();
    await untilDead(victim);
    await run(process.execPath, [SHARC_BIN, 'rm', 'orphaned', '--servers', processes.url]);
    assert.equal(await listed('orphaned'), undefined);
    await until(async () => (await cluster.nodes()).every((n) => n.state === 'dead' || n.usedBytes === 0), 'the live agent freed its partitions');
  });

  it('a copies-1 partition whose agent is paused past the liveness window comes back with it, and jobs work again', async () => {
    const data = Float64Array.from({ length: 4000 }, (_, i) => i % 11);
    const array = await cluster.put(data, { name: 'paused', partitions: 4, copies: 1 });
    const victim = array.placement[0]!.agentId;
    const frozen = processes.agents.get(victim)!;
    frozen.child.kill('SIGSTOP');
    await untilDead(victim);
    await assert.rejects(cluster.reduce(array, 'sum'), (error: Error) => {
      assert.ok(error instanceof DataLostError && !(error instanceof PartitionLostError) && error.retryable, `${error.name}: ${error.message}`);
      assert.match(error.message, new RegExp(`partition \\d of 'paused' was stored only on agent ${victim}, which died: it is served again if that agent comes back with its memory`));
      return true;
    });
    frozen.child.kill('SIGCONT');
    await untilAlive(victim);
    assert.equal(await cluster.reduce(array, 'sum'), data.reduce((a, b) => a + b, 0));
    assert.deepEqual(await array.toArray(), data);
    assert.equal((await listed('paused'))?.state, 'ready');
  });

  it('a copies-1 partition whose agent restarted while the coordinator was down is lost for good once the others rejoined', async () => {
    const data = Float64Array.from({ length: 4000 }, (_, i) => i % 5);
    const array = await cluster.put(data, { name: 'restarted-both', partitions: 4, copies: 1 });
    const victim = array.placement[0]!.agentId;
    const lostIndexes = array.placement.filter((p) => p.agentId === victim).map((p) => p.index);
    await processes.coordinator.kill();
    await processes.agents.get(victim)!.kill();
    await Promise.all([processes.restartCoordinator(), processes.addAgent(victim)]);
    await assert.rejects(cluster.reduce(array, 'sum'), (error: Error) => {
      assert.ok(error instanceof PartitionLostError && !error.retryable, `${error.name}: ${error.message}`);
      assert.deepEqual(error.details.partitions, lostIndexes);
      return true;
    });
    assert.deepEqual((await listed('restarted-both'))?.lostPartitions, lostIndexes);
    await (await cluster.open('restarted-both')).delete();
    assert.equal(await listed('restarted-both'), undefined);
  });

  it('after an agent restarts and its copies are made again, the partitions are served half by each agent again', async () => {
    const data = Float64Array.from({ length: 8000 }, (_, i) => (i % 13) - 6);
    const array = await cluster.put(data, { name: 'balanced', partitions: 8, copies: 2 });
    const servedBy = (ref: ArrayRef, agentId: string) => ref.placement.filter((p) => p.agentId === agentId).length;
    assert.deepEqual(AGENTS.map((id) => servedBy(array, id)), [4, 4], 'served half by each from the start');
    const victim = 'agent-1';
    await processes.agents.get(victim)!.kill();
    await untilDead(victim);
    // The survivor serves everything meanwhile.
    assert.equal(servedBy(await cluster.open('balanced'), 'agent-2'), 8);
    await processes.addAgent(victim);
    await untilAlive(victim);
    // Its copies are made again: every partition on both agents.
    await until(async () => (await cluster.open('balanced')).placement.every((p) => new Set(holders(p)).size === 2), 'two copies of every partition again');
    const placement = (await cluster.open('balanced')).placement;
    assert.deepEqual(AGENTS.map((id) => placement.filter((p) => p.agentId === id).length), [4, 4], `served 4/4 again: ${JSON.stringify(placement)}`);
    assert.equal(await cluster.reduce(await cluster.open('balanced'), 'sum'), data.reduce((a, b) => a + b, 0));
    assert.deepEqual(await (await cluster.open('balanced')).toArray(), data);
    // The agents hold what the coordinator placed on them: every copy, twice in all.
    await until(async () => (await cluster.nodes()).every((n) => n.usedBytes === array.byteLength), 'each agent holds a full copy');
  });
});
