/**
 * A bounded fuzz of every subject the services listen on, against a real cluster (nats-server,
 * a coordinator and two agent processes): more than 10,000 hostile messages from a seeded PRNG
 * (SHARC_FUZZ_SEED=N replays a run), as requests and as publishes, then random frames on the
 * agents' data ports. Every request is refused with the error its service owes it, every
 * refusal is logged, no process dies, and what the cluster stored before is intact after.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PROTOCOL_VERSION, connectNats, decodeMessage, encodeValue, subjectFor, type MessageOf, type Transport } from '@sharc/protocol';
import { startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import { connect, type ArrayRef, type Cluster } from '../src/index.js';
import { Prng, hostileMessage, validOutcomes, type ServiceKind } from './fixtures/hostile.js';
import { KERNELS } from './scenarios.js';

const SEED = Number(process.env.SHARC_FUZZ_SEED ?? randomInt(2 ** 31));
const REQUESTS = 6_000;
const PUBLISHES = 6_000;
const IN_FLIGHT = 48;
/** Publishes between two round trips: keeps the services' subscriptions from overflowing (slow consumers). */
const PUBLISH_BURST = 100;
const DATA_CONNECTIONS = 1_000;
const AGENTS = ['agent-1', 'agent-2'] as const;
/** What the services log for a message they refuse or drop (MessageBus). */
const REFUSAL_LINE = /"msg":"(request refused|request failed|dropped an invalid message)"/g;

describe(`fuzz: hostile messages on every subject (seed ${SEED}; replay with SHARC_FUZZ_SEED=${SEED})`, () => {
  let processes: ProcessCluster;
  let cluster: Cluster;
  let raw: Transport;
  let logDir: string;
  let stored: ArrayRef;
  let mapped: ArrayRef;
  const data = Float64Array.from({ length: 50_000 }, (_, i) => (i * 7) % 1000);
  const sum = data.reduce((a, b) => a + b, 0);
  /** Refusals each service must have logged: counted as the fuzz sends. */
  const expectedLogged = { coordinator: 0, agents: 0 };
  const loggedBefore = { coordinator: 0, agents: 0 };

  const subjects: Array<{ subject: string; service: ServiceKind }> = [
    { subject: subjectFor('default', { to: 'coordinator', verb: 'client' }), service: 'coordinator-client' },
    { subject: subjectFor('default', { to: 'coordinator', verb: 'agent' }), service: 'coordinator-agent' },
    ...AGENTS.flatMap((agentId) => [
      { subject: subjectFor('default', { to: 'agent', agentId, verb: 'control' }), service: 'agent-control' as const },
      { subject: subjectFor('default', { to: 'agent', agentId, verb: 'task' }), service: 'agent-task' as const },
    ]),
  ];
  const allAlive = () => [processes.coordinator, ...processes.agents.values()].every((service) => service.running);
  const refusalsLogged = async () => {
    const count = async (name: string) => ((await readFile(path.join(logDir, `${name}.log`), 'utf8')).match(REFUSAL_LINE) ?? []).length;
    const agents = await Promise.all(AGENTS.map(count));
    return { coordinator: await count('coordinator'), agents: agents.reduce((a, b) => a + b, 0) };
  };

  before(async () => {
    // The test's own client drops the garbage sent to its job subject: keep it quiet.
    process.env.SHARC_LOG_LEVEL = 'error';
    logDir = await mkdtemp(path.join(os.tmpdir(), 'sharc-fuzz-'));
    processes = await startProcessCluster({ agents: 2, threads: 1, memory: '256MiB', logDir, env: { SHARC_LOG_LEVEL: 'info' } });
    cluster = await connect({ servers: processes.url });
    raw = await connectNats({ servers: processes.url, name: 'fuzzer' });
    stored = await cluster.put(data, { name: 'precious', shape: [10_000, 5], partitions: 3 });
    mapped = await cluster.map(stored, { module: KERNELS, kernel: 'scale', params: { factor: 3 } }, { dtype: 'float64', name: 'tripled' });
    Object.assign(loggedBefore, await refusalsLogged());
  });
  after(async () => {
    await raw?.close();
    await cluster?.close();
    await processes?.stop();
    if (logDir !== undefined) await rm(logDir, { recursive: true, force: true });
  });

  it(`refuses ${REQUESTS} hostile requests with the error each service owes, and drops ${PUBLISHES} hostile publishes`, async () => {
    const rng = new Prng(SEED);
    // The test client's own job subject, so its listener gets the garbage too.
    const clientId = (cluster as unknown as { bus: { sender: string } }).bus.sender;
    const eventSubjects = [
      subjectFor('default', { to: 'agents', verb: 'cancel' }),
      subjectFor('default', { to: 'announcements' }),
      subjectFor('default', { to: 'job', clientId, jobId: 'fuzz-job' }),
    ];
    const codes = new Map<string, number>();
    /** A message's expected answer from `service`: ProtocolError when malformed, else what the table says. */
    const expected = (message: ReturnType<typeof hostileMessage>, service: ServiceKind) =>
      message.malformed ? ['PROTOCOL_ERROR'] : validOutcomes(service, message.type!);
    const countLogged = (service: ServiceKind, outcomes: readonly string[], times = 1) => {
      if (outcomes.includes('ok')) return;
      if (service.startsWith('coordinator')) expectedLogged.coordinator += times;
      else expectedLogged.agents += times;
    };

    const started = Date.now();
    for (let sent = 0; sent < REQUESTS; sent += IN_FLIGHT) {
      await Promise.all(
        Array.from({ length: Math.min(IN_FLIGHT, REQUESTS - sent) }, async () => {
          const message = hostileMessage(rng);
          const { subject, service } = rng.pick(subjects);
          const outcomes = expected(message, service);
          countLogged(service, outcomes);
          // A valid load of a missing file is refused by the agent the coordinator asks, too.
          if (!message.malformed && service === 'coordinator-client' && message.type === 'array.load') expectedLogged.agents++;
          const reply = decodeMessage(await raw.request(subject, message.bytes, 10_000));
          const outcome = reply.type === 'error' ? (reply as MessageOf<'error'>).error.code : reply.type;
          codes.set(outcome, (codes.get(outcome) ?? 0) + 1);
          assert.ok(outcomes.includes(outcome), `${message.what} on ${subject}: expected ${outcomes.join(' or ')}, got ${outcome} ${JSON.stringify(reply).slice(0, 300)}`);
        }),
      );
    }
    for (let sent = 0; sent < PUBLISHES; sent++) {
      const message = hostileMessage(rng);
      if (rng.int(2) === 0) {
        const { subject, service } = rng.pick(subjects);
        raw.publish(subject, message.bytes);
        countLogged(service, expected(message, service));
        if (!message.malformed && service === 'coordinator-client' && message.type === 'array.load') expectedLogged.agents++;
      } else {
        const subject = rng.pick(eventSubjects);
        raw.publish(subject, message.bytes);
        // Every agent hears the cancel broadcast and drops what is malformed; valid cancels of unknown jobs are no-ops.
        if (subject === eventSubjects[0] && message.malformed) expectedLogged.agents += AGENTS.length;
      }
      if (sent % PUBLISH_BURST === PUBLISH_BURST - 1) await cluster.nodes();
    }
    console.log(`fuzz seed ${SEED}: ${REQUESTS} requests and ${PUBLISHES} publishes in ${Date.now() - started} ms; replies by code: ${JSON.stringify(Object.fromEntries(codes))}`);
    assert.ok(!codes.has('INTERNAL'), 'no hostile message is taken for a bug of sharc');
    assert.ok(allAlive(), 'every process of the cluster is still running');
  });

  it('logs every refusal', async () => {
    const want = { coordinator: loggedBefore.coordinator + expectedLogged.coordinator, agents: loggedBefore.agents + expectedLogged.agents };
    let logged = await refusalsLogged();
    for (let i = 0; i < 100 && (logged.coordinator < want.coordinator || logged.agents < want.agents); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      logged = await refusalsLogged();
    }
    console.log(`refusals logged: coordinator ${logged.coordinator - loggedBefore.coordinator}, agents ${logged.agents - loggedBefore.agents}`);
    assert.deepEqual(logged, want);
  });

  it(`closes ${DATA_CONNECTIONS} data connections that send random frames, and keeps serving`, async () => {
    const rng = new Prng(SEED ^ 0x5eed);
    const ports = await dataPorts(raw);
    assert.equal(ports.length, AGENTS.length);
    const frame = () => {
      const header = rng.bytes(rng.int(200));
      const length = Buffer.alloc(4);
      // A declared header length that is honest, short, zero or far too large.
      length.writeUInt32LE(rng.pick([header.length, 0, rng.int(2 ** 32), 70_000, header.length + 10]));
      return Buffer.concat([length, header, rng.bytes(rng.int(64))]);
    };
    let closed = 0;
    for (let sent = 0; sent < DATA_CONNECTIONS; sent += 20) {
      await Promise.all(
        Array.from({ length: 20 }, () =>
          new Promise<void>((resolve) => {
            const { host, port } = rng.pick(ports);
            const socket = net.connect({ host, port });
            // A frame that is still incomplete is not refused: the client hangs up, as a real one would.
            const timer = setTimeout(() => socket.destroy(), 300);
            socket.on('close', () => {
              clearTimeout(timer);
              closed++;
              resolve();
            });
            socket.on('error', () => undefined);
            socket.write(frame());
          }),
        ),
      );
    }
    assert.equal(closed, DATA_CONNECTIONS);
    assert.ok(allAlive(), 'every process of the cluster is still running');
  });

  it('still serves afterwards: stored arrays read back exactly, reduce is right, a new job and a new put work', async () => {
    assert.ok(allAlive(), 'every process of the cluster is still running');
    const nodes = await cluster.nodes();
    assert.deepEqual(nodes.map((n) => [n.id, n.state]).sort(), AGENTS.map((id) => [id, 'alive']), 'no ghost agent registered, none lost');
    assert.deepEqual((await cluster.list()).map((a) => a.name).sort(), ['precious', 'tripled'], 'no array appeared or vanished');
    const precious = await cluster.open('precious');
    assert.equal(precious.id, stored.id);
    assert.deepEqual(await precious.toArray(), data);
    assert.equal(await cluster.reduce(precious, 'sum'), sum);
    assert.deepEqual(await (await cluster.open('tripled')).toArray(), data.map((v) => v * 3));
    assert.equal(mapped.name, 'tripled');
    const again = await cluster.map(precious, { module: KERNELS, kernel: 'scale', params: { factor: 2 } }, { dtype: 'float64' });
    assert.deepEqual(await again.toArray(), data.map((v) => v * 2));
    const fresh = await cluster.put(Float64Array.of(1, 2, 3), { name: 'after-fuzz' });
    assert.equal(await cluster.reduce(fresh, 'sum'), 6);
    // A reduce returns once its partials are in; the coordinator may hear the last task's end a moment later.
    let running = await cluster.runningJobs();
    for (const deadline = Date.now() + 5000; running.length > 0 && Date.now() < deadline; running = await cluster.runningJobs()) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.deepEqual(running, []);
  });
});

/** Every agent's data address, as the coordinator lists them. */
async function dataPorts(raw: Transport): Promise<Array<{ host: string; port: number }>> {
  const listed = decodeMessage(
    await raw.request(subjectFor('default', { to: 'coordinator', verb: 'client' }), encodeValue({ v: PROTOCOL_VERSION, from: 'fuzz', type: 'nodes.list' }), 5000),
  ) as MessageOf<'nodes.listed'>;
  return listed.agents.map((a) => ({ host: a.dataHost, port: a.dataPort }));
}
