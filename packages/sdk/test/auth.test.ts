/**
 * A cluster locked down with the per-role permissions of infra/nats-roles.conf: nats-server with
 * one account whose users are the coordinator (password), the agent (nkey) and clients (password
 * or nkey), and a coordinator and an agent process that log in. Clients without the right
 * credentials are refused with a clear error, and a client cannot act as an agent or the coordinator.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createUser } from '@nats-io/nkeys';
import { connectNats, subjectFor, type Transport } from '@sharc/protocol';
import { startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import { ConnectionError, InvalidArgumentError, PermissionDeniedError, connect, type Cluster } from '../src/index.js';
import { checkSumJob, permissionViolation, RecordingLogger, ROLES_CONF } from './auth-fixtures.js';

const CLUSTER = 'locked';

describe('NATS auth with per-role permissions (infra/nats-roles.conf): passwords and nkeys', () => {
  let dir: string;
  let processes: ProcessCluster;
  let servers: string;
  // Starting with a letter, as infra/nats-auth.conf asks: nats-server parses `1e5…` as a number.
  const clientPassword = `pw${randomBytes(12).toString('hex')}`;
  const clientNkeySeedFile = () => path.join(dir, 'client.nk');

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-auth-'));
    const agentKey = createUser();
    const clientKey = createUser();
    for (const [name, key] of [['agent.nk', agentKey], ['client.nk', clientKey]] as const) {
      await writeFile(path.join(dir, name), `${new TextDecoder().decode(key.getSeed())}\n`);
      await chmod(path.join(dir, name), 0o600);
    }
    const coordinatorPassword = `pw${randomBytes(12).toString('hex')}`;
    processes = await startProcessCluster({
      agents: 1,
      threads: 1,
      memory: '256MiB',
      cluster: CLUSTER,
      // As infra/nats-auth.conf: passwords from the server's environment, permissions from the shipped file.
      natsConfig: [
        // nats-server resolves an include relative to the including file, so the roles go in as text.
        await readFile(ROLES_CONF, 'utf8'),
        'accounts { SHARC { jetstream: enabled, users: [',
        '  { user: coordinator, password: $TEST_COORDINATOR_PASSWORD, permissions: $SHARC_COORDINATOR_PERMISSIONS }',
        `  { nkey: ${agentKey.getPublicKey()}, permissions: $SHARC_AGENT_PERMISSIONS }`,
        '  { user: client, password: $TEST_CLIENT_PASSWORD, permissions: $SHARC_CLIENT_PERMISSIONS }',
        `  { nkey: ${clientKey.getPublicKey()}, permissions: $SHARC_CLIENT_PERMISSIONS }`,
        '] } }',
      ].join('\n'),
      natsEnv: { TEST_COORDINATOR_PASSWORD: coordinatorPassword, TEST_CLIENT_PASSWORD: clientPassword },
      coordinatorArgs: ['--user', 'coordinator', '--password', coordinatorPassword],
      agentArgs: ['--nkey-seed-file', path.join(dir, 'agent.nk')],
    });
    servers = processes.url;
  });
  after(async () => {
    await processes?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('refuses a client without credentials with a ConnectionError that says what to pass', async () => {
    await assert.rejects(connect({ servers, cluster: CLUSTER }), (error: Error) => {
      assert.ok(error instanceof ConnectionError, String(error));
      assert.equal(error.retryable, false);
      assert.match(error.message, /NATS at nats:\/\/127\.0\.0\.1:\d+ requires credentials \(Authorization Violation\)/);
      assert.match(error.message, /--user \/ SHARC_USER/);
      return true;
    });
  });

  it('refuses a wrong password, naming the user whose credentials were refused', async () => {
    await assert.rejects(connect({ servers, cluster: CLUSTER, auth: { user: 'client', password: 'wrong' } }), (error: Error) => {
      assert.ok(error instanceof ConnectionError, String(error));
      assert.match(error.message, /refused the credentials \(Authorization Violation\) of user 'client'/);
      assert.match(error.message, /--password \/ SHARC_PASSWORD/);
      return true;
    });
  });

  it('refuses an nkey the server does not know', async () => {
    const stranger = path.join(dir, 'stranger.nk');
    await writeFile(stranger, new TextDecoder().decode(createUser().getSeed()));
    await assert.rejects(connect({ servers, cluster: CLUSTER, auth: { nkeySeedFile: stranger } }), (error: Error) => {
      assert.ok(error instanceof ConnectionError, String(error));
      assert.match(error.message, /refused the credentials .* of the nkey seed in .*stranger\.nk/);
      return true;
    });
  });

  it('checks the auth options before connecting, naming the option', async () => {
    const cases: Array<[Parameters<typeof connect>[0], RegExp]> = [
      [{ auth: { user: 'client' } }, /user "client" has no password: set password \(sharc: --password \/ SHARC_PASSWORD\)/],
      [{ auth: { password: 'x' } }, /password .* is set without a user/],
      [{ auth: { user: 'a', password: 'b', token: 'c' } }, /give one way to authenticate, not user\/password and token/],
      [{ auth: { nkeySeedFile: path.join(dir, 'missing.nk') } }, /nkeySeedFile \(sharc: --nkey-seed-file \/ SHARC_NKEY_SEED_FILE\) ".*missing\.nk" cannot be read \(ENOENT\)/],
      [{ auth: { nkeySeedFile: ROLES_CONF } }, /holds no nkey user seed/],
      [{ auth: { tls: { certFile: ROLES_CONF } } }, /tls\.certFile .* needs tls\.keyFile/],
    ];
    for (const [options, message] of cases) {
      await assert.rejects(connect({ servers, cluster: CLUSTER, ...options }), (error: Error) => {
        assert.ok(error instanceof InvalidArgumentError, String(error));
        assert.match(error.message, message);
        return true;
      });
    }
  });

  it('runs a job for a client that logs in with user and password', async () => {
    const cluster = await connect({ servers, cluster: CLUSTER, auth: { user: 'client', password: clientPassword } });
    try {
      const nodes = await cluster.nodes();
      assert.deepEqual(nodes.map((n) => [n.id, n.state]), [['agent-1', 'alive']]);
      await checkSumJob(cluster);
      // A detached reduce: its partials go to the coordinator, which the roles let it read.
      const array = await cluster.put(new Float64Array(1000).fill(3), { partitions: 2 });
      assert.equal(await (await cluster.submit('reduce', array, 'sum')).result(), 3000);
    } finally {
      await cluster.close();
    }
  });

  it('runs a job for a client that logs in with an nkey seed (SHARC_NKEY_SEED_FILE)', async () => {
    process.env.SHARC_NKEY_SEED_FILE = clientNkeySeedFile();
    let cluster: Cluster;
    try {
      cluster = await connect({ servers, cluster: CLUSTER });
    } finally {
      delete process.env.SHARC_NKEY_SEED_FILE;
    }
    try {
      await checkSumJob(cluster);
    } finally {
      await cluster.close();
    }
  });

  describe('a logged-in client cannot act as an agent or the coordinator', () => {
    let intruder: Transport;
    const log = new RecordingLogger();
    before(async () => {
      intruder = await connectNats({ servers, name: 'intruder', auth: { user: 'client', password: clientPassword }, logger: log });
    });
    after(() => intruder?.close());

    it('may not publish as an agent: the request fails at once with PermissionDeniedError, and it is logged', async () => {
      const subject = subjectFor(CLUSTER, { to: 'coordinator', verb: 'agent' });
      await assert.rejects(intruder.request(subject, new Uint8Array([1]), 60_000), (error: Error) => {
        assert.ok(error instanceof PermissionDeniedError, String(error));
        assert.match(error.message, new RegExp(`refused to let this process publish on ${subject.replace(/\./g, '\\.')}`));
        return true;
      });
      await log.waitFor(permissionViolation('publish', subject));
    });

    it("may not take an agent's tasks nor send it tasks as the coordinator", async () => {
      const tasks = subjectFor(CLUSTER, { to: 'agent', agentId: 'agent-1', verb: 'task' });
      const received: Uint8Array[] = [];
      const unsubscribe = intruder.subscribe(tasks, (data) => received.push(data));
      const refused = await log.waitFor(permissionViolation('subscription', tasks));
      assert.match(String(refused.fields.error), /Permissions Violation for Subscription/);
      await assert.rejects(intruder.request(tasks, new Uint8Array([1]), 60_000), PermissionDeniedError);
      const cancel = subjectFor(CLUSTER, { to: 'agents', verb: 'cancel' });
      intruder.publish(cancel, new Uint8Array([1]));
      await log.waitFor(permissionViolation('publish', cancel));

      // The cluster is untouched: a real job runs, and none of its tasks reached the intruder.
      const cluster = await connect({ servers, cluster: CLUSTER, auth: { user: 'client', password: clientPassword } });
      try {
        await checkSumJob(cluster);
      } finally {
        await cluster.close();
      }
      unsubscribe();
      assert.equal(received.length, 0);
    });
  });
});
