/**
 * A task reading the second array's rows of `dot` from another agent's data port, while that
 * agent is paused (SIGSTOP): its kernel still accepts the connection and the request, and no
 * byte ever comes. The read gives up after DATA_READ_IDLE_TIMEOUT_MS with a retryable
 * ConnectionError naming the agent, and the job runs the task again once the rows are served
 * elsewhere: it ends (right, or failed retryably), never waits out its own timeout. Real
 * nats-server, coordinator and agent processes.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DATA_READ_IDLE_TIMEOUT_MS, SharcError } from '@sharc/protocol';
import { startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import { connect, type Cluster } from '../src/index.js';
import { hangGuard } from './cluster-waits.js';

/** The job's own timeout: a read that waited for the paused agent would end only here. */
const JOB_TIMEOUT_MS = 120_000;
/** Far past the idle timeout, the liveness window and a retry; far before the job's timeout. */
const HANG_MS = DATA_READ_IDLE_TIMEOUT_MS + 30_000;

const bounded = hangGuard(HANG_MS);

describe('data-plane reads from a paused agent (real processes)', () => {
  let processes: ProcessCluster;
  let cluster: Cluster;
  let dir: string;
  let paused: string | undefined;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-read-timeout-'));
    processes = await startProcessCluster({ agents: 2, threads: 1, memory: '256MiB' });
    cluster = await connect({ servers: processes.url });
  });
  after(async () => {
    if (paused !== undefined) processes.agents.get(paused)?.child.kill('SIGCONT');
    await cluster?.close();
    await processes?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('dot whose second array is read from a paused agent ends, right or failed retryably, long before its timeout', async (t) => {
    const rows = 200_000;
    const dataA = Float64Array.from({ length: rows }, (_, i) => (i % 1013) * 0.25);
    const dataB = Float64Array.from({ length: rows }, (_, i) => (i % 997) - 400);
    // a has a copy on both agents; b one partition on one agent, read again from its file once lost.
    const a = await cluster.put(dataA, { partitions: 4, copies: 2 });
    const staged = await cluster.put(dataB, { partitions: 1, copies: 1 });
    const file = path.join(dir, 'b.npy');
    await staged.save(file);
    await staged.delete();
    const b = await cluster.fromFile(file, { partitions: 1 });
    const holder = b.placement[0]!.agentId;
    assert.ok(a.placement.some((p) => p.agentId !== holder), 'some of a is served by the other agent: its tasks read b over the data port');
    let expected = 0;
    for (let i = 0; i < rows; i++) expected += dataA[i]! * dataB[i]!;

    // Paused just before the job: the coordinator still counts it alive for its liveness
    // window and sends the other agent tasks that read b from it.
    paused = holder;
    processes.agents.get(holder)!.child.kill('SIGSTOP');
    const outcome = await bounded(
      cluster.dot(a, b, { timeoutMs: JOB_TIMEOUT_MS }).then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      ),
      'dot reading from a paused agent',
    );
    t.diagnostic('error' in outcome ? `failed retryably: ${String(outcome.error)}` : 'ran again and returned the right value');
    if ('error' in outcome) {
      assert.ok(outcome.error instanceof SharcError && outcome.error.retryable, `fails retryably: ${String(outcome.error)}`);
    } else {
      assert.ok(Math.abs(outcome.value - expected) <= 1e-9 * Math.abs(expected), `dot ${outcome.value}, expected ${expected}`);
    }
    processes.agents.get(holder)!.child.kill('SIGCONT');
    paused = undefined;
    // Once it runs again, the cluster answers as before.
    assert.ok(Math.abs((await cluster.dot(a, b, { timeoutMs: JOB_TIMEOUT_MS })) - expected) <= 1e-9 * Math.abs(expected));
  });
});
