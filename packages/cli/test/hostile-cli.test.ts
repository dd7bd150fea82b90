/**
 * The CLI as a tired user drives it: its output piped into `head`, which closes the pipe
 * early, and typos in the new flags and arguments. Real processes: nats-server, a coordinator
 * and an agent, and the built `sharc` command.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { SHARC_BIN, startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import { runSharc } from './run-sharc.js';

/** Runs `sharc …` with its stdout read until the first line, then closed (as `| head -1` does). */
function firstLineThenClose(args: string[]): Promise<{ line: string; code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SHARC_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let line: string | undefined;
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (line === undefined && out.includes('\n')) {
        line = out.slice(0, out.indexOf('\n'));
        child.stdout.destroy();
      }
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ line: line ?? '', code, stderr }));
  });
}

describe('the CLI as a tired user drives it (real processes)', () => {
  let processes: ProcessCluster;
  let sharc: (args: string[]) => ReturnType<typeof runSharc>;

  before(async () => {
    processes = await startProcessCluster({ agents: 1, threads: 1, memory: '64MiB' });
    sharc = (args) => runSharc([...args, '--servers', processes.url]);
  });
  after(async () => {
    await processes?.stop();
  });

  it('sharc status --watch | head -1: the reader went away, sharc ends quietly (exit 0, no EPIPE)', async () => {
    for (const json of [false, true]) {
      const run = await firstLineThenClose(['status', '--watch', '--interval', '0.2', ...(json ? ['--json'] : []), '--servers', processes.url]);
      assert.ok(run.line.length > 0, 'the first line was printed');
      assert.doesNotMatch(run.stderr, /EPIPE|Unhandled|at /, run.stderr);
      assert.equal(run.code, 0, run.stderr);
    }
  });

  it('a bad argument of sharc submit is told once', async () => {
    for (const args of [
      ['submit', 'reduce', 'tiny', 'sum', '--timeout-ms', '-5'],
      ['submit', 'reduce', 'tiny', 'sum', '--params', '{'],
      ['submit', 'map', 'tiny', '--kernel', 'nofile'],
    ]) {
      const run = await sharc(args);
      assert.equal(run.code, 2, run.stderr);
      assert.equal(run.stderr.split('\n').filter((line) => line.startsWith('sharc: ')).length, 1, run.stderr);
    }
  });

  it('sharc wait and sharc result on a giant or garbage id: a usage error that does not echo the whole id', async () => {
    for (const command of ['wait', 'result']) {
      for (const id of ['a'.repeat(100_000), '../x', 'a.b']) {
        const run = await sharc([command, id]);
        assert.equal(run.code, 2, run.stderr);
        assert.match(run.stderr, /is not a job id/);
        assert.ok(run.stderr.length < 500, `${run.stderr.length} characters of error`);
      }
    }
  });

  it('a misspelt flag of the new commands is refused naming the nearest one', async () => {
    for (const [args, meant] of [
      [['submit', 'reduce', 'tiny', 'sum', '--detatch'], '--detach'],
      [['status', '--watch', '--intervall', '2'], '--interval'],
      [['status', '--wach'], '--watch'],
      [['jobs', '--jsn'], '--json'],
    ] as const) {
      const run = await sharc([...args]);
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, new RegExp(`did you mean '?${meant}'?`), run.stderr);
    }
  });
});
