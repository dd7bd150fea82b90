/**
 * Detached jobs as a hostile user drives them, on real processes: nats-server with JetStream, a
 * coordinator keeping its state there, agent processes with real worker threads.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { PROTOCOL_VERSION, ProtocolError, connectNats, decodeMessage, encodeValue, subjectFor, type MessageOf } from '@sharc/protocol';
import { startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import { connect, CancelledError, InvalidArgumentError, type Cluster } from '../src/index.js';

const HOSTILE = fileURLToPath(new URL('../../test/fixtures/hostile-kernels.ts', import.meta.url));

describe('detached jobs against a hostile user (real processes)', () => {
  let processes: ProcessCluster;
  let cluster: Cluster;
  before(async () => {
    processes = await startProcessCluster({ agents: 2, threads: 1, memory: '128MiB' });
    cluster = await connect({ servers: processes.url });
  });
  after(async () => {
    await cluster?.close();
    await processes?.stop();
  });

  it("a custom reduce whose combine never ends: while an agent merges its partials it is listed as running, and cancel() stops it", async () => {
    // One block per partition: the partials are only ever merged by partials.combine.
    const array = await cluster.put(new Float64Array(400).fill(1), { partitions: 4 });
    const job = await cluster.submit('reduce', array, { module: HOSTILE, partial: 'one', combine: 'foldForever' });
    // Every block done: the job is left with merging its partials, which never ends.
    for (;;) {
      const info = await job.status();
      assert.equal(info.state === 'queued' || info.state === 'running', true, JSON.stringify(info));
      if (info.totalBlocks > 0 && info.doneBlocks === info.totalBlocks) break;
      await sleep(50);
    }
    const listed = (await cluster.jobs()).find((j) => j.jobId === job.id);
    assert.equal(listed?.state, 'running', 'sharc jobs lists the job while its value is being made');
    await job.cancel();
    const info = await job.wait();
    assert.equal(info.state, 'cancelled');
    await assert.rejects(job.result(), CancelledError);
    // The agents' one thread each is free again: a custom reduce runs on every partition.
    assert.equal(await cluster.reduce(array, { module: HOSTILE, partial: 'one', combine: 'add' }, { timeoutMs: 60_000 }), 4);
  });

  it("onLog given to a detached job's wait is refused, saying where its kernel's output goes (it was silently ignored)", async () => {
    const array = await cluster.put(new Float64Array(100).fill(1));
    const job = await cluster.submit('reduce', array, 'sum');
    const refused = (error: unknown) => error instanceof InvalidArgumentError && /onLog/.test(error.message) && /agents' logs/.test(error.message);
    await assert.rejects(job.wait({ onLog: () => undefined } as never), refused);
    await assert.rejects(job.result({ onLog: () => undefined } as never), refused);
    assert.equal(await job.result(), 100);
  });

  it('a giant or garbage job id is refused by the SDK naming the rule, never sent', async () => {
    for (const id of ['a'.repeat(100_000), 'a'.repeat(129), '../x', '', 'a.b']) {
      await assert.rejects(cluster.job(id), (error: unknown) => error instanceof InvalidArgumentError && /not a job id/.test(error.message) && error.message.length < 400, `${id.slice(0, 20)}…`);
      await assert.rejects(cluster.cancel(id), (error: unknown) => error instanceof InvalidArgumentError && /not a job id/.test(error.message) && error.message.length < 400);
    }
  });

  it('a timeout longer than a timer can hold (30 days) is refused naming the limit, not a job failed at once', async () => {
    const array = await cluster.put(new Float64Array(100).fill(1));
    const month = 30 * 24 * 60 * 60 * 1000;
    const refused = (error: unknown) => error instanceof InvalidArgumentError && /timeoutMs .*at most/.test(error.message);
    await assert.rejects(cluster.submit('reduce', array, 'sum', { timeoutMs: month }), refused);
    await assert.rejects(cluster.reduce(array, 'sum', { timeoutMs: month }), refused);
    const job = await cluster.submit('reduce', array, 'sum');
    await assert.rejects(job.wait({ timeoutMs: month }), refused);
    // A client that skips the SDK is refused too: its job would have timed out at once.
    const raw = await connectNats({ servers: processes.url, name: 'raw' });
    try {
      const launch = encodeValue({ v: PROTOCOL_VERSION, from: 'raw', type: 'job.launch', jobId: 'rawlaunch', spec: { kind: 'reduce', arrayId: array.id, kernel: { kind: 'builtin', op: 'sum' } }, timeoutMs: month });
      const reply = decodeMessage(await raw.request(subjectFor('default', { to: 'coordinator', verb: 'client' }), launch, 5000));
      assert.equal(reply.type, 'error');
      assert.equal((reply as MessageOf<'error'>).error.code, ProtocolError.code);
    } finally {
      await raw.close();
    }
  });

  it('a custom reduce whose combine never ends fails at its timeout, and the agent merging its partials is stopped', async () => {
    const array = await cluster.put(new Float64Array(400).fill(1), { partitions: 4 });
    const job = await cluster.submit('reduce', array, { module: HOSTILE, partial: 'one', combine: 'foldForever' }, { timeoutMs: 3000 });
    const info = await job.wait();
    assert.equal(info.state, 'failed');
    assert.match(info.error?.message ?? '', /within/);
    assert.equal(await cluster.reduce(array, { module: HOSTILE, partial: 'one', combine: 'add' }, { timeoutMs: 60_000 }), 4);
  });
});

describe('detached jobs across a NATS restart (real processes)', () => {
  let processes: ProcessCluster;
  let cluster: Cluster;
  before(async () => {
    processes = await startProcessCluster({ agents: 1, threads: 1, memory: '64MiB' });
    cluster = await connect({ servers: processes.url });
  });
  after(async () => {
    await cluster?.close();
    await processes?.stop();
  });

  it("right after nats-server restarts, a job's status and a new submit are answered (asked again, not left to their 2-minute timeout)", async () => {
    const array = await cluster.put(new Float64Array(1000).fill(2), { partitions: 2 });
    const job = await cluster.submit('reduce', array, 'sum');
    assert.equal(await job.result(), 2000);
    await processes.nats!.restart();
    // Each call's reply would have been lost with the old connection's subscriptions.
    const info = await job.status();
    assert.equal(info.state, 'done');
    assert.equal(info.value, 2000);
    await processes.nats!.restart();
    const again = await cluster.submit('reduce', array, 'max');
    assert.equal(await again.result(), 2);
  });
});

