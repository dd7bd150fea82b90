/**
 * Kernel output from a hostile kernel reaches its caller, on real processes (nats-server, a
 * coordinator, agents with real worker threads).
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import { connect, KernelError, type Cluster, type KernelLogLine } from '../src/index.js';

const HOSTILE = fileURLToPath(new URL('../../test/fixtures/hostile-kernels.ts', import.meta.url));

describe('kernel output of a hostile kernel (real processes)', () => {
  let processes: ProcessCluster;
  let direct: Cluster;
  let viaCoordinator: Cluster;
  before(async () => {
    processes = await startProcessCluster({ agents: 1, threads: 1, memory: '64MiB' });
    direct = await connect({ servers: processes.url });
    viaCoordinator = await connect({ servers: processes.url, directReduce: false });
  });
  after(async () => {
    await direct?.close();
    await viaCoordinator?.close();
    await processes?.stop();
  });

  for (const route of ['direct', 'coordinator'] as const) {
    it(`what a kernel printed before it called process.exit reaches onLog with the job's error (${route})`, async () => {
      const cluster = route === 'direct' ? direct : viaCoordinator;
      const array = await cluster.put(new Float64Array(100).fill(1));
      const lines: KernelLogLine[] = [];
      await assert.rejects(
        cluster.reduce(array, { module: HOSTILE, partial: 'printThenExit', combine: 'add' }, { onLog: (line) => lines.push(line) }),
        (error: unknown) => error instanceof KernelError && /process\.exit/.test(error.message),
      );
      assert.deepEqual(
        lines.map((l) => [l.stream, l.text, l.partition, l.rows]),
        [
          ['stdout', 'giving up on 100 values', 0, [0, 100]],
          ['stderr', 'exiting with code 3', 0, [0, 100]],
        ],
      );
    });
  }
});
