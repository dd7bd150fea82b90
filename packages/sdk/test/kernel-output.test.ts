/**
 * What a kernel prints reaches its caller (onLog), tagged with the agent, partition and rows it
 * ran, on both paths (reduces sent straight to the agents, and jobs through the coordinator);
 * a kernel printing in a tight loop is bounded and its job still succeeds; the agents' logs stay
 * valid JSON lines; and progress moves block by block while a long job runs. Real processes:
 * nats-server, a coordinator and two agents.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KERNEL_OUTPUT_LINES_PER_JOB, MAX_KERNEL_OUTPUT_LINE, rowsPerBlock } from '@sharc/protocol';
import { startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import { connect, type ArrayRef, type Cluster, type KernelLogLine } from '../src/index.js';

const KERNELS = fileURLToPath(new URL('../../test/fixtures/output-kernels.ts', import.meta.url));
/** uint8: one row is one byte, so a block holds rowsPerBlock(1) rows (4 MiB). */
const ROWS_PER_BLOCK = rowsPerBlock(1);

/** The blocks of an array as the agents cut them: partition, rows [start, end). */
function blocksOf(array: ArrayRef): Array<{ partition: number; rows: [number, number] }> {
  const blocks: Array<{ partition: number; rows: [number, number] }> = [];
  for (const p of array.placement) {
    for (let start = p.rowStart; start < p.rowStart + p.rowCount; start += ROWS_PER_BLOCK) {
      blocks.push({ partition: p.index, rows: [start, Math.min(start + ROWS_PER_BLOCK, p.rowStart + p.rowCount)] });
    }
  }
  return blocks;
}

/** Checks that each block printed `prefix stdout rows S-E` and `prefix stderr rows S-E`, once each, tagged with its partition, rows and serving agent. */
function assertOneLinePerBlockAndStream(lines: KernelLogLine[], array: ArrayRef, prefix: string): void {
  const blocks = blocksOf(array);
  assert.equal(lines.length, blocks.length * 2, `two lines per block: ${JSON.stringify(lines.map((l) => l.text))}`);
  assert.equal(new Set(lines.map((l) => l.job)).size, 1, 'every line names the one job');
  for (const block of blocks) {
    for (const stream of ['stdout', 'stderr'] as const) {
      const text = `${prefix} ${stream} rows ${block.rows[0]}-${block.rows[1]}`;
      const found = lines.filter((l) => l.text === text);
      assert.equal(found.length, 1, `one line ${text}`);
      const line = found[0]!;
      assert.equal(line.stream, stream);
      assert.equal(line.partition, block.partition, `${text}: partition`);
      assert.deepEqual(line.rows, block.rows, `${text}: rows`);
      assert.equal(line.agent, array.placement[block.partition]!.agentId, `${text}: the agent serving partition ${block.partition}`);
    }
  }
}

describe('job logs and block-by-block progress (real processes)', () => {
  let processes: ProcessCluster;
  let logDir: string;
  /** Reduces go straight to the agents (the default). */
  let direct: Cluster;
  /** Every job through the coordinator. */
  let viaCoordinator: Cluster;
  /** 12 MiB over 2 partitions (one per agent): 2 blocks each. */
  let small: ArrayRef;

  before(async () => {
    logDir = await mkdtemp(path.join(os.tmpdir(), 'sharc-job-logs-'));
    // Agents at debug: each direct reduce they serve is a line there.
    processes = await startProcessCluster({ agents: 2, threads: 1, memory: '256MiB', logDir, env: { SHARC_LOG_LEVEL: 'info' }, agentArgs: ['--log-level', 'debug'] });
    direct = await connect({ servers: processes.url });
    viaCoordinator = await connect({ servers: processes.url, directReduce: false });
    small = await direct.put(new Uint8Array(12 * 1024 * 1024).fill(1), { name: 'logs-small', partitions: 2 });
    assert.equal(new Set(small.placement.map((p) => p.agentId)).size, 2, 'the partitions are served by both agents');
  });
  after(async () => {
    await direct?.close().catch(() => undefined);
    await viaCoordinator?.close().catch(() => undefined);
    await processes?.stop();
    await rm(logDir, { recursive: true, force: true });
  });

  for (const route of ['direct', 'coordinator'] as const) {
    it(`a custom reduce's console.log and console.error reach onLog, tagged with agent, partition and rows (${route})`, async () => {
      const cluster = route === 'direct' ? direct : viaCoordinator;
      const lines: KernelLogLine[] = [];
      const before = await directBatches(direct);
      const count = await cluster.reduce<number>(small, { module: KERNELS, partial: 'loudCount', combine: 'add' }, { onLog: (line) => lines.push(line) });
      assert.equal(count, small.byteLength);
      // Every line is in when the call returns.
      assertOneLinePerBlockAndStream(lines, small, 'partial');
      if (route === 'direct') assert.ok((await eventuallyValue(() => directBatches(direct), (n) => n > before)) > before, 'the reduce went direct');
    });
  }

  it('without onLog, the lines are printed on the caller\'s stderr as [agent pN rows S-E] text', async () => {
    const sdk = new URL('../src/index.js', import.meta.url).href;
    const script = `
      import { connect } from ${JSON.stringify(sdk)};
      const cluster = await connect({ servers: ${JSON.stringify(processes.url)} });
      const array = await cluster.open('logs-small');
      const count = await cluster.reduce(array, { module: ${JSON.stringify(KERNELS)}, partial: 'loudCount', combine: 'add' });
      process.stdout.write(String(count));
      await cluster.close();
    `;
    const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stdout, stderr }));
    });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, String(small.byteLength));
    const expected = blocksOf(small).flatMap(({ partition, rows }) =>
      ['stdout', 'stderr'].map((stream) => `[${small.placement[partition]!.agentId} p${partition} rows ${rows[0]}-${rows[1]}] partial ${stream} rows ${rows[0]}-${rows[1]}`),
    );
    assert.deepEqual(run.stderr.split('\n').filter((line) => line.startsWith('[')).sort(), expected.sort());
  });

  it("a custom map's console.info and console.warn reach onLog, tagged with agent, partition and rows", async () => {
    const lines: KernelLogLine[] = [];
    const copy = await direct.map(small, { module: KERNELS, kernel: 'loudCopy' }, { onLog: (line) => lines.push(line) });
    try {
      assert.equal(Number(await direct.reduce(copy, 'sum')), small.byteLength);
      assertOneLinePerBlockAndStream(lines, small, 'map');
    } finally {
      await direct.delete(copy.name);
    }
  });

  for (const route of ['direct', 'coordinator'] as const) {
    it(`a kernel printing 100,000 lines per block is bounded, says how many lines it dropped, and its job succeeds (${route})`, async () => {
      const cluster = route === 'direct' ? direct : viaCoordinator;
      const lines: KernelLogLine[] = [];
      const printedPerBlock = 100_001;
      const count = await cluster.reduce<number>(small, { module: KERNELS, partial: 'flood', combine: 'add', params: { lines: 100_000 } }, { onLog: (line) => lines.push(line) });
      assert.equal(count, small.byteLength);
      for (const agent of new Set(small.placement.map((p) => p.agentId))) {
        const blocks = blocksOf(small).filter((b) => small.placement[b.partition]!.agentId === agent).length;
        const ofAgent = lines.filter((l) => l.agent === agent);
        const summaries = ofAgent.filter((l) => / more lines of kernel output dropped on agent /.test(l.text));
        const forwarded = ofAgent.length - summaries.length;
        assert.equal(forwarded, KERNEL_OUTPUT_LINES_PER_JOB, `agent ${agent} forwards ${KERNEL_OUTPUT_LINES_PER_JOB} lines`);
        assert.equal(summaries.length, 1, `agent ${agent} says once how many it dropped`);
        const dropped = Number(/^(\d+) more lines/.exec(summaries[0]!.text)![1]);
        assert.equal(forwarded + dropped, blocks * printedPerBlock, `agent ${agent}: every line printed is forwarded or counted as dropped`);
        assert.equal(summaries[0]!.stream, 'stderr');
      }
      const long = lines.find((l) => l.text.startsWith('xxxx'));
      assert.ok(long !== undefined, 'the long line came');
      assert.equal(long.text, `${'x'.repeat(MAX_KERNEL_OUTPUT_LINE)}… (${20_000 - MAX_KERNEL_OUTPUT_LINE} more characters)`, 'cut to 8 KiB, saying by how much');
    });
  }

  it('progress moves block by block: onProgress and runningJobs() show values between 0 and the total while a long job runs', async () => {
    // One partition of 6 blocks (one agent, one thread), 300 ms per block: progress between 0
    // and the total can only come from within the partition (a partition's end reports all 6).
    const big = await direct.put(new Uint8Array(24 * 1024 * 1024).fill(1), { name: 'logs-big', partitions: 1 });
    const total = blocksOf(big).length;
    const kernel = { module: KERNELS, params: { ms: 300 } };
    try {
      for (const [what, run] of [
        ['reduce (coordinator)', (onProgress: Progress) => viaCoordinator.reduce(big, { ...kernel, partial: 'slowCount', combine: 'add' }, { onProgress })],
        ['reduce (direct)', (onProgress: Progress) => direct.reduce(big, { ...kernel, partial: 'slowCount', combine: 'add' }, { onProgress })],
        ['map', (onProgress: Progress) => viaCoordinator.map(big, { ...kernel, kernel: 'slowCopy' }, { onProgress }).then((copy) => viaCoordinator.delete(copy.name))],
      ] as const) {
        const seen: number[] = [];
        let running = true;
        const job = run((done, of) => {
          assert.equal(of, total, `${what}: total`);
          seen.push(done);
        }).finally(() => (running = false));
        // The coordinator's view (sharc status) while its jobs run: poll until one shows partial progress.
        let statusShown: { doneBlocks: number; totalBlocks: number } | undefined;
        if (what !== 'reduce (direct)') {
          while (running && statusShown === undefined) {
            const partway = (await viaCoordinator.runningJobs()).find((j) => j.doneBlocks > 0 && j.doneBlocks < j.totalBlocks);
            if (partway !== undefined) statusShown = partway;
            else await new Promise((resolve) => setTimeout(resolve, 50));
          }
        }
        await job;
        assert.ok(seen.some((done) => done > 0 && done < total), `${what}: onProgress saw values strictly between 0 and ${total}: ${seen.join(', ')}`);
        assert.equal(seen.at(-1), total, `${what}: ends at the total`);
        if (what !== 'reduce (direct)') {
          assert.ok(statusShown !== undefined, `${what}: runningJobs() showed 0 < doneBlocks < totalBlocks while the job ran`);
          assert.equal(statusShown.totalBlocks, total);
        }
      }
    } finally {
      await direct.delete(big.name);
    }
  });

  it("the agents' logs are JSON lines, with each forwarded line at info (stdout) or warn (stderr), and a debug line per direct reduce served", async () => {
    const files = (await readdir(logDir)).filter((f) => f.startsWith('agent'));
    assert.equal(files.length, 2);
    let kernelLines = 0;
    const served: Array<Record<string, unknown>> = [];
    for (const file of files) {
      const text = await readFile(path.join(logDir, file), 'utf8');
      for (const line of text.split('\n')) {
        if (line === '') continue;
        let entry: Record<string, unknown>;
        try {
          entry = JSON.parse(line) as Record<string, unknown>;
        } catch {
          assert.fail(`${file}: a line that is not JSON: ${line.slice(0, 200)}`);
        }
        if (entry.msg === 'direct reduce served') served.push(entry);
        if (entry.msg !== 'kernel output') continue;
        kernelLines++;
        assert.equal(typeof entry.agent, 'string');
        assert.equal(typeof entry.job, 'string');
        assert.equal(typeof entry.partition, 'number');
        assert.ok(Array.isArray(entry.rows) && entry.rows.length === 2, 'rows [start, end)');
        assert.equal(entry.level, entry.stream === 'stderr' ? 40 : 30, 'stderr at warn, stdout at info');
        assert.equal(typeof entry.text, 'string');
      }
    }
    assert.ok(kernelLines > 0, 'the kernels printed into the agents logs');
    // The direct tests above: a loud reduce, a flood, a slow reduce, each on both agents, and built-in sums.
    assert.ok(served.length >= 6, `direct reduces logged: ${served.length}`);
    for (const entry of served) {
      assert.equal(entry.level, 20, 'at debug');
      assert.equal(typeof entry.job, 'string');
      assert.equal(typeof entry.partitions, 'number');
      assert.equal(typeof entry.durationMs, 'number');
      assert.equal(entry.outcome, 'ok');
    }
  });
});

type Progress = (done: number, total: number) => void;

/** Direct batches the agents ran, as their heartbeats report them (every second). */
async function directBatches(cluster: Cluster): Promise<number> {
  return (await cluster.nodes()).reduce((sum, node) => sum + (node.direct?.batches ?? 0), 0);
}

/** `read()` once `until` holds of it (10 s at most), or its last value. */
async function eventuallyValue(read: () => Promise<number>, until: (value: number) => boolean): Promise<number> {
  let value = await read();
  for (let i = 0; i < 100 && !until(value); i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    value = await read();
  }
  return value;
}
