import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { formatNpyHeader, parseNpyHeader } from '@sharc/protocol';
import { connect, TimeoutError } from '@sharc/sdk';
import { SHARC_BIN, startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import { jsonOf, runSharc } from './run-sharc.js';

const KERNELS = fileURLToPath(new URL('../../test/fixtures/kernels.ts', import.meta.url));
const ROWS = 40_000;
const COLS = 16;

interface ArrayJson {
  name: string;
  dtype: string;
  shape: number[];
  bytes: number;
  partitions: number;
}

interface StatusJson {
  agents: Array<{ id: string; workInFlight: number; usedBytes: number }>;
  jobs: Array<{ jobId: string; kind: string; array: string; state: string }>;
}

describe('sharc client commands against a real cluster (nats-server, coordinator, 3 agent processes)', () => {
  let processes: ProcessCluster;
  let dir: string;
  let input: Float64Array;
  let sharc: (args: string[], env?: NodeJS.ProcessEnv) => ReturnType<typeof runSharc>;

  /** The agents' memory in use once it has stopped changing (they report it every second). */
  const settledUsedBytes = async (): Promise<number> => {
    const used = async () => jsonOf<StatusJson>(await sharc(['status', '--json'])).agents.reduce((sum, a) => sum + a.usedBytes, 0);
    let previous = await used();
    for (let attempt = 0; attempt < 20; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 1200));
      const current = await used();
      if (current === previous) return current;
      previous = current;
    }
    return previous;
  };

  before(async () => {
    processes = await startProcessCluster({ agents: 3, threads: 1, memory: '256MiB' });
    dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-cli-'));
    sharc = (args, env) => runSharc([...args, '--servers', processes.url], env);
    input = new Float64Array(ROWS * COLS).map((_, i) => ((i * 7919) % 1001) - 500);
    const header = formatNpyHeader('float64', [ROWS, COLS]);
    await writeFile(path.join(dir, 'input.npy'), Buffer.concat([header, Buffer.from(input.buffer)]));
  });
  after(async () => {
    await processes?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('put FILE.npy --name stores it over every agent', async () => {
    const stored = jsonOf<ArrayJson>(await sharc(['put', path.join(dir, 'input.npy'), '--name', 'input', '--json']));
    assert.deepEqual([stored.name, stored.dtype, stored.shape, stored.bytes], ['input', 'float64', [ROWS, COLS], input.byteLength]);
    // Agents report what they hold with their heartbeat (every second): wait for the next one.
    let agents: Array<{ partitions: number; state: string }> = [];
    for (let attempt = 0; attempt < 50; attempt++) {
      agents = jsonOf<{ agents: typeof agents }>(await sharc(['status', '--json'])).agents;
      if (agents.every((a) => a.partitions >= 1)) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.equal(agents.length, 3);
    assert.ok(agents.every((a) => a.state === 'alive' && a.partitions >= 1), JSON.stringify(agents));
  });

  it('reduce NAME OP gives the same value as plain JS, built-in and custom', async () => {
    const sum = jsonOf<{ value: number }>(await sharc(['reduce', 'input', 'sum', '--json']));
    assert.equal(sum.value, input.reduce((a, b) => a + b, 0));
    const plain = await sharc(['reduce', 'input', 'max']);
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(plain.stdout.trim(), String(input.reduce((a, b) => Math.max(a, b), -Infinity)));
    const custom = jsonOf<{ value: number }>(
      await sharc(['reduce', 'input', `${KERNELS}#countAbove`, '--combine', 'add', '--params', '{"threshold": 400}', '--json']),
    );
    assert.equal(custom.value, input.filter((v) => v > 400).length);
  });

  it('reduce of an int64 array prints the exact sum past 2^63, in text and as a JSON number', async () => {
    const values = new BigInt64Array(1000).fill(2n ** 62n + 12345n);
    await writeFile(path.join(dir, 'big.npy'), Buffer.concat([formatNpyHeader('int64', [1000]), Buffer.from(values.buffer)]));
    jsonOf(await sharc(['put', path.join(dir, 'big.npy'), '--name', 'big', '--json']));
    const exact = String(1000n * (2n ** 62n + 12345n));
    const text = await sharc(['reduce', 'big', 'sum']);
    assert.equal(text.code, 0, text.stderr);
    assert.equal(text.stdout.trim(), exact);
    const json = await sharc(['reduce', 'big', 'sum', '--json']);
    assert.equal(json.code, 0, json.stderr);
    assert.match(json.stdout, new RegExp(`"value": ${exact}\\n`), 'every digit, as a JSON number');
    assert.equal((await sharc(['rm', 'big'])).code, 0);
  });

  it('map --kernel FILE.ts#export --out, then get NAME OUT.npy, matches a local computation', async () => {
    const mapped = jsonOf<ArrayJson>(await sharc(['map', 'input', '--kernel', `${KERNELS}#addOne`, '--out', 'plus-one', '--json']));
    assert.equal(mapped.name, 'plus-one');
    const out = path.join(dir, 'plus-one.npy');
    jsonOf(await sharc(['get', 'plus-one', out, '--json']));
    const bytes = await readFile(out);
    const header = parseNpyHeader(bytes);
    assert.deepEqual([header.dtype, header.shape], ['float64', [ROWS, COLS]]);
    const body = new Float64Array(bytes.buffer.slice(bytes.byteOffset + header.dataOffset, bytes.byteOffset + bytes.length));
    assert.deepEqual(body, input.map((v) => v + 1));
  });

  it('shows a progress bar when asked (--progress always) and none on a pipe by default', async () => {
    const quiet = await sharc(['map', 'input', '--kernel', `${KERNELS}#addOne`, '--out', 'plus-one', '--replace']);
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal(quiet.stderr, '', 'nothing on stderr when it is not a terminal');
    assert.match(quiet.stdout, /stored 'plus-one': float64 \[40000, 16\]/);
    const bar = await sharc(['put', path.join(dir, 'input.npy'), '--name', 'again', '--progress', 'always']);
    assert.equal(bar.code, 0, bar.stderr);
    assert.match(bar.stderr, /put +\[█+\] 100% \| 4.9 MiB \/ 4.9 MiB/);
  });

  it('status lists agents, arrays and (no) running jobs; ls and rm manage arrays', async () => {
    const status = await sharc(['status']);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /AGENT\s+HOST\s+STATE\s+THREADS\s+MEMORY USED\/LIMIT\s+PARTITIONS\s+LOAD/);
    assert.match(status.stdout, /agent-1 .* alive .* \/ 256 MiB/);
    assert.match(status.stdout, /input\s+float64\s+40000 x 16/);
    assert.match(status.stdout, /jobs: none running/);
    jsonOf(await sharc(['rm', 'again', 'plus-one', '--json']));
    const names = jsonOf<ArrayJson[]>(await sharc(['ls', '--json'])).map((a) => a.name);
    assert.deepEqual(names, ['input']);
  });

  it('status shows a running job and the load it puts on the agents; Ctrl-C cancels it everywhere', async () => {
    const job = spawn(process.execPath, [SHARC_BIN, 'reduce', 'input', `${KERNELS}#slow`, '--combine', 'add', '--params', '{"ms": 20000}', '--servers', processes.url], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    job.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => job.once('exit', (code) => resolve(code)));
    try {
      let status: StatusJson | undefined;
      for (let attempt = 0; attempt < 100; attempt++) {
        status = jsonOf<StatusJson>(await sharc(['status', '--json']));
        if (status.jobs.length === 1 && status.agents.some((a) => a.workInFlight > 0)) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.equal(status?.jobs.length, 1, JSON.stringify(status));
      assert.deepEqual([status!.jobs[0]!.kind, status!.jobs[0]!.array, status!.jobs[0]!.state], ['reduce', 'input', 'running']);
      assert.ok(status!.agents.some((a) => a.workInFlight > 0), `no agent shows load: ${JSON.stringify(status!.agents)}`);
      const table = await sharc(['status']);
      assert.match(table.stdout, /JOB\s+KIND\s+ARRAY\s+STATE\s+PROGRESS\s+SUBMITTED\n\S+\s+reduce\s+input\s+running\s+\d+%/);

      job.kill('SIGINT');
      assert.equal(await exited, 130, "Ctrl-C exits 128 + SIGINT");
      assert.match(stderr, /cancelling/);
      let jobs = status!.jobs;
      for (let attempt = 0; attempt < 50 && jobs.length > 0; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        jobs = jsonOf<StatusJson>(await sharc(['status', '--json'])).jobs;
      }
      assert.deepEqual(jobs, [], 'the cancelled job is gone from the coordinator');
    } finally {
      job.kill('SIGKILL');
    }
  });

  it('cancel JOB stops a running map of another client, frees its output, and exits 0; an unknown id exits 1', async () => {
    const usedBefore = await settledUsedBytes();
    const map = spawn(
      process.execPath,
      [SHARC_BIN, 'map', 'input', '--kernel', `${KERNELS}#slowAddOne`, '--out', 'slow-out', '--params', '{"ms": 60000}', '--servers', processes.url],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    map.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => map.once('exit', (code) => resolve(code)));
    try {
      let jobs: StatusJson['jobs'] = [];
      for (let attempt = 0; attempt < 100 && jobs.length === 0; attempt++) {
        jobs = jsonOf<StatusJson>(await sharc(['status', '--json'])).jobs;
        if (jobs.length === 0) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.equal(jobs.length, 1, 'the map shows in sharc status');
      const jobId = jobs[0]!.jobId;
      const cancel = await sharc(['cancel', jobId]);
      assert.equal(cancel.code, 0, cancel.stderr);
      assert.equal(cancel.stdout, `cancelled job ${jobId}\n`);
      assert.equal(await exited, 1);
      assert.match(stderr, new RegExp(`job ${jobId} was cancelled`));
      const status = jsonOf<StatusJson>(await sharc(['status', '--json']));
      assert.deepEqual(status.jobs, []);
      assert.ok(!jsonOf<ArrayJson[]>(await sharc(['ls', '--json'])).some((a) => a.name === 'slow-out'), 'the output is not stored');
      assert.equal(await settledUsedBytes(), usedBefore, 'the output was freed on every agent');

      const again = await sharc(['cancel', jobId]);
      assert.equal(again.code, 1);
      assert.match(again.stderr, new RegExp(`^sharc: no running job has id ${jobId}`));
      assert.equal((await sharc(['cancel'])).code, 2);
      assert.equal((await sharc(['cancel', 'not.a.job'])).code, 2);
      const sum = jsonOf<{ value: number }>(await sharc(['reduce', 'input', 'sum', '--json']));
      assert.equal(sum.value, input.reduce((a, b) => a + b, 0));
    } finally {
      map.kill('SIGKILL');
    }
  });

  it('put refuses a file described as something it is not (uploaded or read by the agents), storing nothing', async () => {
    const truncated = path.join(dir, 'truncated.npy');
    const whole = await readFile(path.join(dir, 'input.npy'));
    await writeFile(truncated, whole.subarray(0, 100_000));
    const raw = path.join(dir, 'thousand.f32');
    await writeFile(raw, Buffer.from(Float32Array.from({ length: 1000 }, (_, i) => i).buffer));
    const namesBefore = jsonOf<ArrayJson[]>(await sharc(['ls', '--json'])).map((a) => a.name);
    const cases: Array<[string[], RegExp]> = [
      [[truncated], /truncated.npy is truncated: its header says float64 \[40000, 16\], which needs 5120128 bytes \(128 of header\), the file has 100000/],
      // The header would have been stored as data.
      [
        [path.join(dir, 'input.npy'), '--dtype', 'float64', '--shape', '3,4'],
        /input.npy is a .npy file of float64 \[40000, 16\] \(its header\), but shape \[3, 4\] was given: drop dtype\/shape \(--dtype\/--shape\); they come from its header/,
      ],
      [[path.join(dir, 'input.npy'), '--byte-offset', '0'], /input.npy is a .npy file of float64 \[40000, 16\]: its header says where the data starts \(byte 128\); drop byteOffset \(--byte-offset\)/],
      // One element short: it would have been stored without its last float.
      [[raw, '--dtype', 'float32', '--shape', '999'], /thousand.f32 has 4000 bytes, but shape \[999\] of float32 needs 3996: give the shape that covers it \(\[1000\]\), or give byteOffset \(--byte-offset\)/],
      [[raw, '--dtype', 'float32', '--shape', '2', '--byte-offset', '3996'], /thousand.f32 has 4000 bytes, but shape \[2\] of float32 from byte 3996 needs bytes 3996..4004/],
      [[raw], /thousand.f32 \(4000 bytes\) is not a .npy file .*: if it holds raw little-endian bytes, give both dtype and shape \(--dtype and --shape\)/],
    ];
    for (const [args, message] of cases) {
      for (const where of [[], ['--agents-read']]) {
        const run = await sharc(['put', ...args, ...where, '--name', 'wrong']);
        assert.equal(run.code, 1, `${args.join(' ')} ${where.join(' ')}: ${run.stderr}`);
        assert.match(run.stderr, message);
      }
    }
    assert.deepEqual(jsonOf<ArrayJson[]>(await sharc(['ls', '--json'])).map((a) => a.name), namesBefore, 'nothing was stored');

    // What fits is stored exactly: the whole raw file, or the range --byte-offset states.
    for (const where of [[], ['--agents-read']]) {
      const cluster = await connect({ servers: processes.url });
      try {
        jsonOf(await sharc(['put', raw, '--dtype', 'float32', '--shape', '250,4', '--name', 'raw-whole', ...where, '--json']));
        assert.deepEqual(await (await cluster.open('raw-whole')).toArray(), Float32Array.from({ length: 1000 }, (_, i) => i));
        jsonOf(await sharc(['put', raw, '--dtype', 'float32', '--shape', '10', '--byte-offset', '400', '--name', 'raw-range', ...where, '--json']));
        assert.deepEqual(await (await cluster.open('raw-range')).toArray(), Float32Array.from({ length: 10 }, (_, i) => 100 + i));
        await (await cluster.open('raw-whole')).delete();
        await (await cluster.open('raw-range')).delete();
      } finally {
        await cluster.close();
      }
    }
  });

  it('a failed save leaves an existing file as it was, and no partial file', async () => {
    const out = path.join(dir, 'keep.npy');
    await writeFile(out, 'precious');
    const cluster = await connect({ servers: processes.url });
    try {
      const ref = await cluster.open('input');
      await assert.rejects(ref.save(out, { timeoutMs: 1 }), TimeoutError);
    } finally {
      await cluster.close();
    }
    assert.equal(await readFile(out, 'utf8'), 'precious');
    assert.deepEqual((await readdir(dir)).filter((f) => f.includes('partial')), []);
  });

  it('a job error exits 1 with the reason, and the stored array is intact', async () => {
    const missing = await sharc(['reduce', 'nope', 'sum']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^sharc: no array named 'nope'/);
    const badKernel = await sharc(['map', 'input', '--kernel', `${KERNELS}#notThere`, '--out', 'x']);
    assert.equal(badKernel.code, 1);
    assert.match(badKernel.stderr, /notThere/);
    const sum = jsonOf<{ value: number }>(await sharc(['reduce', 'input', 'sum', '--json']));
    assert.equal(sum.value, input.reduce((a, b) => a + b, 0));
  });

  it('takes --servers from SHARC_SERVERS and from --config, flags first, then environment, then the file', async () => {
    const good = processes.url;
    const bad = 'nats://127.0.0.1:1';
    const config = path.join(dir, 'sharc.yaml');
    const ls = (args: string[], env: NodeJS.ProcessEnv) => runSharc(['ls', '--json', ...args], env);
    await writeFile(config, `servers: ${good}\n`);
    assert.equal((await ls(['--config', config], {})).code, 0, 'config file alone');
    assert.equal((await ls([], { SHARC_SERVERS: good })).code, 0, 'environment alone');
    assert.equal((await ls(['--config', config], { SHARC_SERVERS: bad })).code, 1, 'environment beats the file');
    await writeFile(config, `servers: ${bad}\n`);
    assert.equal((await ls(['--config', config], { SHARC_SERVERS: good })).code, 0, 'environment beats the file');
    assert.equal((await ls(['--servers', good], { SHARC_SERVERS: bad })).code, 0, 'the flag beats the environment');
    await writeFile(config, JSON.stringify({ servers: good }));
    assert.equal((await ls(['--config', config], {})).code, 0, 'JSON config');
  });
});
