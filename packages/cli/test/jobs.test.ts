/**
 * Detached batch jobs from the command line, on real processes (nats-server with JetStream, a
 * coordinator, two agent processes): `sharc submit … --detach` returns at once and its process
 * exits; `sharc wait`, `sharc result` and `sharc jobs` in other processes find the job, also
 * after the coordinator was SIGKILLed and started again.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { connect, type Cluster } from '@sharc/sdk';
import { startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import { jsonOf, runSharc } from './run-sharc.js';

const KERNELS = fileURLToPath(new URL('../../test/fixtures/kernels.ts', import.meta.url));
const ROWS = 20_000;

interface JobJson {
  jobId: string;
  kind: string;
  state: string;
  array: string;
  doneBlocks: number;
  totalBlocks: number;
  value?: unknown;
  output?: string;
  error?: { message: string };
}

describe('sharc submit, jobs, wait and result against a real cluster', () => {
  let processes: ProcessCluster;
  let cluster: Cluster;
  let sharc: (args: string[]) => ReturnType<typeof runSharc>;
  let dir: string;
  const jobs = async () => jsonOf<JobJson[]>(await sharc(['jobs', '--json']));
  /** Submits with --detach and returns the id it printed (its process has exited). */
  const submitDetached = async (args: string[]) => {
    const run = await sharc(['submit', ...args, '--detach']);
    assert.equal(run.code, 0, run.stderr);
    const id = run.stdout.trim();
    assert.match(id, /^[0-9a-f]{24}$/, `only the job id is printed: ${JSON.stringify(run.stdout)}`);
    return id;
  };

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-jobs-'));
    // A restarted coordinator waits this long for agents to rejoin: roomy on a loaded machine.
    processes = await startProcessCluster({ agents: 2, threads: 1, memory: '256MiB', coordinatorArgs: ['--dead-after-ms', '6000'] });
    sharc = (args) => runSharc([...args, '--servers', processes.url]);
    cluster = await connect({ servers: processes.url });
    await cluster.put(Float64Array.from({ length: ROWS }, (_, i) => (i % 97) - 40), { name: 'numbers', partitions: 4 });
    await cluster.put(Float64Array.from({ length: 4000 }, (_, i) => Math.cos(i) * 10), { name: 'grid', shape: [1000, 4], partitions: 3 });
  });
  after(async () => {
    await cluster?.close();
    await processes?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('submit --detach prints the job id and exits; sharc wait in another process prints what sharc reduce prints, and so does sharc result', async () => {
    const id = await submitDetached(['reduce', 'numbers', 'sum']);
    const expected = await sharc(['reduce', 'numbers', 'sum']);
    assert.equal(expected.code, 0, expected.stderr);
    const waited = await sharc(['wait', id]);
    assert.equal(waited.code, 0, waited.stderr);
    assert.equal(waited.stdout, expected.stdout);
    const result = await sharc(['result', id]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, expected.stdout);
    const listed = (await jobs()).find((j) => j.jobId === id);
    assert.equal(listed?.state, 'done');
    assert.equal(listed?.kind, 'reduce');
    assert.equal(listed?.array, 'numbers');
    assert.equal(listed?.value, Number(expected.stdout));
    const table = await sharc(['jobs']);
    assert.match(table.stdout, new RegExp(`${id}\\s+reduce\\s+numbers\\s+done\\s+100%`));
  });

  it('without --detach it waits and prints as reduce and map do: a custom-kernel reduce, built-ins with their flags, a map', async () => {
    const reduce = await sharc(['submit', 'reduce', 'numbers', `${KERNELS}#countAbove`, '--combine', 'add', '--params', '{"threshold":0}']);
    assert.equal(reduce.code, 0, reduce.stderr);
    assert.equal(reduce.stdout, (await sharc(['reduce', 'numbers', `${KERNELS}#countAbove`, '--combine', 'add', '--params', '{"threshold":0}'])).stdout);
    // The built-ins' flags, as sharc reduce takes them.
    for (const args of [['grid', 'std', '--ddof', '1'], ['grid', 'mean', '--axis', '0'], ['numbers', 'histogram', '--bins', '5', '--range=-40,56']]) {
      const submitted = await sharc(['submit', 'reduce', ...args]);
      assert.equal(submitted.code, 0, submitted.stderr);
      assert.equal(submitted.stdout, (await sharc(['reduce', ...args])).stdout, args.join(' '));
    }
    const map = await sharc(['submit', 'map', 'numbers', '--kernel', `${KERNELS}#addOne`, '--out', 'plus-one']);
    assert.equal(map.code, 0, map.stderr);
    assert.match(map.stdout, /^stored 'plus-one': float64 \[20000\]/);
    const stored = await (await cluster.open('plus-one')).toArray();
    assert.equal(stored[5], ((5 % 97) - 40) + 1);
    // A detached map's result names its output array.
    const id = await submitDetached(['map', 'numbers', '--kernel', `${KERNELS}#addOne`, '--out', 'plus-one-again']);
    assert.equal((await sharc(['wait', id])).code, 0);
    const result = await sharc(['result', id]);
    assert.equal(result.stdout.trim(), 'plus-one-again');
  });

  it('a failing kernel: sharc wait exits 1 naming the job and the error, sharc result too', async () => {
    const id = await submitDetached(['map', 'numbers', '--kernel', `${KERNELS}#throws`, '--out', 'never']);
    const waited = await sharc(['wait', id]);
    assert.equal(waited.code, 1);
    assert.match(waited.stderr, new RegExp(`job ${id} failed: .*this kernel always fails`));
    const result = await sharc(['result', id]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /this kernel always fails/);
    assert.equal((await jobs()).find((j) => j.jobId === id)?.state, 'failed');
  });

  it('a job running while the coordinator is SIGKILLed and restarted finishes; sharc result meanwhile says to sharc wait', async () => {
    // Its kernel waits for this file: the job runs until the test creates it.
    const release = path.join(dir, 'release');
    const id = await submitDetached(['reduce', 'numbers', `${KERNELS}#waitForFile`, '--combine', 'add', '--params', JSON.stringify({ file: release })]);
    for (;;) {
      const job = (await jobs()).find((j) => j.jobId === id);
      if (job?.state === 'running') break;
      assert.ok(job !== undefined && job.state === 'queued', `the job is queued or running: ${JSON.stringify(job)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const early = await sharc(['result', id]);
    assert.equal(early.code, 1);
    assert.match(early.stderr, new RegExp(`job ${id} is still running .*sharc wait ${id}`));
    await processes.restartCoordinator();
    // Resumed by the new coordinator, still waiting on the file.
    assert.ok(['queued', 'running'].includes((await jobs()).find((j) => j.jobId === id)?.state ?? 'unknown'));
    await writeFile(release, '');
    const waited = await sharc(['wait', id, '--progress', 'always']);
    assert.equal(waited.code, 0, waited.stderr);
    assert.equal(waited.stdout.trim(), String(ROWS), 'every element counted once');
    assert.match(waited.stderr, /blocks/, 'a progress bar');
  });

  it("a finished job's result survives a coordinator SIGKILL and restart", async () => {
    const id = await submitDetached(['reduce', 'numbers', 'mean']);
    const waited = await sharc(['wait', id]);
    assert.equal(waited.code, 0, waited.stderr);
    await processes.restartCoordinator();
    const result = await sharc(['result', id]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, waited.stdout);
    assert.equal((await jobs()).find((j) => j.jobId === id)?.state, 'done');
  });

  it('bad input is refused, naming the fix', async () => {
    const unknown = await sharc(['result', '0123456789abcdef01234567']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no detached job has id 0123456789abcdef01234567.*sharc jobs/);
    const badId = await sharc(['wait', 'not/an/id']);
    assert.equal(badId.code, 2);
    assert.match(badId.stderr, /not a job id/);
    const axis = await sharc(['submit', 'reduce', 'numbers', 'sum', '--axis', '1']);
    assert.equal(axis.code, 2);
    assert.match(axis.stderr, /--axis 1 makes a new array of one value per row: run sharc op numbers sum --axis 1 --out NAME/);
    const histogram = await sharc(['submit', 'reduce', 'numbers', 'histogram', '--bins', '4']);
    assert.equal(histogram.code, 2);
    assert.match(histogram.stderr, /a submitted histogram needs --range LO,HI/);
    for (const command of ['coordinator', 'up']) {
      const keep = await sharc([command, '--keep-results', 'soon']);
      assert.equal(keep.code, 2, command);
      assert.match(keep.stderr, /--keep-results must be a duration: .*e\.g\. 30m, 24h, 7d.*"soon"/);
    }
    const what = await sharc(['submit']);
    assert.equal(what.code, 2);
    assert.match(what.stderr, /sharc submit reduce NAME OP/);
  });
});
