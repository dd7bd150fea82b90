/**
 * `sharc up` keeps its cluster running: a service that exits is started again (nats-server on
 * the same port with its JetStream store, the coordinator, a crashed agent), a second `sharc up`
 * of the same data dir is refused instead of stopping the first, and an agent's command line
 * copied from `ps` runs by hand and joins the cluster.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, type Cluster } from '@sharc/sdk';
import { freePort, SHARC_BIN, waitForLine } from '@sharc/test-support';
import { runSharc } from './run-sharc.js';

const START_TIMEOUT_MS = 60_000;
const RESTART_TIMEOUT_MS = 30_000;

/** `pid command line` of each process whose command line mentions `text`. */
function processesMentioning(text: string): string[] {
  const found = spawnSync('pgrep', ['-af', text], { encoding: 'utf8' });
  return found.stdout.split('\n').filter((line) => line.trim() !== '' && !line.includes('pgrep'));
}

/** The pid of the sharc service named `name` (coordinator, agent-1) of the cluster on `port`. */
function servicePid(port: number, role: 'coordinator' | 'agent', name?: string): number | undefined {
  const line = processesMentioning(`127.0.0.1:${port} --cluster`).find((l) => l.includes(` ${role} `) && (name === undefined || l.includes(`--name ${name} `)));
  return line === undefined ? undefined : Number(line.split(' ')[0]);
}

async function until(condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return condition();
}

/**
 * Whether the cluster answers and has `agents` agents alive, asked as `sharc status` would, by a
 * new client: a request sent while nats-server is down waits for its whole timeout (issue 9 item 1).
 */
async function clusterServes(url: string, agents: number): Promise<boolean> {
  const client = await connect({ servers: url }).catch(() => undefined);
  if (client === undefined) return false;
  try {
    const nodes = await client.nodes().catch(() => []);
    return nodes.filter((n) => n.state === 'alive').length === agents;
  } finally {
    await client.close();
  }
}

interface Up {
  child: ChildProcess;
  stderr: () => string;
  /** Resolves with the match once stderr (from `from` on) has a line matching `pattern`. */
  waitForNote: (pattern: RegExp, from: number) => Promise<RegExpMatchArray>;
}

function startUp(args: readonly string[]): Up {
  const child = spawn(process.execPath, [SHARC_BIN, 'up', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout!.resume();
  return {
    child,
    stderr: () => stderr,
    async waitForNote(pattern, from) {
      let match: RegExpMatchArray | null = null;
      const seen = await until(() => (match = pattern.exec(stderr.slice(from))) !== null || child.exitCode !== null, RESTART_TIMEOUT_MS);
      assert.ok(seen && match !== null, `no line matching ${pattern} from sharc up:\n${stderr}`);
      return match;
    },
  };
}

describe('sharc up keeps its cluster running', () => {
  let dir: string;
  let dataDir: string;
  let port: number;
  let url: string;
  let up: Up;
  let client: Cluster;
  const rows = 1000;
  const data = Float64Array.from({ length: rows * 4 }, (_, i) => (i % 97) * 0.5 - 10);
  const sum = data.reduce((a, b) => a + b, 0);
  const handRun: ChildProcess[] = [];

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-up-restart-'));
    dataDir = path.join(dir, 'data');
    port = await freePort();
    url = `nats://127.0.0.1:${port}`;
    up = startUp(['--agents', '2', '--threads', '1', '--memory', '64MiB', '--port', String(port), '--data-dir', dataDir]);
    await waitForLine(up.child, /jobs: none running/, START_TIMEOUT_MS, 'sharc up');
    client = await connect({ servers: url });
    await client.put(data, { shape: [rows, 4], name: 'kept', partitions: 4 });
  });
  after(async () => {
    await client?.close();
    for (const child of handRun) child.kill('SIGKILL');
    up?.child.kill('SIGKILL');
    spawnSync('pkill', ['-KILL', '-f', dataDir]);
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a second sharc up of the same data dir, naming the running one and how to start another; the first keeps serving', async () => {
    const natsPid = (await readFile(path.join(dataDir, 'nats-server.pid'), 'utf8')).trim();
    const otherPort = await freePort();
    const second = await runSharc(['up', '--agents', '1', '--threads', '1', '--memory', '64MiB', '--port', String(otherPort), '--data-dir', dataDir]);
    assert.equal(second.code, 2, second.stderr);
    assert.match(second.stderr, new RegExp(`${dataDir} belongs to a running sharc up \\(pid ${up.child.pid}, NATS on ${url}\\)`));
    assert.match(second.stderr, /sharc up --port <another port> --data-dir <another dir>/);
    // On the same port too: the data dir is checked first.
    const samePort = await runSharc(['up', '--agents', '1', '--port', String(port), '--data-dir', dataDir]);
    assert.equal(samePort.code, 2, samePort.stderr);
    assert.match(samePort.stderr, /belongs to a running sharc up/);

    assert.equal((await readFile(path.join(dataDir, 'nats-server.pid'), 'utf8')).trim(), natsPid, 'the same nats-server still runs');
    assert.equal(up.child.exitCode, null);
    assert.equal(await client.reduce(await client.open('kept'), 'sum'), sum);
  });

  it('restarts a nats-server killed outright on the same port and store: the array reads back exactly, a reduce is right, agents keep their pids', async () => {
    const agentPids = [servicePid(port, 'agent', 'agent-1'), servicePid(port, 'agent', 'agent-2')];
    assert.ok(agentPids.every((pid) => pid !== undefined));
    const natsPid = Number(readFileSync(path.join(dataDir, 'nats-server.pid'), 'utf8'));
    const from = up.stderr().length;
    process.kill(natsPid, 'SIGKILL');
    const [, newPid] = await up.waitForNote(/nats-server exited \(SIGKILL\); restarted it \(pid (\d+)\)/, from);
    assert.notEqual(Number(newPid), natsPid);
    assert.ok(await until(() => clusterServes(url, 2), RESTART_TIMEOUT_MS), 'both agents are back');

    assert.deepEqual(await (await client.open('kept')).toArray(), data);
    assert.equal(await client.reduce(await client.open('kept'), 'sum'), sum);
    const fresh = await connect({ servers: url });
    try {
      assert.deepEqual(await (await fresh.open('kept')).toArray(), data);
      assert.equal(await fresh.reduce(await fresh.open('kept'), 'sum'), sum);
    } finally {
      await fresh.close();
    }
    assert.deepEqual([servicePid(port, 'agent', 'agent-1'), servicePid(port, 'agent', 'agent-2')], agentPids, 'agents were not restarted');
    assert.equal(up.child.exitCode, null);
  });

  it('restarts a coordinator killed outright: it finds the array in JetStream and jobs run', async () => {
    const coordinatorPid = servicePid(port, 'coordinator')!;
    const from = up.stderr().length;
    process.kill(coordinatorPid, 'SIGKILL');
    await up.waitForNote(/coordinator exited \(SIGKILL\); restarted it \(pid \d+\)/, from);
    assert.ok(await until(() => clusterServes(url, 2), RESTART_TIMEOUT_MS));
    assert.deepEqual((await client.list()).map((a) => a.name), ['kept']);
    assert.equal(await client.reduce(await client.open('kept'), 'sum'), sum);
  });

  it("an agent stopped on purpose stays down, and its command line copied from ps runs by hand (stdin at /dev/null) and joins the cluster", async () => {
    const agentPid = servicePid(port, 'agent', 'agent-2')!;
    const commandLine = readFileSync(`/proc/${agentPid}/cmdline`, 'utf8').split('\0').filter((arg) => arg !== '');
    assert.ok(commandLine.includes('--stop-with-parent'), commandLine.join(' '));
    const from = up.stderr().length;
    process.kill(agentPid, 'SIGTERM');
    await up.waitForNote(/agent-2 exited \(code 0\): stopped on purpose, so not restarted/, from);

    const agent = spawn(commandLine[0]!, commandLine.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    handRun.push(agent);
    let output = '';
    agent.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    agent.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await waitForLine(agent, /sharc agent ready agent-2/, START_TIMEOUT_MS, 'the agent run by hand');
    assert.ok(await until(() => clusterServes(url, 2), RESTART_TIMEOUT_MS), `agent-2 did not rejoin:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    assert.equal(agent.exitCode, null, `the agent run by hand stopped:\n${output}`);
    assert.ok(await clusterServes(url, 2));
    assert.equal(await client.reduce(await client.open('kept'), 'sum'), sum);

    const exited = new Promise((resolve) => agent.once('exit', resolve));
    agent.kill('SIGTERM');
    await exited;
  });

  it('gives up on a nats-server that exits 5 times within a minute: says so, stops the cluster and exits 1', async () => {
    const from = up.stderr().length;
    const exited = new Promise<number | null>((resolve) => up.child.once('exit', (code) => resolve(code)));
    // The kill of the test above counts too when it was less than a minute ago.
    for (let kills = 1; ; kills++) {
      assert.ok(kills <= 5, `still restarted after 5 kills:\n${up.stderr()}`);
      const before = up.stderr().length;
      process.kill(Number(readFileSync(path.join(dataDir, 'nats-server.pid'), 'utf8')), 'SIGKILL');
      const [, what] = await up.waitForNote(/nats-server exited \(SIGKILL\); (restarted it|it exited 5 times)/, before);
      if (what !== 'restarted it') break;
    }
    assert.equal(await exited, 1, up.stderr());
    assert.match(up.stderr().slice(from), /nats-server exited \(SIGKILL\); it exited 5 times within 60 s, so it is not restarted again/);
    assert.match(up.stderr(), /sharc up: cluster stopped/);
    assert.ok(await until(() => processesMentioning(dataDir).length === 0 && processesMentioning(`127.0.0.1:${port}`).length === 0, 15_000));
  });
});
