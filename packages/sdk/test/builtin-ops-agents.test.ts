/**
 * The built-in ops on real agent processes (nats-server, a coordinator, two agents): arrays in
 * several partitions, a second array partitioned and placed differently from the first so
 * that rows move between agents over the data port, results against numpy; and a binary op
 * whose second array's agent is killed while the job runs, which runs again and is right.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import { connect, type Cluster } from '../src/index.js';
import { NumpyCheck, makeNumpyInputs } from './numpy-check.js';

const SHAPE = '3000x8';

describe('built-in ops on agent processes', () => {
  let processes: ProcessCluster;
  let cluster: Cluster;
  let dir: string;
  let check: NumpyCheck;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-ops-agents-'));
    check = new NumpyCheck(dir);
    makeNumpyInputs(dir, [SHAPE]);
    processes = await startProcessCluster({ agents: 2, threads: 1, memory: '640MiB' });
    cluster = await connect({ servers: processes.url });
  });
  after(async () => {
    await cluster?.close();
    await processes?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('equal numpy when the second array is partitioned and placed differently (rows move between agents)', async () => {
    const a = await cluster.fromFile(check.file('float32', SHAPE), { partitions: 3 });
    const b = await cluster.fromFile(check.file('int16', SHAPE, 'b'), { partitions: 2 });
    const ints = await cluster.fromFile(check.file('int64', SHAPE), { partitions: 3 });
    const otherInts = await cluster.fromFile(check.file('uint8', SHAPE, 'b'), { partitions: 2 });
    // Some of a's partitions need rows of b that another agent serves: those rows move.
    const remote = a.placement.flatMap((p) =>
      b.placement.filter((q) => q.rowStart < p.rowStart + p.rowCount && q.rowStart + q.rowCount > p.rowStart && q.agentId !== p.agentId),
    );
    assert.ok(remote.length > 0, `a ${JSON.stringify(a.placement)} and b ${JSON.stringify(b.placement)} are placed alike: no row would move`);
    const fileA = check.file('float32', SHAPE);
    const fileB = check.file('int16', SHAPE, 'b');
    for (const op of ['add', 'sub', 'mul', 'div'] as const) {
      await check.output(`${op} float32 int16`, op, undefined, fileA, await cluster[op](a, b), fileB);
      await check.output(`${op} int64 uint8`, op, undefined, check.file('int64', SHAPE), await cluster[op](ints, otherInts), check.file('uint8', SHAPE, 'b'));
    }
    check.entries.push({ label: 'dot float32 int16', op: 'dot', a: fileA, b: fileB, value: String(await cluster.dot(a, b)) });
    await check.output('astype float32 → int8', 'astype', { dtype: 'int8' }, fileA, await a.astype('int8'));
    await check.output('astype int64 → float64', 'astype', { dtype: 'float64' }, check.file('int64', SHAPE), await ints.astype('float64'));
    await check.output('scale float32', 'scale', { factor: 0.5, offset: 3 }, fileA, await a.scale(0.5, { offset: 3 }));
    await check.output('sum axis 1', 'rowsum', undefined, fileA, await cluster.rowStatistic(a, 'sum'));
    await check.output('std axis 1', 'rowstd', { ddof: 1 }, fileA, await cluster.rowStatistic(a, 'std', { ddof: 1 }));
    await check.output('max axis 1 int64', 'rowmax', undefined, check.file('int64', SHAPE), await cluster.rowStatistic(ints, 'max'));
    const v = Float64Array.from({ length: 8 }, (_, i) => i - 3.5);
    await check.output('matvec', 'matvec', { v }, fileA, await cluster.matvec(a, v));
    await check.output('slice 900..2100', 'slice', { start: 900, end: 2100 }, fileA, await a.slice(900, 2100));
    assert.deepEqual(await check.problems(), []);
  });

  it('gets a binary op and dot right when an agent holding the second array dies while they run (or just after: the output is computed again from both inputs)', async () => {
    const rows = 2_000_000;
    const dataA = Float64Array.from({ length: rows * 4 }, (_, i) => (i % 1013) * 0.25);
    const dataB = Float64Array.from({ length: rows * 4 }, (_, i) => (i % 997) - 400);
    // a has a copy on both agents; b one copy per partition, read again from its file when lost.
    const a = await cluster.put(dataA, { shape: [rows, 4], partitions: 4, copies: 2 });
    const staged = await cluster.put(dataB, { shape: [rows, 4], partitions: 1, copies: 1 });
    const file = path.join(dir, 'b.npy');
    await staged.save(file);
    await staged.delete();
    const b = await cluster.fromFile(file, { partitions: 3 });
    const victim = b.placement[1]!.agentId;
    // Killed once the add's tasks run (its first progress), or once it ended if it is faster.
    let killed: Promise<void> | undefined;
    const kill = () => (killed ??= processes.agents.get(victim)!.kill());
    const sum = cluster.add(a, b, { name: 'sum-after-death', timeoutMs: 120_000, onProgress: (done) => void (done > 0 && kill()) });
    const dot = cluster.dot(a, b, { timeoutMs: 120_000 });
    const made = await sum;
    await kill();
    const product = await dot;
    const got = (await made.toArray()) as Float64Array;
    let expectedDot = 0;
    for (let i = 0; i < got.length; i++) {
      if (got[i] !== dataA[i]! + dataB[i]!) assert.fail(`element ${i}: ${got[i]} is not ${dataA[i]! + dataB[i]!}`);
      expectedDot += dataA[i]! * dataB[i]!;
    }
    assert.ok(Math.abs(product - expectedDot) <= 1e-9 * Math.abs(expectedDot), `dot ${product}, expected ${expectedDot}`);
  });

  it('computes a lost output partition of a binary op and of a slice again from their inputs (both inputs of the binary op)', async () => {
    // Two live agents again (the test before killed one).
    for (const [name, agent] of processes.agents) if (!agent.running) await processes.addAgent(name);
    await until(async () => (await cluster.nodes()).filter((n) => n.state === 'alive').length === 2);
    const rows = 20_000;
    const dataA = Float64Array.from({ length: rows * 4 }, (_, i) => Math.sin(i) * 1000);
    const dataB = Int32Array.from({ length: rows * 4 }, (_, i) => (i * 7919) % 4001);
    const a = await cluster.put(dataA, { shape: [rows, 4], partitions: 2, copies: 2 });
    const staged = await cluster.put(dataB, { shape: [rows, 4], partitions: 1, copies: 1 });
    const file = path.join(dir, 'lineage-b.npy');
    await staged.save(file);
    await staged.delete();
    const b = await cluster.fromFile(file, { partitions: 3 });
    const sum = await cluster.add(a, b);
    const rowsOfA = await a.slice(5000, 15_000);
    const victim = sum.placement[0]!.agentId;
    await processes.agents.get(victim)!.kill();
    await until(async () => (await cluster.nodes()).some((n) => n.id === victim && n.state === 'dead'));
    const got = (await (await cluster.open(sum.name)).toArray()) as Float64Array;
    for (let i = 0; i < got.length; i++) if (got[i] !== dataA[i]! + dataB[i]!) assert.fail(`element ${i}: ${got[i]} is not ${dataA[i]! + dataB[i]!}`);
    assert.deepEqual(await (await cluster.open(rowsOfA.name)).toArray(), dataA.subarray(5000 * 4, 15_000 * 4));
  });
});

async function until(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 150; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail('the cluster never reached the expected state');
}
