/**
 * Reduces that go straight from the client to the agents holding the partitions (tasks.run),
 * without the coordinator on the way, on real processes (nats-server, a coordinator, two
 * agents): the same results as through the coordinator, and when the direct way cannot answer
 * right (a partition moved after an agent died, an agent paused) the call still returns the
 * right value, through the coordinator, instead of failing or hanging.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MessageBus, PROTOCOL_VERSION, connectNats, createLogger, decodeMessage, encodeMessage, fromErrorData, subjectFor, type Transport } from '@sharc/protocol';
import { startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import { CancelledError, KernelError, PartitionNotHeldError, connect, type ArrayRef, type Cluster, type NodeInfo } from '../src/index.js';
import type { BlockReport } from './fixtures/recovery-kernels.js';
import { eventually, hangGuard } from './cluster-waits.js';
import { KERNELS } from './scenarios.js';

const RECOVERY_KERNELS = fileURLToPath(new URL('../../test/fixtures/recovery-kernels.ts', import.meta.url));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Far beyond what a call here takes, fallback included: one still pending then hangs. */
const bounded = hangGuard(60_000);

const ROWS = 80_000;
const COLS = 2;
/** 1.28 MB over 8 partitions, spread over both agents: each 160 KB runs inline; `big` below runs on the worker threads. */
const DATA = Float64Array.from({ length: ROWS * COLS }, (_, i) => Math.sin(i) * 10 + (i % 7));

/** Direct batches the agents ran, as their heartbeats report them (every second). */
async function directBatches(cluster: Cluster): Promise<number> {
  return (await cluster.nodes()).reduce((sum, node: NodeInfo) => sum + (node.direct?.batches ?? 0), 0);
}

describe('direct reduce: client → agents → client (real processes)', () => {
  let processes: ProcessCluster;
  /** Reduces go direct (the default). */
  let cluster: Cluster;
  /** Every job through the coordinator: what the direct way must agree with. */
  let viaCoordinator: Cluster;
  let data: ArrayRef;

  before(async () => {
    processes = await startProcessCluster({ agents: 2, threads: 1, memory: '256MiB' });
    cluster = await connect({ servers: processes.url });
    viaCoordinator = await connect({ servers: processes.url, directReduce: false });
    data = await cluster.put(DATA, { shape: [ROWS, COLS], name: 'direct-data', partitions: 8 });
  });
  after(async () => {
    await cluster?.close().catch(() => undefined);
    await viaCoordinator?.close().catch(() => undefined);
    await processes?.stop();
  });

  it('gives the results the coordinator gives, for built-ins and a custom kernel, over partitions on both agents', async () => {
    assert.equal(new Set(data.placement.map((p) => p.agentId)).size, 2, 'partitions are served by both agents');
    const before = await directBatches(cluster);
    const big = await cluster.put(Float64Array.from({ length: 400_000 }, (_, i) => (i % 101) - 50), { shape: [200_000, 2], partitions: 3 });
    for (const array of [data, big]) {
      const same = await viaCoordinator.open(array.name);
      for (const op of ['sum', 'min', 'max', 'mean', 'sumsq', 'count', 'argmin', 'argmax', 'var', 'std', 'norm'] as const) {
        assert.deepEqual(await cluster.reduce(array, op), await viaCoordinator.reduce(same, op), `${op} of ${array.name}`);
      }
      assert.deepEqual(await array.std({ ddof: 1 }), await same.std({ ddof: 1 }));
      assert.deepEqual(await array.mean({ axis: 0 }), await same.mean({ axis: 0 }));
      assert.deepEqual(await array.histogram({ bins: 7 }), await same.histogram({ bins: 7 }));
      const kernel = { module: KERNELS, partial: 'countAbove', combine: 'add', params: { threshold: 2.5 } };
      const expected = DATA.length === array.shape[0]! * COLS && array === data ? DATA.filter((v) => v > 2.5).length : undefined;
      const direct = await cluster.reduce<number>(array, kernel);
      assert.equal(direct, await viaCoordinator.reduce(same, kernel));
      if (expected !== undefined) assert.equal(direct, expected);
      // Block order is kept: a kernel whose partials list their rows gives them in row order.
      const reports = await cluster.reduce<BlockReport[]>(array, { module: RECOVERY_KERNELS, partial: 'reportBlock', combine: 'concatReports', params: { ms: 0 } });
      const starts = reports.map((r) => r.rowStart);
      assert.deepEqual(starts, [...starts].sort((a, b) => a - b));
      assert.equal(reports.reduce((n, r) => n + r.elements, 0), array.shape[0]! * COLS);
    }
    // Progress reaches the total, and comes in order.
    const seen: Array<[number, number]> = [];
    await cluster.reduce(big, { module: KERNELS, partial: 'slow', combine: 'add', params: { ms: 50 } }, { onProgress: (done, total) => seen.push([done, total]) });
    assert.ok(seen.length >= 2, JSON.stringify(seen));
    const total = seen[0]![1];
    assert.deepEqual(seen.at(-1), [total, total]);
    assert.ok(seen.every(([done], i) => i === 0 || done >= seen[i - 1]![0]), JSON.stringify(seen));
    // The agents ran them as direct batches (the coordinator hears of them in heartbeats).
    assert.ok(await eventually(async () => (await directBatches(cluster)) > before + 20), 'the agents count the direct batches');
    await big.delete();
  });

  it('fails with the KernelError naming the array, as through the coordinator', async () => {
    await assert.rejects(cluster.reduce(data, { module: KERNELS, partial: 'throwsOnSecondHalf', combine: 'add' }), (error: Error) => {
      assert.ok(error instanceof KernelError, `${error.name}: ${error.message}`);
      assert.match(error.message, /partition \d+ of array 'direct-data' \(rows \d+\.\.\d+\): .*bad value near row/);
      assert.match(error.stack ?? '', /kernels\.ts:\d+/);
      return true;
    });
    assert.equal(await cluster.reduce(data, 'count'), ROWS * COLS);
  });

  it('stops the batch on the agents when the caller aborts', async () => {
    const controller = new AbortController();
    const job = cluster.reduce(data, { module: KERNELS, partial: 'slow', combine: 'add', params: { ms: 60_000 } }, { signal: controller.signal });
    // Both agents are running it (their heartbeats say so) before the abort.
    assert.ok(await eventually(async () => (await cluster.nodes()).every((n) => (n.direct?.running ?? 0) > 0)), 'the batch runs on both agents');
    controller.abort();
    await assert.rejects(job, CancelledError);
    // The kernel spins for a minute unless its thread is stopped: the agents are free again at once.
    assert.ok(await eventually(async () => (await cluster.nodes()).every((n) => n.direct?.running === 0 && n.workInFlight === 0)), 'the agents stopped the batch');
    assert.equal(await bounded(cluster.reduce(data, { module: KERNELS, partial: 'countAbove', combine: 'add', params: { threshold: 1e9 } }, { timeoutMs: 20_000 }), 'a reduce'), 0);
  });

  it('answers a malformed or misdirected tasks.run with an error and keeps working', async () => {
    const transport: Transport = await connectNats({ servers: processes.url, name: 'raw-client' });
    const bus = new MessageBus(transport, 'raw-client', createLogger('raw-client', 'error'));
    try {
      const agentId = data.placement[0]!.agentId;
      const subject = subjectFor('default', { to: 'agent', agentId, verb: 'direct' });
      // Fields missing: refused before anything runs.
      const reply = decodeMessage(await transport.request(subject, encodeMessage({ v: PROTOCOL_VERSION, from: 'raw-client', type: 'tasks.run', jobId: 'bad' } as never), 5000));
      assert.equal(reply.type, 'error');
      assert.match(reply.type === 'error' ? reply.error.message : '', /malformed "tasks.run" message/);
      // A partition this agent does not hold: that job fails with a retryable PartitionNotHeldError
      // naming it; a map kernel is refused; the other job of the same message runs.
      const missing = data.placement.findIndex((p) => p.agentId !== agentId && !(p.replicas ?? []).includes(agentId));
      const index = missing < 0 ? 99 : missing;
      const held = data.placement.findIndex((p) => p.agentId === agentId);
      const answer = await bus.request(
        subject,
        {
          type: 'tasks.run',
          clientId: 'raw-client',
          jobs: [
            { jobId: 'misdirected', arrayId: data.id, partitions: [index], kernel: { kind: 'builtin', op: 'sum' } },
            { jobId: 'mapping', arrayId: data.id, partitions: [held], kernel: { kind: 'map', hash: 'h', module: 'm', kernel: 'k' } },
            { jobId: 'fine', arrayId: data.id, partitions: [held], kernel: { kind: 'builtin', op: 'count' } },
          ],
        },
        { timeoutMs: 5000 },
      );
      assert.equal(answer.type, 'tasks.done');
      const [misdirected, mapping, fine] = answer.type === 'tasks.done' ? answer.jobs : [];
      const notHeld = fromErrorData(misdirected!.error!);
      assert.ok(notHeld instanceof PartitionNotHeldError, `${notHeld.name}: ${notHeld.message}`);
      assert.equal(notHeld.retryable, true);
      assert.deepEqual(notHeld.details.partitions, [index]);
      assert.match(mapping!.error?.message ?? '', /runs reduce kernels/);
      assert.deepEqual(fine!.partitions, [{ index: held, blocks: 1, partial: data.placement[held]!.rowCount * COLS }]);
    } finally {
      await bus.close();
    }
    assert.deepEqual(await cluster.reduce(data, 'sum'), await viaCoordinator.reduce(data, 'sum'));
  });

  it('an agent paused longer than the liveness window: the right value through the coordinator, not a hang', async () => {
    const expected = await viaCoordinator.reduce(data, 'sum');
    const victim = data.placement[0]!.agentId;
    const agent = processes.agents.get(victim)!;
    agent.child.kill('SIGSTOP');
    try {
      assert.deepEqual(await bounded(cluster.reduce(data, 'sum'), 'a reduce while an agent is paused'), expected);
      // The next calls go direct to the other copies, without waiting out the silence again.
      const started = Date.now();
      assert.deepEqual(await bounded(cluster.reduce(data, 'sum'), 'the next reduce'), expected);
      assert.ok(Date.now() - started < 3000, 'the paused agent is passed over');
    } finally {
      agent.child.kill('SIGCONT');
    }
    assert.ok(await eventually(async () => (await cluster.nodes()).every((n) => n.state === 'alive')), 'the agent rejoins');
    assert.deepEqual(await cluster.reduce(data, 'sum'), expected);
  });

  it('a partition moved after its agent is SIGKILLed mid-job: the call still returns the right value', async () => {
    // A client of its own: it has not passed over any agent yet (the paused one above).
    const client = await connect({ servers: processes.url });
    try {
      const rows = 6000;
      // Small: the whole job goes to one agent holding every partition, partition 0's serving one.
      const array = await client.put(new Float64Array(rows).fill(1), { partitions: 6, name: 'moving' });
      const kernel = { module: RECOVERY_KERNELS, partial: 'reportBlock', combine: 'concatReports' };
      await client.reduce(array, { ...kernel, params: { ms: 0 } });
      const victim = array.placement[0]!.agentId;
      const job = client.reduce<BlockReport[]>(array, { ...kernel, params: { ms: 1500 } });
      await sleep(700);
      await processes.agents.get(victim)!.kill();
      const reports = await bounded(job, 'the reduce in flight');
      // Every row counted exactly once.
      assert.equal(reports.reduce((n, r) => n + r.elements, 0), rows);
      assert.deepEqual(
        reports.map((r) => r.rowStart),
        [...new Set(reports.map((r) => r.rowStart))].sort((a, b) => a - b),
      );
      assert.ok(reports.every((r) => r.pid !== processes.agents.get(victim)!.child.pid), 'no partial of the dead agent counts');
      // Placement is asked again after the fallback: the next calls go direct to the live agent.
      assert.ok(await eventually(async () => (await client.nodes()).some((n) => n.id === victim && n.state === 'dead')), 'the agent is declared dead');
      const batches = await directBatches(client);
      for (let i = 0; i < 5; i++) assert.equal(await client.reduce(array, 'sum'), rows);
      assert.ok(await eventually(async () => (await directBatches(client)) >= batches + 5), 'later reduces go direct again');
    } finally {
      await client.close();
    }
  });
});
