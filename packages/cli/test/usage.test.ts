import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runSharc } from './run-sharc.js';

describe('sharc command line: usage errors exit 2 and name the bad option', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-cli-usage-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const cases: Array<[string, string[], RegExp]> = [
    ['an unknown command', ['frobnicate'], /Unknown command: frobnicate/],
    ['no command', [], /name a command/],
    ['an unknown flag', ['ls', '--thread', '4'], /unknown flag --thread/],
    ['agent --threads 0', ['agent', '--threads', '0'], /--threads must be a positive whole number, got 0/],
    ['agent --memory lots', ['agent', '--memory', 'lots'], /--memory "lots" is not a size/],
    ['up --port 70000', ['up', '--port', '70000'], /--port must be a port from 0 to 65535/],
    ['a malformed --servers', ['status', '--servers', 'http://x/y'], /--servers "http:\/\/x\/y" is not a NATS address/],
    ['a cluster name with dots', ['status', '--cluster', 'a.b'], /--cluster "a.b" may only hold letters/],
    ['map without #export', ['map', 'm', '--kernel', 'k.ts'], /--kernel must be FILE.ts#exportName/],
    ['reduce with an unknown op', ['reduce', 'm', 'median'], /reduce OP must be one of sum, .* or a kernel module/],
    ['map --dtype float16', ['map', 'm', '--kernel', 'k.ts#f', '--dtype', 'float16'], /--dtype must be one of float64/],
    ['--params that is not JSON', ['reduce', 'm', 'k.ts', '--params', '{x'], /--params must be JSON/],
    ['put --byte-offset -4', ['put', 'x.f32', '--dtype', 'float32', '--shape', '4', '--byte-offset', '-4'], /--byte-offset must be a whole number of 0 or more, got -4/],
  ];
  for (const [what, args, message] of cases) {
    it(`refuses ${what}`, async () => {
      const run = await runSharc(args);
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, message);
      assert.match(run.stderr, /sharc --help/);
      assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace without --verbose');
    });
  }

  it('refuses a bad setting from SHARC_* and from --config, naming it', async () => {
    const env = await runSharc(['agent'], { SHARC_THREADS: 'many' });
    assert.equal(env.code, 2);
    assert.match(env.stderr, /--threads must be a positive whole number, got "many"/);
    const file = path.join(dir, 'bad.yaml');
    await writeFile(file, 'memory: 12 parsecs\n');
    const config = await runSharc(['agent', '--config', file]);
    assert.equal(config.code, 2);
    assert.match(config.stderr, /--memory "12 parsecs" is not a size/);
  });

  it('refuses a --config file that is not JSON or YAML, or not there', async () => {
    const file = path.join(dir, 'broken.yaml');
    await writeFile(file, 'servers: [unclosed\n');
    const broken = await runSharc(['status', '--config', file]);
    assert.equal(broken.code, 2);
    assert.match(broken.stderr, /--config .*broken.yaml is not valid JSON or YAML/);
    const missing = await runSharc(['status', '--config', path.join(dir, 'nope.json')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--config .*nope.json: cannot read it \(ENOENT\)/);
  });

  it('ignores SHARC_* variables that are no option of the command', async () => {
    const run = await runSharc(['status', '--servers', 'nats://127.0.0.1:1'], { SHARC_E2E_CONTAINERS: 'skip', SHARC_SOMETHING_ELSE: '1' });
    assert.equal(run.code, 1, 'reaches the connection step, which fails with code 1');
    assert.match(run.stderr, /cannot reach NATS at nats:\/\/127.0.0.1:1/);
  });

  it('ignores --config keys of other commands, and refuses one no command takes with the nearest name', async () => {
    const shared = path.join(dir, 'shared.yaml');
    // Options of agent, coordinator, up, put, map and reduce: status ignores them all.
    const others = ['threads: 2', 'max-running-jobs: 4', 'dataDir: /tmp/x', 'agents-read: true', 'out: y', 'combine: merge', 'timeout-ms: 5', 'gib: 1'];
    await writeFile(shared, `${others.join('\n')}\nservers: nats://127.0.0.1:1\n`);
    const ignored = await runSharc(['status', '--config', shared]);
    assert.equal(ignored.code, 1, ignored.stderr);
    assert.match(ignored.stderr, /cannot reach NATS at nats:\/\/127.0.0.1:1/);

    const typos: Array<[string, RegExp]> = [
      ['server: nats://127.0.0.1:1\n', /unknown option 'server' \(no sharc command takes it\): did you mean 'servers'\?/],
      ['max-running-job: 4\n', /unknown option 'max-running-job' \(no sharc command takes it\): did you mean 'max-running-jobs'\?/],
      ['threds: 2\n', /unknown option 'threds' \(no sharc command takes it\): did you mean 'threads'\?/],
      ['frobnicate: 1\n', /unknown option 'frobnicate' \(no sharc command takes it\): sharc <command> --help lists the options/],
    ];
    for (const [text, message] of typos) {
      const file = path.join(dir, 'typo.yaml');
      await writeFile(file, text);
      for (const command of ['status', 'agent']) {
        const run = await runSharc([command, '--config', file]);
        assert.equal(run.code, 2, `${command} with ${text}: ${run.stderr}`);
        assert.match(run.stderr, new RegExp(`--config ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
        assert.match(run.stderr, message);
      }
    }
  });

  it('warns about a SHARC_* variable a letter from an option, and still ignores it', async () => {
    const run = await runSharc(['status', '--servers', 'nats://127.0.0.1:1'], { SHARC_SERVER: 'nats://10.0.0.1:4222', SHARC_E2E_IMAGE: 'other-tool' });
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /warning: SHARC_SERVER is no option of any command, ignored: did you mean SHARC_SERVERS\?/);
    assert.doesNotMatch(run.stderr, /SHARC_E2E_IMAGE/, 'a variable of another tool is no typo');
  });

  it('treats an empty SHARC_* variable as unset', async () => {
    const run = await runSharc(['status', '--servers', 'nats://127.0.0.1:1'], { SHARC_CLUSTER: '', SHARC_THREADS: '', SHARC_USER: '' });
    assert.equal(run.code, 1, `reaches the connection step: ${run.stderr}`);
    assert.match(run.stderr, /cannot reach NATS at nats:\/\/127.0.0.1:1/);
    const agent = await runSharc(['agent', '--servers', 'nats://127.0.0.1:1'], { SHARC_THREADS: '', SHARC_MEMORY: '' });
    assert.equal(agent.code, 1, `an empty value is not checked as a value: ${agent.stderr}`);
    assert.match(agent.stderr, /cannot reach NATS at nats:\/\/127.0.0.1:1/);
  });

  it('prints help with examples for every command, exit 0', async () => {
    for (const command of ['up', 'coordinator', 'agent', 'status', 'ls', 'put', 'get', 'reduce', 'map', 'rm', 'demo']) {
      const run = await runSharc([command, '--help']);
      assert.equal(run.code, 0, `${command}: ${run.stderr}`);
      assert.match(run.stdout, new RegExp(`sharc ${command}`));
      assert.match(run.stdout, /Examples:/, `${command} --help shows examples`);
    }
  });

  it('fails with code 1 and a one-line reason when the cluster is unreachable; --verbose adds the stack', async () => {
    const plain = await runSharc(['ls', '--servers', 'nats://127.0.0.1:1']);
    assert.equal(plain.code, 1);
    assert.match(plain.stderr, /^sharc: cannot reach NATS at nats:\/\/127.0.0.1:1: .*Check that nats-server runs there/);
    assert.doesNotMatch(plain.stderr, /\n\s+at /);
    const verbose = await runSharc(['ls', '--servers', 'nats://127.0.0.1:1', '--verbose']);
    assert.equal(verbose.code, 1);
    assert.match(verbose.stderr, /ConnectionError: cannot reach NATS[\s\S]*\n\s+at /);
    assert.match(verbose.stderr, /\[CONNECTION_ERROR, retryable\]/);
  });

  it('up says how to install nats-server when it is not on PATH', async () => {
    const run = await runSharc(['up', '--port', '0', '--data-dir', path.join(dir, 'up')], { PATH: '/nonexistent' });
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /nats-server is not on PATH. Install it: `sudo apt-get install -y nats-server`/);
  });
});
