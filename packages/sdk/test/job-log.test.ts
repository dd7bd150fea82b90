/**
 * A job leaves a trace: the coordinator (a real process) logs one info line when a job starts
 * and one when it ends, with its id, kind, kernel, array, partitions, duration and outcome, as
 * JSON lines a log tool can read; a failed job's line names its error; a file load is a job too.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import { connect, KernelError, type Cluster } from '../src/index.js';
import { KERNELS } from './scenarios.js';

interface Line {
  level: number;
  msg: string;
  jobId?: string;
  kind?: string;
  kernel?: string;
  array?: string;
  partitions?: number;
  durationMs?: number;
  outcome?: string;
  error?: string;
}
const INFO = 30;

describe('job log lines', () => {
  let processes: ProcessCluster;
  let logDir: string;
  let cluster: Cluster;

  before(async () => {
    logDir = await mkdtemp(path.join(os.tmpdir(), 'sharc-job-log-'));
    processes = await startProcessCluster({ agents: 2, threads: 1, memory: '128MiB', logDir, env: { SHARC_LOG_LEVEL: 'info' } });
    // Through the coordinator: a direct reduce never reaches it.
    cluster = await connect({ servers: processes.url, directReduce: false });
  });
  after(async () => {
    await cluster?.close();
    await processes?.stop();
    await rm(logDir, { recursive: true, force: true });
  });

  const readLog = async () =>
    (await readFile(path.join(logDir, 'coordinator.log'), 'utf8'))
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as Line);

  async function linesOf(array: string, count: number): Promise<Line[]> {
    for (let tries = 0; ; tries++) {
      const lines = (await readLog()).filter((l) => l.array === array && /^job (started|finished)$/.test(l.msg));
      if (lines.length >= count || tries > 100) return lines;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  it('a reduce and a map each log a start and an end line at info', async () => {
    const data = Float64Array.from({ length: 1000 }, (_, i) => i);
    const a = await cluster.put(data, { name: 'logged', partitions: 4 });
    assert.equal(await cluster.reduce(a, 'sum'), 499_500);
    const doubled = await a.scale(2, { name: 'doubled' });
    const lines = await linesOf('logged', 4);
    // Per job, in order (a reduce's value reaches its client from the agents, so the next job
    // may start before the coordinator hears the last partial and logs the end).
    const byJob = new Map<string | undefined, Line[]>();
    for (const line of lines) byJob.set(line.jobId, [...(byJob.get(line.jobId) ?? []), line]);
    assert.equal(byJob.size, 2, JSON.stringify(lines));
    assert.deepEqual(
      [...byJob.values()].map((job) => job.map((l) => [l.msg, l.kind, l.kernel, l.partitions, l.outcome])),
      [
        [
          ['job started', 'reduce', 'sum', 4, undefined],
          ['job finished', 'reduce', 'sum', 4, 'ok'],
        ],
        [
          ['job started', 'map', 'scale', 4, undefined],
          ['job finished', 'map', 'scale', 4, 'ok'],
        ],
      ],
    );
    for (const line of lines) assert.equal(line.level, INFO);
    for (const end of lines.filter((l) => l.msg === 'job finished')) assert.ok(typeof end.durationMs === 'number' && end.durationMs >= 0);
    await doubled.delete();
    await a.delete();
  });

  it("a failed job's end line says failed and names the error", async () => {
    const a = await cluster.put(Float64Array.from({ length: 100 }, (_, i) => i), { name: 'failing', partitions: 2 });
    await assert.rejects(cluster.reduce(a, { module: KERNELS, partial: 'throwsOnSecondHalf', combine: 'add' }), KernelError);
    const lines = await linesOf('failing', 2);
    const end = lines.find((l) => l.msg === 'job finished');
    assert.equal(end?.outcome, 'failed', JSON.stringify(lines));
    assert.equal(end.kernel, 'custom');
    assert.match(end.error ?? '', /KernelError/);
    await a.delete();
  });

  it('a file load the client follows logs its lines too, with the partitions it made', async () => {
    const a = await cluster.put(Float64Array.from({ length: 600 }, (_, i) => i), { partitions: 3 });
    const file = path.join(logDir, 'saved.npy');
    await a.save(file);
    const loaded = await cluster.fromFile(file, { name: 'from-file', partitions: 3 });
    assert.equal(await cluster.reduce(loaded, 'sum'), 179_700);
    const lines = (await linesOf('from-file', 4)).filter((l) => l.kind === 'load');
    assert.deepEqual(
      lines.map((l) => [l.msg, l.kernel, l.partitions, l.outcome]),
      [
        ['job started', 'file', 3, undefined],
        ['job finished', 'file', 3, 'ok'],
      ],
    );
    await loaded.delete();
    await a.delete();
  });
});
