import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort, SHARC_BIN, waitForLine } from '@sharc/test-support';
import { jsonOf, runSharc } from './run-sharc.js';

const START_TIMEOUT_MS = 60_000;

/** Processes whose command line mentions `text` (the cluster's unique port or data dir). */
function processesMentioning(text: string): string[] {
  const found = spawnSync('pgrep', ['-af', text], { encoding: 'utf8' });
  return found.stdout
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.includes('pgrep'));
}

async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return condition();
}

describe('sharc up: a whole local cluster as separate processes', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-up-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('starts nats-server, a coordinator and N agents, prints the ready line and status, and Ctrl-C stops them all', async () => {
    const port = await freePort();
    const dataDir = path.join(dir, 'one');
    const up = spawn(process.execPath, [SHARC_BIN, 'up', '--agents', '3', '--threads', '1', '--memory', '128MiB', '--port', String(port), '--data-dir', dataDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    up.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    try {
      await waitForLine(up, /jobs: none running/, START_TIMEOUT_MS, 'sharc up');
      const url = `nats://127.0.0.1:${port}`;
      assert.match(stdout, new RegExp(`^sharc cluster ready: ${url}$`, 'm'));
      assert.match(stdout, /agent-3\s+\S+\s+alive\s+1\s+0 B \/ 128 MiB/);
      const status = jsonOf<{ agents: Array<{ state: string }> }>(await runSharc(['status', '--json', '--servers', url]));
      assert.deepEqual(status.agents.map((a) => a.state), ['alive', 'alive', 'alive']);
      // nats-server, the coordinator and 3 agents, all named by the data dir or the port.
      assert.equal(processesMentioning(dataDir).filter((p) => !p.includes(' up ')).length, 1, 'nats-server runs with its config in the data dir');
      assert.equal(processesMentioning(`127.0.0.1:${port} --cluster`).length, 4, 'coordinator and 3 agents');

      const exited = new Promise<number | null>((resolve) => up.once('exit', (code) => resolve(code)));
      up.kill('SIGINT');
      assert.equal(await exited, 0);
      assert.deepEqual(processesMentioning(dataDir), [], 'nothing left of the cluster');
      assert.deepEqual(processesMentioning(`127.0.0.1:${port}`), []);
    } finally {
      up.kill('SIGKILL');
      spawnSync('pkill', ['-f', dataDir]);
    }
  });

  it('Ctrl-C during startup stops what had started, exits 1, and leaves nothing running', async () => {
    const port = await freePort();
    const dataDir = path.join(dir, 'interrupted');
    const up = spawn(process.execPath, [SHARC_BIN, 'up', '--agents', '3', '--threads', '1', '--memory', '64MiB', '--port', String(port), '--data-dir', dataDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    up.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    up.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    try {
      // The coordinator is up (it connects to the port), the agents are not all up yet.
      assert.ok(await until(() => processesMentioning(`127.0.0.1:${port} --cluster`).length >= 1, START_TIMEOUT_MS), stderr);
      const exited = new Promise<number | null>((resolve) => up.once('exit', (code) => resolve(code)));
      up.kill('SIGINT');
      up.kill('SIGINT'); // a second Ctrl-C must not abandon the stopping
      assert.equal(await exited, 1, stderr);
      assert.match(stderr, /SIGINT during startup: stopped what had started/);
      assert.doesNotMatch(stdout, /sharc cluster ready/);
      assert.deepEqual(processesMentioning(dataDir), []);
      assert.deepEqual(processesMentioning(`127.0.0.1:${port}`), []);
    } finally {
      up.kill('SIGKILL');
      spawnSync('pkill', ['-f', dataDir]);
    }
  });

  it('refuses a port that is in use, naming it, and starts nothing', async () => {
    // This process holds the port, listening before sharc up starts.
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const run = await runSharc(['up', '--port', String(port), '--data-dir', path.join(dir, 'busy')]);
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, new RegExp(`port ${port} is in use .*--port`));
    } finally {
      blocker.close();
    }
  });

  it('services it started stop on their own when sharc up is killed outright; the next sharc up stops the nats-server left behind', async () => {
    const port = await freePort();
    const dataDir = path.join(dir, 'killed');
    const up = spawn(process.execPath, [SHARC_BIN, 'up', '--agents', '1', '--threads', '1', '--memory', '64MiB', '--port', String(port), '--data-dir', dataDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      await waitForLine(up, /jobs: none running/, START_TIMEOUT_MS, 'sharc up');
      up.kill('SIGKILL');
      const gone = await until(() => processesMentioning(`127.0.0.1:${port} --cluster`).length === 0, 15_000);
      assert.ok(gone, `coordinator and agent still running: ${processesMentioning(`127.0.0.1:${port}`).join('\n')}`);
      // nats-server cannot watch its parent: it is still there, until the next `sharc up` of this data dir.
      assert.equal(processesMentioning(path.join(dataDir, 'nats.conf')).length, 1);
      const again = spawn(process.execPath, [SHARC_BIN, 'up', '--agents', '1', '--threads', '1', '--memory', '64MiB', '--port', String(port), '--data-dir', dataDir], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      again.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      try {
        await waitForLine(again, /jobs: none running/, START_TIMEOUT_MS, 'the second sharc up');
        assert.match(stderr, /stopping nats-server \(pid \d+\) left running by an earlier sharc up/);
        const exited = new Promise<number | null>((resolve) => again.once('exit', (code) => resolve(code)));
        again.kill('SIGTERM');
        assert.equal(await exited, 0);
      } finally {
        again.kill('SIGKILL');
      }
      assert.deepEqual(processesMentioning(dataDir), []);
    } finally {
      spawnSync('pkill', ['-f', dataDir]);
    }
  });
});
