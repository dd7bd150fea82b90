import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { formatNpyHeader, parseNpyHeader } from '@sharc/protocol';
import type { ArrayRef } from '@sharc/sdk';
import { SHARC_BIN, startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import { arraysTable, plural } from '../src/output.js';
import { jsonOf, runSharc } from './run-sharc.js';

const KERNELS = fileURLToPath(new URL('../../test/fixtures/kernels.ts', import.meta.url));
const ROWS = 20_000;
const COLS = 8;

interface StatusJson {
  jobs: Array<{ jobId: string }>;
}

/**
 * `sharc ARGS` started in its own process group, as a shell starts a foreground job: Ctrl-C
 * and a terminal's SIGTERM reach the whole group.
 */
function startSharc(args: string[]) {
  const child = spawn(process.execPath, [SHARC_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    exited,
    stderr: () => stderr,
    signalGroup: (signal: NodeJS.Signals) => process.kill(-child.pid!, signal),
    kill: () => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'),
  };
}

async function waitFor(condition: () => Promise<boolean>, what: string): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('sharc command line ergonomics against a real cluster', () => {
  let processes: ProcessCluster;
  let dir: string;
  let input: Float64Array;
  let sharc: (args: string[]) => ReturnType<typeof runSharc>;
  const names = async () => jsonOf<Array<{ name: string }>>(await sharc(['ls', '--json'])).map((a) => a.name);

  before(async () => {
    processes = await startProcessCluster({ agents: 2, threads: 1, memory: '256MiB' });
    dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-cli-ergonomics-'));
    sharc = (args) => runSharc([...args, '--servers', processes.url]);
    input = new Float64Array(ROWS * COLS).map((_, i) => i % 997);
    await writeFile(path.join(dir, 'input.npy'), Buffer.concat([formatNpyHeader('float64', [ROWS, COLS]), Buffer.from(input.buffer)]));
    jsonOf(await sharc(['put', path.join(dir, 'input.npy'), '--name', 'input', '--json']));
  });
  after(async () => {
    await processes?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses array names with characters that do not print, naming the position and code point; stores nothing', async () => {
    const cases: Array<[string, RegExp]> = [
      ['a\x1b[2Jb', /position 2: U\+001B \(ESC\)/],
      ['row\nfake  float64', /position 4: U\+000A \(newline\)/],
      ['ab\u2028', /position 3: U\+2028 \(line separator\)/],
      ['x\u202etxt.exe', /position 2: U\+202E \(right-to-left override\)/],
      ['c1\u0085', /position 3: U\+0085/],
      ['zero\u200bwidth', /position 5: U\+200B \(zero-width space\)/],
      ['tab\there', /position 4: U\+0009 \(tab\)/],
    ];
    for (const [name, message] of cases) {
      const run = await sharc(['put', path.join(dir, 'input.npy'), '--name', name]);
      assert.equal(run.code, 1, `${JSON.stringify(name)}: ${run.stderr}`);
      assert.match(run.stderr, message, JSON.stringify(name));
      for (const raw of ['\x1b', '\u2028', '\u202e', '\u0085', '\u200b']) assert.ok(!run.stderr.includes(raw), 'the error itself prints the name escaped');
      assert.equal(run.stdout, '');
    }
    const map = await sharc(['map', 'input', '--kernel', `${KERNELS}#addOne`, '--out', 'out\x07']);
    assert.equal(map.code, 1);
    assert.match(map.stderr, /position 4: U\+0007 \(BEL\)/);
    assert.deepEqual(await names(), ['input']);
    // An error quoting a name as it was typed prints it escaped too.
    const typed = await sharc(['reduce', 'no\x1b[2Jpe', 'sum']);
    assert.equal(typed.code, 1);
    assert.ok(typed.stderr.startsWith("sharc: no array named 'no\\x1b[2Jpe'"), typed.stderr);
    // Plain spaces, punctuation and letters of any script are fine.
    const fine = await sharc(['put', path.join(dir, 'input.npy'), '--name', 'données 2024 (v1) — ok', '--partitions', '1']);
    assert.equal(fine.code, 0, fine.stderr);
    assert.match(fine.stdout, /in 1 partition$/m, 'one partition, not "1 partitions"');
    assert.equal((await sharc(['rm', 'données 2024 (v1) — ok'])).code, 0);
  });

  it('says fixes as flags and commands, not SDK calls', async () => {
    const again = await sharc(['put', path.join(dir, 'input.npy'), '--name', 'input']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^sharc: an array named 'input' already exists: pick another name or use --replace\n$/);
    const mapAgain = await sharc(['map', 'input', '--kernel', `${KERNELS}#addOne`, '--out', 'input']);
    assert.match(mapAgain.stderr, /already exists: pick another name or use --replace/);
    const missing = await sharc(['reduce', 'nope', 'sum']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^sharc: no array named 'nope': list the stored arrays with sharc ls\n$/);
    for (const run of [again, mapAgain, missing]) assert.doesNotMatch(run.stderr, /pass \{|cluster\.|\{ replace/);
    // --verbose keeps the same wording on its first line.
    const verbose = await sharc(['get', 'nope', path.join(dir, 'x.npy'), '--verbose']);
    assert.match(verbose.stderr, /^sharc: ArrayNotFoundError: no array named 'nope': list the stored arrays with sharc ls \[ARRAY_NOT_FOUND\]/);
  });

  it("names the array, partition and rows in a kernel's error, and --verbose prints the kernel's stack once", async () => {
    const run = await sharc(['map', 'input', '--kernel', `${KERNELS}#throws`, '--out', 'never']);
    assert.equal(run.code, 1);
    const ids = jsonOf<Array<{ name: string; id: string }>>(await sharc(['ls', '--json']));
    const inputId = ids.find((a) => a.name === 'input')!.id;
    assert.match(run.stderr, /^sharc: partition \d of array 'input' \(rows \d+\.\.\d+\): kernel .*kernels\.ts#throws threw on rows \d+\.\.\d+: this kernel always fails\n$/);
    assert.ok(!run.stderr.includes(inputId), 'the internal id is not how the user knows the array');
    const verbose = await sharc(['map', 'input', '--kernel', `${KERNELS}#throws`, '--out', 'never', '--verbose']);
    assert.equal(verbose.code, 1);
    assert.match(verbose.stderr, /KernelError: partition \d of array 'input'/);
    assert.equal(verbose.stderr.match(/at throws \(.*kernels\.ts:\d+:\d+\)/g)?.length, 1, `one copy of the kernel's stack:\n${verbose.stderr}`);
    assert.match(verbose.stderr, /caused by: \w+: this kernel always fails/);
  });

  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    it(`${signal} to the process group during a job cancels it and exits ${code} (128 + the signal)`, async () => {
      const job = startSharc(['reduce', 'input', `${KERNELS}#slow`, '--combine', 'add', '--params', '{"ms": 20000}', '--servers', processes.url]);
      try {
        await waitFor(async () => jsonOf<StatusJson>(await sharc(['status', '--json'])).jobs.length === 1, 'the job to show in sharc status');
        job.signalGroup(signal);
        assert.equal(await job.exited, code, job.stderr());
        assert.match(job.stderr(), /cancelling/);
        assert.match(job.stderr(), /was cancelled/);
        await waitFor(async () => jsonOf<StatusJson>(await sharc(['status', '--json'])).jobs.length === 0, 'the job to be gone from the coordinator');
      } finally {
        job.kill();
      }
    });
  }

  it('get NAME DIR writes DIR/NAME.npy, as cp does', async () => {
    const out = path.join(dir, 'fetched');
    await mkdir(out);
    const run = await sharc(['get', 'input', out]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, `wrote ${path.join(out, 'input.npy')}: float64 [${ROWS}, ${COLS}], 1.2 MiB\n`);
    const bytes = await readFile(path.join(out, 'input.npy'));
    const header = parseNpyHeader(bytes);
    assert.deepEqual(header.shape, [ROWS, COLS]);
    assert.deepEqual(new Float64Array(bytes.buffer.slice(bytes.byteOffset + header.dataOffset, bytes.byteOffset + bytes.length)), input);
    assert.deepEqual(await readdir(out), ['input.npy'], 'no partial file');
  });

  it('a get stopped half way (an agent hangs, then Ctrl-C) leaves no partial file and no output', async () => {
    const out = path.join(dir, 'stopped');
    await mkdir(out);
    const agent = [...processes.agents.values()][1]!.child;
    agent.kill('SIGSTOP');
    const get = startSharc(['get', 'input', path.join(out, 'input.npy'), '--servers', processes.url]);
    try {
      // The header and the other agent's rows are written while this agent's never come.
      await waitFor(async () => (await readdir(out)).some((f) => f.includes('.partial-')), 'the partial file');
      get.signalGroup('SIGINT');
      assert.equal(await get.exited, 130, get.stderr());
    } finally {
      agent.kill('SIGCONT');
      get.kill();
    }
    assert.deepEqual(await readdir(out), [], 'neither the file nor a partial one');
  });

  it('unknown commands suggest the nearest one and exit 2', async () => {
    const run = await runSharc(['reduc', 'input', 'sum']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^sharc: unknown command 'reduc': did you mean reduce\?\nRun sharc --help/);
    const far = await runSharc(['frobnicate']);
    assert.equal(far.code, 2);
    assert.match(far.stderr, /Unknown command: frobnicate/);
  });
});

describe('sharc output for people', () => {
  const commands = ['', 'up', 'coordinator', 'agent', 'status', 'ls', 'put', 'get', 'rm', 'reduce', 'map', 'cancel', 'demo'];
  /** The words of a help text, however it is wrapped (yargs may glue a word to its "[type]"). */
  const words = (text: string) => text.replace(/\[/g, ' [').split(/\s+/).filter((w) => w !== '');

  it('wraps help at 80 columns between words, never inside one', async () => {
    for (const command of commands) {
      const args = command === '' ? ['--help'] : [command, '--help'];
      const narrow = await runSharc(args, { COLUMNS: '80' });
      const wide = await runSharc(args, { COLUMNS: '1000' });
      assert.equal(narrow.code, 0, narrow.stderr);
      const long = narrow.stdout.split('\n').filter((line) => [...line].length > 80);
      assert.deepEqual(long, [], `sharc ${command} --help: lines over 80 columns`);
      // A word cut in two shows as two words that the unwrapped help does not have.
      assert.deepEqual(words(narrow.stdout).sort(), words(wide.stdout).sort(), `sharc ${command} --help wraps inside a word`);
    }
  });

  it('ls escapes characters that do not print in names an older version stored', () => {
    const stored = [{ name: 'evil\x1b[2J\nfake  float64  1', dtype: 'float64', shape: [3], byteLength: 24, partitions: 1, state: 'ready', lostPartitions: [] }] as unknown as ArrayRef[];
    const table = arraysTable(stored);
    assert.equal(table.split('\n').length, 2, 'a header and one row, no fake row');
    assert.ok(!table.includes('\x1b'));
    assert.match(table, /\$'evil\\x1b\[2J\\nfake {2}float64 {2}1'\s+float64/);
  });

  it('counts with their noun: 1 thread, 2 threads', () => {
    assert.deepEqual([plural(1, 'thread'), plural(2, 'thread'), plural(0, 'agent')], ['1 thread', '2 threads', '0 agents']);
  });
});
