/**
 * Malformed messages on every subject the services listen on, and garbage on an agent's data
 * port: each is refused (an `error` reply for requests, a drop for events), and no process of
 * the cluster crashes or loses what it stores.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  PROTOCOL_VERSION,
  ProtocolError,
  connectNats,
  decodeMessage,
  encodeValue,
  subjectFor,
  type MessageOf,
  type Transport,
} from '@sharc/protocol';
import { startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import { connect, type ArrayRef, type Cluster } from '../src/index.js';

describe('hostile messages on a real cluster', () => {
  let processes: ProcessCluster;
  let cluster: Cluster;
  let raw: Transport;
  let stored: ArrayRef;
  const data = Float64Array.from({ length: 10_000 }, (_, i) => i);

  before(async () => {
    processes = await startProcessCluster({ agents: 2, threads: 1, memory: '256MiB' });
    cluster = await connect({ servers: processes.url });
    raw = await connectNats({ servers: processes.url, name: 'attacker' });
    stored = await cluster.put(data, { name: 'precious', partitions: 2 });
  });
  after(async () => {
    await raw?.close();
    await cluster?.close();
    await processes?.stop();
  });

  const requestSubjects = () => [
    subjectFor('default', { to: 'coordinator', verb: 'client' }),
    subjectFor('default', { to: 'coordinator', verb: 'agent' }),
    ...['agent-1', 'agent-2'].flatMap((agentId) => [
      subjectFor('default', { to: 'agent', agentId, verb: 'control' }),
      subjectFor('default', { to: 'agent', agentId, verb: 'task' }),
    ]),
  ];
  /** No process of the cluster has died, by exit or by signal. */
  const allAlive = () =>
    [processes.coordinator, ...processes.agents.values()].every((service) => service.running);
  const payloads = (): Array<[string, Uint8Array]> => [
    ['random bytes', randomBytes(64)],
    ['empty payload', new Uint8Array(0)],
    ['msgpack that is not a map', encodeValue([1, 2, 3])],
    ['another protocol version', encodeValue({ v: PROTOCOL_VERSION + 1, from: 'x', type: 'nodes.list' })],
    ['a known type with wrong fields', encodeValue({ v: PROTOCOL_VERSION, from: 'x', type: 'array.create', dtype: 'float64', shape: [-1] })],
    ['huge lengths and negative offsets', encodeValue({ v: PROTOCOL_VERSION, from: 'x', type: 'partition.allocate', arrayId: 'a', dtype: 'float64', shape: [1e300], partition: { index: -1, rowStart: -5, rowCount: 1, byteLength: 8, agentId: 'agent-1' } })],
    ['an unknown type', encodeValue({ v: PROTOCOL_VERSION, from: 'x', type: 'format.disk' })],
  ];

  it('answers every malformed request with a ProtocolError reply', async () => {
    for (const subject of requestSubjects()) {
      for (const [what, payload] of payloads()) {
        const reply = decodeMessage(await raw.request(subject, payload, 5000));
        assert.equal(reply.type, 'error', `${what} on ${subject}`);
        assert.equal((reply as MessageOf<'error'>).error.code, ProtocolError.code, `${what} on ${subject}`);
      }
    }
  });

  it('refuses a valid message sent to the wrong service', async () => {
    const wrongPlace = encodeValue({ v: PROTOCOL_VERSION, from: 'x', type: 'partition.free', arrayId: stored.id });
    const reply = decodeMessage(await raw.request(subjectFor('default', { to: 'coordinator', verb: 'client' }), wrongPlace, 5000));
    assert.equal(reply.type, 'error');
  });

  it('refuses to commit or abort an array without its upload token', async () => {
    for (const type of ['array.abort', 'array.commit']) {
      const forged = encodeValue({ v: PROTOCOL_VERSION, from: 'x', type, arrayId: stored.id, transferToken: 'guess' });
      const reply = decodeMessage(await raw.request(subjectFor('default', { to: 'coordinator', verb: 'client' }), forged, 5000));
      assert.equal(reply.type, 'error', type);
      assert.match((reply as MessageOf<'error'>).error.message, /not an upload in progress/);
    }
    assert.deepEqual(await (await cluster.open('precious')).toArray(), data);
  });

  it('refuses ids that could widen a subject', async () => {
    const submit = encodeValue({
      v: PROTOCOL_VERSION,
      from: 'x',
      type: 'job.submit',
      jobId: 'bad.job',
      spec: { kind: 'reduce', arrayId: stored.id, kernel: { kind: 'builtin', op: 'sum' } },
    });
    const reply = decodeMessage(await raw.request(subjectFor('default', { to: 'coordinator', verb: 'client' }), submit, 5000));
    assert.equal(reply.type, 'error');
    assert.equal((reply as MessageOf<'error'>).error.code, ProtocolError.code);
  });

  it('refuses array names that do not print from a client that skips the SDK, naming position and code point', async () => {
    const client = subjectFor('default', { to: 'coordinator', verb: 'client' });
    const requests: Array<[string, Record<string, unknown>]> = [
      ['array.create', { type: 'array.create', name: 'x\x1b[2J', dtype: 'float64', shape: [4] }],
      ['array.load', { type: 'array.load', name: 'x\x1b[2J', source: { path: '/nonexistent.npy', format: 'npy' } }],
      [
        'job.submit of a map',
        {
          type: 'job.submit',
          jobId: 'named-badly',
          spec: { kind: 'map', arrayId: stored.id, kernel: { kind: 'builtin', op: 'sum' }, dtype: 'float64', cols: 1, outputName: 'x\x1b[2J' },
        },
      ],
    ];
    for (const [what, fields] of requests) {
      const reply = decodeMessage(await raw.request(client, encodeValue({ v: PROTOCOL_VERSION, from: 'x', ...fields }), 5000));
      assert.equal(reply.type, 'error', what);
      const { error } = reply as MessageOf<'error'>;
      assert.equal(error.code, ProtocolError.code, what);
      assert.match(error.message, /position 2: U\+001B \(ESC\)/, what);
    }
    assert.deepEqual((await cluster.list()).map((a) => a.name), ['precious']);
  });

  it('drops malformed events without crashing anyone', async () => {
    const eventSubjects = [
      subjectFor('default', { to: 'announcements' }),
      subjectFor('default', { to: 'agents', verb: 'cancel' }),
      subjectFor('default', { to: 'coordinator', verb: 'agent' }),
      subjectFor('default', { to: 'job', clientId: 'nobody', jobId: 'nope' }),
    ];
    for (let i = 0; i < 200; i++) {
      for (const subject of [...eventSubjects, ...requestSubjects()]) raw.publish(subject, randomBytes(1 + (i % 300)));
    }
    // Give late failures (a crash after the burst) time to show.
    for (let i = 0; i < 30; i++) {
      await cluster.nodes();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(allAlive(), 'every process of the cluster is still running');
  });

  it('closes a data connection that sends garbage, and keeps serving', async () => {
    const listed = decodeMessage(
      await raw.request(subjectFor('default', { to: 'coordinator', verb: 'client' }), encodeValue({ v: PROTOCOL_VERSION, from: 'x', type: 'nodes.list' }), 5000),
    ) as MessageOf<'nodes.listed'>;
    for (const agent of listed.agents) {
      const answer = await new Promise<Buffer>((resolve, reject) => {
        const socket = net.connect({ host: agent.dataHost, port: agent.dataPort });
        const chunks: Buffer[] = [];
        socket.on('data', (c: Buffer) => chunks.push(c));
        socket.on('close', () => resolve(Buffer.concat(chunks)));
        socket.on('error', reject);
        socket.write(Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0x7f]), randomBytes(256)]));
      });
      assert.ok(answer.length > 4, 'the agent answers with an error frame before closing');
    }
    assert.ok(allAlive(), 'every process of the cluster is still running');
  });

  it('still serves, with every stored array intact', async () => {
    assert.ok(allAlive(), 'every process of the cluster is still running');
    const reopened = await cluster.open('precious');
    assert.deepEqual(await reopened.toArray(), data);
    assert.equal(await cluster.reduce(reopened, 'sum'), (data.length * (data.length - 1)) / 2);
    assert.equal((await cluster.nodes()).filter((n) => n.state === 'alive').length, 2);
  });
});
