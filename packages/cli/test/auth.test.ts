/**
 * NATS credentials on the command line: flags, SHARC_* variables and --config reach client
 * commands and the services (the coordinator here logs in with --token), a refusal exits 1
 * saying what to pass, and a bad combination of auth options is a usage error naming the flag.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import { jsonOf, runSharc } from './run-sharc.js';

const NOT_PEM = fileURLToPath(new URL('../../package.json', import.meta.url));

describe('sharc command line: NATS auth options', () => {
  let dir: string;
  let processes: ProcessCluster;
  const token = randomBytes(16).toString('hex');
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-cli-auth-'));
    processes = await startProcessCluster({
      agents: 0,
      natsConfig: `authorization { token: "${token}" }`,
      coordinatorArgs: ['--token', token],
    });
  });
  after(async () => {
    await processes?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('takes the token from SHARC_TOKEN, from --config, and from --token', async () => {
    const config = path.join(dir, 'sharc.yaml');
    await writeFile(config, `servers: ${processes.url}\ntoken: "${token}"\n`);
    const runs = [
      await runSharc(['status', '--json', '--servers', processes.url], { SHARC_TOKEN: token }),
      await runSharc(['status', '--json', '--config', config]),
      await runSharc(['status', '--json', '--servers', processes.url, '--token', token]),
    ];
    for (const run of runs) assert.deepEqual(jsonOf<{ agents: unknown[] }>(run).agents, []);
  });

  it('exits 1 with what to pass when the server refuses, or wants credentials', async () => {
    const wrong = await runSharc(['status', '--servers', processes.url, '--token', 'guess']);
    assert.equal(wrong.code, 1, wrong.stderr);
    assert.match(wrong.stderr, /^sharc: NATS at nats:\/\/127\.0\.0\.1:\d+ refused the credentials \(Authorization Violation\) of the token: .*--token \/ SHARC_TOKEN/);
    const none = await runSharc(['ls', '--servers', processes.url]);
    assert.equal(none.code, 1, none.stderr);
    assert.match(none.stderr, /requires credentials \(Authorization Violation\): pass .*--user \/ SHARC_USER/);
  });

  const usage: Array<[string, string[], NodeJS.ProcessEnv, RegExp]> = [
    ['a user without a password', ['status', '--user', 'client'], {}, /user "client" has no password: set password \(sharc: --password \/ SHARC_PASSWORD\)/],
    ['two ways to log in', ['agent', '--token', 't'], { SHARC_USER: 'a', SHARC_PASSWORD: 'b' }, /give one way to authenticate, not user\/password and token/],
    ['an unreadable nkey seed file', ['coordinator', '--nkey-seed-file', '/nonexistent/agent.nk'], {}, /--nkey-seed-file \/ SHARC_NKEY_SEED_FILE\) "\/nonexistent\/agent\.nk" cannot be read \(ENOENT\)/],
    ['a CA file that is not PEM', ['status', '--tls-ca-file', NOT_PEM], {}, /--tls-ca-file \/ SHARC_TLS_CA_FILE\) ".*package\.json" is not a PEM file/],
  ];
  for (const [what, args, env, message] of usage) {
    it(`refuses ${what} as a usage error (exit 2)`, async () => {
      const run = await runSharc(args, env);
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, message);
    });
  }

  it('lists the auth and TLS options in --help', async () => {
    const help = await runSharc(['status', '--help']);
    assert.equal(help.code, 0);
    for (const flag of ['--user', '--password', '--token', '--nkey-seed-file', '--creds-file', '--tls-ca-file', '--tls-cert-file', '--tls-key-file']) {
      assert.match(help.stdout, new RegExp(`${flag}\\b`));
    }
  });
});
