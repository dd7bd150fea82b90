/**
 * The CLI shows what kernels print (`[agent p0 rows 0-100] text` on stderr, with --json too,
 * which keeps stdout for the result), and `sharc status --watch` refreshes until Ctrl-C. Real
 * processes: nats-server, a coordinator and two agents, and the built `sharc` command.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { connect, type ArrayRef } from '@sharc/sdk';
import { SHARC_BIN, startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import { jsonOf, runSharc } from './run-sharc.js';

/** The terminal's erase-line sequence (CSI 2 K). */
const ERASE_LINE = '\x1b[2K';
const KERNELS = fileURLToPath(new URL('../../test/fixtures/output-kernels.ts', import.meta.url));

describe('sharc shows kernel output and watches the cluster (real processes)', () => {
  let processes: ProcessCluster;
  let sharc: (args: string[]) => ReturnType<typeof runSharc>;
  /** 4 MiB of uint8 over 2 partitions (one per agent): one block each. */
  let data: ArrayRef;

  before(async () => {
    processes = await startProcessCluster({ agents: 2, threads: 1, memory: '128MiB' });
    sharc = (args) => runSharc([...args, '--servers', processes.url]);
    const client = await connect({ servers: processes.url });
    try {
      data = await client.put(new Uint8Array(4 * 1024 * 1024).fill(1), { name: 'loud', partitions: 2 });
    } finally {
      await client.close();
    }
  });
  after(async () => {
    await processes?.stop();
  });

  /** The lines each partition's block printed, as the CLI shows them. */
  const expectedLines = (what: 'partial' | 'map') =>
    data.placement.flatMap((p) => {
      const rows = `${p.rowStart}-${p.rowStart + p.rowCount}`;
      return ['stdout', 'stderr'].map((stream) => `[${p.agentId} p${p.index} rows ${rows}] ${what} ${stream} rows ${rows}`);
    });

  it('sharc reduce prints each line a custom kernel printed on stderr, tagged with agent, partition and rows; --json keeps stdout for the result', async () => {
    const run = await sharc(['reduce', 'loud', `${KERNELS}#loudCount`, '--combine', 'add', '--json']);
    assert.deepEqual(jsonOf(run), { array: 'loud', value: data.byteLength });
    const printed = run.stderr.split('\n').filter((line) => line.startsWith('['));
    assert.deepEqual(printed.sort(), expectedLines('partial').sort());
  });

  it('on a terminal, the lines are written above the progress bar, never into it', async () => {
    // util-linux `script` gives the command a pseudo-terminal: the bar is shown there.
    const command = [process.execPath, SHARC_BIN, 'reduce', 'loud', `${KERNELS}#loudCount`, '--combine', 'add', '--servers', processes.url].map((word) => `'${word}'`).join(' ');
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
      child.once('error', reject);
      child.once('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`exit ${code}: ${text}`))));
    });
    assert.match(output, /reduce +\[/, 'the bar was drawn');
    const terminalLines = output.split(/\r?\n/);
    const printed = terminalLines.filter((line) => line.includes('] partial '));
    assert.equal(printed.length, expectedLines('partial').length, JSON.stringify(output));
    for (const line of printed) {
      // What the terminal shows on that line: what follows the last carriage return. The bar
      // drawn there before is wiped (erase line), and the kernel's line is all that is left.
      const shown = line.slice(line.lastIndexOf('\r') + 1);
      assert.ok(shown.startsWith(ERASE_LINE), `the bar's line is erased first: ${JSON.stringify(line)}`);
      assert.ok(expectedLines('partial').includes(shown.slice(ERASE_LINE.length)), `a line of its own: ${JSON.stringify(line)}`);
    }
  });

  it('sharc map prints what its kernel printed', async () => {
    const run = await sharc(['map', 'loud', '--kernel', `${KERNELS}#loudCopy`, '--out', 'loud-copy']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /stored 'loud-copy'/);
    const printed = run.stderr.split('\n').filter((line) => line.startsWith('['));
    assert.deepEqual(printed.sort(), expectedLines('map').sort());
  });

  it('sharc status --watch appends a snapshot per interval when stdout is no terminal, and Ctrl-C ends it with exit 0', async () => {
    for (const json of [false, true]) {
      const child = spawn(process.execPath, [SHARC_BIN, 'status', '--watch', '--interval', '0.2', ...(json ? ['--json'] : []), '--servers', processes.url], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      const snapshots = () => (json ? stdout.split('\n').filter((line) => line.startsWith('{')).length : (stdout.match(/^--- sharc status /gm) ?? []).length);
      await new Promise<void>((resolve) => {
        child.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString();
          if (snapshots() >= 3) resolve();
        });
        void exited.then(() => resolve());
      });
      child.kill('SIGINT');
      assert.equal(await exited, 0, `exit 0 on Ctrl-C (stderr: ${stderr})`);
      assert.doesNotMatch(stderr, /cancelling/, 'Ctrl-C ends a watch: nothing to cancel');
      assert.ok(snapshots() >= 3, `three snapshots or more: ${stdout}`);
      assert.ok(!stdout.includes('\x1b['), 'no cursor movement on a pipe');
      if (json) {
        for (const line of stdout.split('\n').filter((l) => l !== '')) {
          const snapshot = JSON.parse(line) as { time: string; agents: unknown[]; arrays: Array<{ name: string }>; jobs: unknown[] };
          assert.equal(snapshot.agents.length, 2);
          assert.ok(snapshot.arrays.some((a) => a.name === 'loud'));
          assert.ok(!Number.isNaN(Date.parse(snapshot.time)));
        }
      } else {
        for (const agent of processes.agents.keys()) assert.ok(stdout.split(agent).length - 1 >= 3, `every snapshot lists ${agent}`);
      }
    }
  });

  it('sharc status --watch on a terminal redraws in place (cursor home, clear) at each refresh', async () => {
    // util-linux `script` gives the command a pseudo-terminal, as an interactive shell would.
    // `exec`: script runs the command through $SHELL -c (dash when SHELL is unset, as in CI),
    // and dash stays as its parent in the terminal's foreground group, where Ctrl-C kills it
    // (exit 130) whatever sharc does. An interactive shell keeps itself out of that group.
    const command = ['exec', ...[process.execPath, SHARC_BIN, 'status', '--watch', '--interval', '0.2', '--servers', processes.url].map((word) => `'${word}'`)].join(' ');
    const child = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const redraws = () => output.split('\x1b[H\x1b[2J').length - 1;
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (redraws() >= 3) resolve();
      });
      void exited.then(() => resolve());
    });
    // Ctrl-C as a terminal sends it: the interrupt character on the pseudo-terminal's input.
    child.stdin.write('\x03');
    assert.equal(await exited, 0, `exit 0 on Ctrl-C: ${output.slice(-500)}`);
    assert.ok(redraws() >= 3, `redrawn three times or more: ${JSON.stringify(output.slice(0, 300))}`);
    assert.match(output, /Every 0\.2s: sharc status/);
  });

  it('sharc status: a bad --interval, or --interval without --watch, is a usage error naming the fix', async () => {
    for (const [args, fix] of [
      [['--watch', '--interval', '0'], /--interval must be a number of seconds from 0\.2 to 86400/],
      [['--watch', '--interval', '0.0001'], /--interval must be a number of seconds from 0\.2 to 86400/],
      [['--watch', '--interval', 'soon'], /--interval must be a number of seconds from 0\.2 to 86400/],
      [['--interval', '5'], /add --watch/],
    ] as const) {
      const run = await sharc(['status', ...args]);
      assert.equal(run.code, 2, `${args.join(' ')}: usage error (stderr: ${run.stderr})`);
      assert.match(run.stderr, fix);
    }
  });
});
