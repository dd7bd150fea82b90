/**
 * Saved coordinator state that a coordinator cannot read, on real processes (nats-server with
 * JetStream, `sharc coordinator`, two agents): a record that does not match its schema, is of a
 * newer state format version or cut short (not msgpack) stops `sharc coordinator` with an error
 * naming the bucket, the key, what is wrong and what to do, and nothing is freed (the agents
 * report the same memory in use). Once the record is fixed (written back as a version 0 record,
 * which is migrated), a coordinator starts and serves the array, every byte intact.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { Kvm, type KV } from '@nats-io/kv';
import { STATE_FORMAT_VERSION } from '@sharc/coordinator';
import { connectNats, decodeMessage, decodeValue, encodeValue, natsConnectionOf, subjectFor, type Transport } from '@sharc/protocol';
import { connect, type Cluster } from '@sharc/sdk';
import { SHARC_BIN, startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import type { SharcRun } from './run-sharc.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** A coordinator that neither exits nor gets ready by then is a failure (it waits up to a lease, 3 s, first). */
const COORDINATOR_EXIT_TIMEOUT_MS = 60_000;

describe('saved coordinator state that cannot be read (nats-server with JetStream, `sharc coordinator`, 2 agent processes)', () => {
  let processes: ProcessCluster;
  let cluster: Cluster;
  let transport: Transport;
  let kv: KV;
  /** The memory each agent reports in its heartbeats (every second), latest first. */
  const reported = new Map<string, number>();

  /** `sharc coordinator` as an operator starts it; resolves when it exits. */
  const runCoordinator = () =>
    new Promise<SharcRun>((resolve, reject) => {
      const child = spawn(process.execPath, [SHARC_BIN, 'coordinator', '--servers', processes.url], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, SHARC_LOG_LEVEL: 'warn' },
        timeout: COORDINATOR_EXIT_TIMEOUT_MS,
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stdout, stderr }));
    });

  /** What the agents report once two heartbeats in a row agree. */
  const settledReports = async (): Promise<Record<string, number>> => {
    let previous = '';
    for (let attempt = 0; attempt < 30; attempt++) {
      await sleep(1200);
      const current = JSON.stringify(Object.fromEntries([...reported].sort()));
      if (current === previous && reported.size === 2) return JSON.parse(current) as Record<string, number>;
      previous = current;
    }
    throw new Error(`agent reports did not settle: ${previous}`);
  };

  before(async () => {
    processes = await startProcessCluster({ agents: 2, threads: 1, memory: '128MiB' });
    cluster = await connect({ servers: processes.url });
    transport = await connectNats({ servers: processes.url, name: 'state-test' });
    kv = await new Kvm(natsConnectionOf(transport)!).open('sharc-default');
    transport.subscribe(subjectFor('default', { to: 'coordinator', verb: 'agent' }), (data) => {
      const message = decodeMessage(data);
      if (message.type === 'agent.heartbeat') reported.set(message.agentId, message.usedBytes);
    });
  });
  after(async () => {
    await cluster?.close();
    await transport?.close();
    await processes?.stop();
  });

  it('stops at startup naming the bucket, key and fix; frees nothing; starts and serves the array once the record is fixed', async () => {
    const data = Float64Array.from({ length: 20_000 }, (_, i) => Math.sin(i));
    const kept = await cluster.put(data, { name: 'kept', partitions: 2 });
    const usedBefore = await settledReports();
    assert.equal(Object.values(usedBefore).reduce((a, b) => a + b, 0), 2 * data.byteLength, 'two copies of every partition');

    await processes.coordinator.kill();
    const key = `array.${kept.id}`;
    const stored = await kv.get(key);
    assert.ok(stored !== null);
    const record = decodeValue(stored.value) as { v: number; value: { meta: Record<string, unknown> } };
    assert.equal(record.v, STATE_FORMAT_VERSION);

    const cases: Array<[string, Uint8Array, RegExp]> = [
      [
        'a record that does not match its schema',
        encodeValue({ v: record.v, value: { ...record.value, meta: { ...record.value.meta, shape: 'wide' } } }),
        new RegExp(`Record ${key}: it does not match the array record of version ${STATE_FORMAT_VERSION}: meta\\.shape: `),
      ],
      [
        'a record of a newer version',
        encodeValue({ v: STATE_FORMAT_VERSION + 1, value: record.value }),
        new RegExp(`Record ${key}: it has state format version ${STATE_FORMAT_VERSION + 1}, and this coordinator reads versions up to ${STATE_FORMAT_VERSION}: a newer sharc wrote it`),
      ],
      ['a record cut short', Uint8Array.from(stored.value.subarray(0, 40)), new RegExp(`Record ${key}: it is not msgpack \\(40 bytes\\): Unexpected end of MessagePack data`)],
    ];
    for (const [what, bytes, reason] of cases) {
      await kv.put(key, bytes);
      const run = await runCoordinator();
      assert.equal(run.code, 1, `${what}: ${run.stderr}`);
      assert.doesNotMatch(run.stdout, /sharc coordinator ready/);
      assert.match(run.stderr, /sharc: the coordinator cannot read its saved state in the JetStream bucket sharc-default and stopped, changing nothing \(no agent was told to free anything\)\./);
      assert.match(run.stderr, reason);
      assert.match(run.stderr, /Run the sharc version that wrote it, or repair or delete that record \(nats kv get\/del sharc-default KEY\)\. To start fresh instead: --state memory/);
      assert.ok(Buffer.from((await kv.get(key))!.value).equals(bytes), `${what}: the record is left as it was`);
      // Nothing was freed: the agents hold what they held.
      assert.deepEqual(await settledReports(), usedBefore, what);
    }

    // Fixed: the record as it was, minus its version field (version 0, which is migrated).
    await kv.put(key, encodeValue({ value: record.value }));
    await processes.restartCoordinator();
    const served = await cluster.open('kept');
    assert.deepEqual(served.placement, kept.placement);
    assert.deepEqual(await served.toArray(), data);
    assert.deepEqual((await cluster.list()).map((a) => a.name), ['kept']);
    assert.deepEqual(await settledReports(), usedBefore, 'every copy is still held');
    const rewritten = await kv.get(key);
    assert.equal((decodeValue(rewritten!.value) as { v: number }).v, STATE_FORMAT_VERSION, 'the migrated record is written back in the current version');
    await served.delete();
  });
});
