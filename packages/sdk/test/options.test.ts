import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Agent } from '@sharc/node-agent';
import { Coordinator } from '@sharc/coordinator';
import { InProcessHub, checkKeys, misspeltSharcVariables, nearestName, resolveNatsAuth, unknownKeyMessage } from '@sharc/protocol';
import { connect, InvalidArgumentError, type ArrayRef, type Cluster } from '../src/index.js';
import { SDK_VARIABLES, resolveConnectOptions } from '../src/options.js';
import { KERNELS } from './scenarios.js';

/** What a user of plain JavaScript can pass: no compiler between them and the call. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Untyped = any;

/** Asserts `call` fails with an InvalidArgumentError whose message matches `message`. */
async function refuses(call: () => unknown, message: RegExp): Promise<void> {
  await assert.rejects(async () => call(), (error: unknown) => {
    assert.ok(error instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${String(error)}`);
    assert.match(error.message, message);
    return true;
  });
}

describe('option keys: the nearest valid name', () => {
  const JOB_KEYS = ['onProgress', 'signal', 'timeoutMs'];
  const cases: Array<[string, readonly string[], string | undefined]> = [
    ['timeoutMS', JOB_KEYS, 'timeoutMs'],
    ['timeout', JOB_KEYS, 'timeoutMs'],
    ['timeoutms', JOB_KEYS, 'timeoutMs'],
    ['singal', JOB_KEYS, 'signal'],
    ['partal', ['module', 'partial', 'combine', 'params'], 'partial'],
    ['dtpye', ['dtype', 'cols', 'name', 'replace'], 'dtype'],
    ['shpae', ['shape', 'name', 'partitions', 'replace', 'copies'], 'shape'],
    ['server', ['servers', 'auth', 'cluster', 'connectTimeoutMs', 'requestTimeoutMs', 'embedded'], 'servers'],
    ['colour', ['dtype', 'cols', 'name', 'replace'], undefined],
    ['auth', ['out', 'name', 'dtype'], undefined],
    ['x', ['dtype', 'cols', 'name', 'replace'], undefined],
  ];
  for (const [typed, keys, meant] of cases) {
    it(`'${typed}' → ${meant === undefined ? 'no suggestion' : `'${meant}'`}`, () => {
      assert.equal(nearestName(typed, keys), meant);
    });
  }

  it('names the key and the suggestion, or lists the valid keys when none is close', () => {
    assert.equal(unknownKeyMessage('timeoutMS', { of: 'reduce', keys: JOB_KEYS }), "unknown option 'timeoutMS' of reduce: did you mean 'timeoutMs'?");
    assert.equal(
      unknownKeyMessage('colour', { of: 'map', keys: ['dtype', 'cols'] }),
      "unknown option 'colour' of map: the valid options are 'dtype', 'cols'",
    );
  });

  it('says where a key of another argument goes, exact or misspelt', () => {
    const kernel = { of: "reduce's kernel", here: 'the kernel', noun: 'key', keys: ['module', 'partial', 'combine', 'params'] };
    const options = { keys: JOB_KEYS, goesIn: "reduce's third argument (options)" };
    assert.throws(() => checkKeys({ module: 'k.ts', timeoutMs: 5 }, kernel, [options]), {
      name: 'InvalidArgumentError',
      message: "'timeoutMs' goes in reduce's third argument (options), not in the kernel",
    });
    assert.throws(() => checkKeys({ module: 'k.ts', timeoutMS: 5 }, kernel, [options]), {
      message: "unknown key 'timeoutMS' of reduce's kernel: did you mean 'timeoutMs'? (it goes in reduce's third argument (options))",
    });
    assert.throws(() => checkKeys('fast', kernel), { message: /^reduce's kernel must be a plain object \(\{ … \}\), got "fast"/ });
  });
});

describe('connect options', () => {
  it("connect({ server }) fails before any cluster starts, suggesting 'servers'", async () => {
    const listening = () => process.getActiveResourcesInfo().filter((resource) => resource === 'TCPServerWrap').length;
    const before = listening();
    await refuses(() => connect({ server: 'nats://127.0.0.1:4222' } as Untyped), /unknown option 'server' of connect: did you mean 'servers'\?/);
    assert.equal(listening(), before, 'no agent data port was opened');
  });

  it("connect('nats://…') says to pass { servers } instead of starting an embedded cluster", async () => {
    await refuses(() => connect('nats://127.0.0.1:4222' as Untyped), /connect takes an options object: write connect\(\{ servers: "nats:\/\/127.0.0.1:4222" \}\)/);
  });

  it('refuses embedded sizes next to servers, which would ignore them', async () => {
    await refuses(() => connect({ servers: 'nats://127.0.0.1:1', embedded: { agents: 2 } }), /embedded sizes a cluster started in this process: leave it out when you pass servers/);
  });

  it('checks the nested objects: embedded, auth and auth.tls', async () => {
    await refuses(() => connect({ embedded: { agent: 2 } } as Untyped), /unknown option 'agent' of connect's embedded: did you mean 'agents'\?/);
    assert.throws(() => resolveNatsAuth({ usr: 'me', password: 'x' } as Untyped), /unknown option 'usr' of auth: did you mean 'user'\?/);
    assert.throws(() => resolveNatsAuth({ tls: { caFle: '/ca.pem' } } as Untyped), /unknown option 'caFle' of auth.tls: did you mean 'caFile'\?/);
    await refuses(
      () => connect({ servers: 'nats://127.0.0.1:1', auth: { token: 't', tls: { cafile: '/ca.pem' } } } as Untyped),
      /unknown option 'cafile' of auth.tls: did you mean 'caFile'\?/,
    );
  });

  it('checks maxJobsInFlight and retryBusy, and names them when misspelt', async () => {
    assert.deepEqual(
      (({ maxJobsInFlight, retryBusy }) => ({ maxJobsInFlight, retryBusy }))(resolveConnectOptions({}, {})),
      { maxJobsInFlight: 64, retryBusy: true },
    );
    assert.equal(resolveConnectOptions({ maxJobsInFlight: 1, retryBusy: false }, {}).retryBusy, false);
    for (const bad of [0, -1, 1.5, '8', Infinity]) {
      await refuses(() => connect({ maxJobsInFlight: bad } as Untyped), /maxJobsInFlight must be a positive integer/);
    }
    await refuses(() => connect({ retryBusy: 'no' } as Untyped), /retryBusy must be true or false/);
    await refuses(() => connect({ retryBussy: false } as Untyped), /unknown option 'retryBussy' of connect: did you mean 'retryBusy'\?/);
    await refuses(() => connect({ maxJobInFlight: 8 } as Untyped), /unknown option 'maxJobInFlight' of connect: did you mean 'maxJobsInFlight'\?/);
  });

  it('an empty SHARC_CLUSTER or SHARC_SERVERS counts as unset', () => {
    const resolved = resolveConnectOptions({}, { SHARC_CLUSTER: '', SHARC_SERVERS: '', SHARC_USER: '' });
    assert.equal(resolved.cluster, 'default');
    assert.equal(resolved.servers, undefined);
    assert.equal(resolveConnectOptions({}, { SHARC_CLUSTER: 'blue' }).cluster, 'blue');
  });

  it('finds SHARC_* variables a letter or two from one the SDK reads, not other tools\' ones', () => {
    const env = { SHARC_SERVER: 'nats://h:4222', SHARC_CLUSTR: 'blue', SHARC_E2E_IMAGE: 'x', SHARC_SERVERS: 'nats://h:4222', SHARC_TOKN: '' };
    assert.deepEqual(misspeltSharcVariables(SDK_VARIABLES, env), [
      { name: 'SHARC_SERVER', meant: 'SHARC_SERVERS' },
      { name: 'SHARC_CLUSTR', meant: 'SHARC_CLUSTER' },
    ]);
  });

  it('the services refuse unknown keys too', async () => {
    const hub = new InProcessHub();
    await refuses(() => Coordinator.start(hub.connect(), { deadAfterMS: 1000 } as Untyped), /unknown option 'deadAfterMS' of Coordinator.start: did you mean 'deadAfterMs'\?/);
    await refuses(() => Agent.start(hub.connect(), { thread: 2 } as Untyped), /unknown option 'thread' of Agent.start: did you mean 'threads'\?/);
  });
});

describe('calls on an embedded cluster: a misspelt or misplaced option stores and runs nothing', () => {
  let cluster: Cluster;
  let array: ArrayRef;
  let dir: string;
  const data = Float64Array.from({ length: 4000 }, (_, i) => i);
  const SUM = (4000 * 3999) / 2;
  /** Long enough that a job started by mistake would still be listed as running. */
  const SLOW = { ms: 3000 };
  let savedCluster: string | undefined;

  before(async () => {
    savedCluster = process.env.SHARC_CLUSTER;
    delete process.env.SHARC_SERVERS;
    // An empty variable is unset: the cluster is named 'default', not refused as ''.
    process.env.SHARC_CLUSTER = '';
    cluster = await connect({ embedded: { agents: 2, threads: 1, memoryBytes: 64 * 1024 * 1024 } });
    array = await cluster.put(data, { shape: [1000, 4], name: 'input', partitions: 4 });
    dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-options-'));
  });
  after(async () => {
    await cluster?.close();
    if (savedCluster === undefined) delete process.env.SHARC_CLUSTER;
    else process.env.SHARC_CLUSTER = savedCluster;
    await rm(dir, { recursive: true, force: true });
  });

  /** Nothing was stored and no job is running or queued. */
  async function nothingHappened(): Promise<void> {
    assert.deepEqual((await cluster.list()).map((a) => a.name), ['input']);
    assert.deepEqual(await cluster.runningJobs(), []);
  }

  const typos: Array<[string, (c: Cluster, a: ArrayRef) => Promise<unknown>, RegExp]> = [
    [
      'a timeout in the kernel',
      (c, a) => c.reduce(a, { module: KERNELS, partial: 'slowSum', combine: 'add', params: SLOW, timeoutMs: 1000 } as Untyped),
      /^'timeoutMs' goes in reduce's third argument \(options\), not in the kernel$/,
    ],
    ['timeoutMS', (c, a) => c.reduce(a, 'sum', { timeoutMS: 1000 } as Untyped), /^unknown option 'timeoutMS' of reduce: did you mean 'timeoutMs'\?$/],
    ['onlog', (c, a) => c.reduce(a, { module: KERNELS, partial: 'slowSum', combine: 'add', params: SLOW }, { onlog: () => undefined } as Untyped), /^unknown option 'onlog' of reduce: did you mean 'onLog'\?$/],
    [
      'an onLog that is no function',
      (c, a) => c.map(a, { module: KERNELS, kernel: 'slowMap', params: SLOW }, { name: 'out', onLog: 'stderr' } as Untyped),
      /^onLog must be a function \(of one line: \{ agent, job, partition, rows, stream, text \}\)$/,
    ],
    ['timeout', (c, a) => c.reduce(a, 'sum', { timeout: 1000 } as Untyped), /^unknown option 'timeout' of reduce: did you mean 'timeoutMs'\?$/],
    [
      'partal',
      (c, a) => c.reduce(a, { module: KERNELS, partal: 'slowSum', combine: 'add', params: SLOW } as Untyped),
      /^unknown key 'partal' of reduce's kernel: did you mean 'partial'\?$/,
    ],
    [
      'a kernel key in reduce options',
      (c, a) => c.reduce(a, { module: KERNELS, partial: 'slowSum', combine: 'add' }, { params: SLOW } as Untyped),
      /^'params' goes in reduce's second argument \(the kernel\), not in the options$/,
    ],
    [
      'dtpye',
      (c, a) => c.map(a, { module: KERNELS, kernel: 'slowMap', params: SLOW }, { name: 'out', dtpye: 'float32' } as Untyped),
      /^unknown option 'dtpye' of map: did you mean 'dtype'\?$/,
    ],
    [
      'a name in the map kernel (the old shape)',
      (c, a) => c.map(a, { module: KERNELS, kernel: 'slowMap', params: SLOW, name: 'out' } as Untyped),
      /^'name' goes in map's third argument \(options\), not in the kernel$/,
    ],
    [
      'a kernel key in map options',
      (c, a) => c.map(a, { module: KERNELS, kernel: 'slowMap' }, { params: SLOW } as Untyped),
      /^'params' goes in map's second argument \(the kernel\), not in the options$/,
    ],
    [
      'a signal where the options go',
      (c, a) => c.reduce(a, 'sum', new AbortController().signal as Untyped),
      /^the options of reduce must be a plain object \(\{ … \}\), got an AbortSignal$/,
    ],
    ['a built-in in the wrong case', (c, a) => c.reduce(a, 'Sum' as Untyped), /^unknown reduction 'Sum': did you mean 'sum'\? use one of sum, /],
    ['shpae', (c) => c.put(new Float64Array(8), { name: 'put-typo', shpae: [2, 4] } as Untyped), /^unknown option 'shpae' of put: did you mean 'shape'\?$/],
    ['coppies', (c) => c.put(new Float64Array(8), { name: 'put-typo', coppies: 2 } as Untyped), /^unknown option 'coppies' of put: did you mean 'copies'\?$/],
    ['toArray intoo', (_c, a) => a.toArray({ intoo: new Float64Array(4000) } as Untyped), /^unknown option 'intoo' of toArray: did you mean 'into'\?$/],
    ['save timeoutMS', (_c, a) => a.save(path.join(dir, 'never.npy'), { timeoutMS: 1 } as Untyped), /^unknown option 'timeoutMS' of save: did you mean 'timeoutMs'\?$/],
  ];
  for (const [what, call, message] of typos) {
    it(`refuses ${what}`, async () => {
      await refuses(() => call(cluster, array), message);
      await nothingHappened();
    });
  }

  it('refuses misspelt file options, and stores nothing', async () => {
    const file = path.join(dir, 'raw.bin');
    await writeFile(file, new Uint8Array(new Float64Array(8).buffer));
    await refuses(() => cluster.fromFile(file, { dtype: 'float64', shape: [8], nmae: 'f' } as Untyped), /^unknown option 'nmae' of fromFile: did you mean 'name'\?$/);
    await refuses(() => cluster.putFile(file, { dtype: 'float64', shape: [8], byteoffset: 0 } as Untyped), /^unknown option 'byteoffset' of putFile: did you mean 'byteOffset'\?$/);
    await refuses(() => cluster.fromFile(file, { dtype: 'float64', shape: [8], copies: 2 } as Untyped), /^unknown option 'copies' of fromFile: the valid options are/);
    await nothingHappened();
  });

  it('runs correct calls in the documented shapes', async () => {
    assert.equal(await cluster.reduce(array, 'sum', { timeoutMs: 60_000 }), SUM);
    assert.equal(await cluster.reduce<number>(array, { module: KERNELS, partial: 'slowSum', combine: 'add', params: { ms: 0 } }, { timeoutMs: 60_000 }), SUM);
    const doubled = await cluster.map(array, { module: KERNELS, kernel: 'scale', params: { factor: 2 } }, { name: 'doubled', dtype: 'float64', timeoutMs: 60_000 });
    assert.equal(doubled.name, 'doubled');
    assert.equal(await cluster.reduce(doubled, 'sum'), 2 * SUM);
    const replaced = await cluster.map(array, { module: KERNELS, kernel: 'scale', params: { factor: 3 } }, { name: 'doubled', replace: true });
    assert.equal(await cluster.reduce(replaced, 'sum'), 3 * SUM);
    const small = await cluster.put(new Float64Array([1, 2, 3, 4]), { shape: [2, 2], name: 'small', copies: 1, timeoutMs: 60_000 });
    assert.deepEqual(small.shape, [2, 2]);
    assert.deepEqual([...(await small.toArray({ timeoutMs: 60_000 }))], [1, 2, 3, 4]);
    await small.delete();
    await replaced.delete();
  });

  it('is the cluster named default when SHARC_CLUSTER is empty', async () => {
    const nodes = await cluster.nodes();
    assert.ok(nodes.every((node) => node.state === 'alive'));
    assert.equal(resolveConnectOptions({}).cluster, 'default');
  });
});
