/**
 * A client that dies leaves nothing behind, with real processes: nats-server, a coordinator,
 * two agent processes, and the client as a process of its own that the test SIGKILLs. Its
 * uploads in progress are dropped (agents' memory and the name freed) and its jobs cancelled
 * (a map's output freed) within the coordinator's liveness window (3 s), unless detached; a
 * client that is alive, however slow, keeps what it holds. Waits are bounded polls of what a
 * user sees (`nodes()`, `runningJobs()`, `list`), never timed assertions.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { runSharc, startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import { connect, InvalidArgumentError, type Cluster } from '../src/index.js';
import { settledUsedBytes, usedBytes } from './cluster-waits.js';

const CLIENT = fileURLToPath(new URL('./fixtures/client-process.js', import.meta.url));
const KERNELS = fileURLToPath(new URL('../../test/fixtures/client-kernels.ts', import.meta.url));
/** The coordinator's liveness window (its default) and a generous margin for a loaded machine. */
const WINDOW_MS = 3000;
const BOUND_MS = WINDOW_MS + 12_000;

interface ClientEvent {
  event: string;
  done?: number;
  total?: number;
  code?: string;
  name?: string;
  message?: string;
}

/** A client process and the events it printed. */
class ClientProcess {
  readonly events: ClientEvent[] = [];
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;
  private wake: () => void = () => undefined;

  constructor(command: Record<string, unknown>) {
    this.child = spawn(process.execPath, [CLIENT, JSON.stringify(command)], { stdio: ['ignore', 'pipe', 'inherit'] });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      this.events.push(JSON.parse(line) as ClientEvent);
      this.wake();
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  /** The first event that satisfies `match`; fails if the process ends first. */
  async next(match: (event: ClientEvent) => boolean): Promise<ClientEvent> {
    let ended = false;
    void this.exited.then(() => {
      ended = true;
      this.wake();
    });
    for (;;) {
      const found = this.events.find(match);
      if (found !== undefined) return found;
      if (ended) throw new Error(`the client process ended without the event; it printed ${JSON.stringify(this.events.slice(-3))}`);
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

/** Polls `condition` until it holds or `boundMs` passes; says whether it held. */
async function within(boundMs: number, condition: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + boundMs;
  for (;;) {
    if (await condition()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}


describe('a client that dies leaves nothing behind (real processes; the client SIGKILLed)', () => {
  let processes: ProcessCluster;
  let cluster: Cluster;
  before(async () => {
    processes = await startProcessCluster({ agents: 2, threads: 1, memory: '768MiB' });
    cluster = await connect({ servers: processes.url });
  });
  after(async () => {
    await cluster?.close();
    await processes?.stop();
  });

  it('a client SIGKILLed at 25 % of a 256 MiB put (2 copies): the agents free its memory and the name is free again', async () => {
    const before = await settledUsedBytes(cluster);
    const client = new ClientProcess({ command: 'put', servers: processes.url, name: 'killed-put', mib: 256, partitions: 8, freezeAt: 0.25 });
    const frozen = await client.next((e) => e.event === 'frozen');
    assert.ok(frozen.done! >= frozen.total! / 4 && frozen.done! < frozen.total!, JSON.stringify(frozen));
    await client.kill();
    const freed = await within(BOUND_MS, async () => (await usedBytes(cluster)) === before && (await cluster.list({ all: true })).every((a) => a.name !== 'killed-put'));
    assert.ok(freed, `agents hold ${await usedBytes(cluster)} bytes, ${before} before the put; listed: ${(await cluster.list({ all: true })).map((a) => `${a.name} (${a.state})`).join(', ')}`);
    const again = await cluster.put(new Float64Array(1000).fill(2), { name: 'killed-put' });
    assert.equal(await cluster.reduce(again, 'sum'), 2000);
    await again.delete();
  });

  it('an upload in progress is listed (list({ all }), sharc ls --all); sharc rm drops it and its client fails saying so', async () => {
    const before = await settledUsedBytes(cluster);
    // A slow client that is alive: each progress report blocks it for 100 ms (80 partitions).
    const client = new ClientProcess({ command: 'put', servers: processes.url, name: 'slow-put', mib: 64, partitions: 80, pauseMs: 100 });
    await client.next((e) => e.event === 'progress' && e.done! > 0);
    assert.equal((await cluster.list()).find((a) => a.name === 'slow-put'), undefined, 'not listed without all: it is not stored yet');
    const listed = (await cluster.list({ all: true })).find((a) => a.name === 'slow-put');
    assert.equal(listed?.state, 'pending');
    assert.equal(listed?.pending?.writer, 'upload');
    assert.match(listed?.pending?.clientId ?? '', /^client-/);

    const ls = await runSharc(['ls', '--all', '--json', '--servers', processes.url]);
    assert.equal(ls.code, 0, ls.stderr);
    const shown = (JSON.parse(ls.stdout) as Array<{ name: string; state?: string; writer?: string }>).find((a) => a.name === 'slow-put');
    assert.deepEqual([shown?.state, shown?.writer], ['pending', 'upload']);
    const table = await runSharc(['ls', '--all', '--servers', processes.url]);
    assert.match(table.stdout, /slow-put\s+float64\s+8388608\s+64\.0 MiB\s+80\s+pending: upload by client-/);

    const rm = await runSharc(['rm', 'slow-put', '--servers', processes.url]);
    assert.equal(rm.code, 0, rm.stderr);
    const failed = await client.next((e) => e.event === 'error' || e.event === 'done');
    assert.equal(failed.event, 'error', 'the put of an upload that was deleted fails');
    assert.equal(failed.code, 'CANCELLED');
    assert.match(failed.message!, /upload of 'slow-put' was deleted before it finished/);
    await client.exited;
    assert.ok(await within(BOUND_MS, async () => (await usedBytes(cluster)) === before), 'the upload\'s memory is freed');
    const again = await cluster.put(new Float64Array(10).fill(1), { name: 'slow-put' });
    await again.delete();
  });

  it('a live client whose put takes longer than the liveness window is not cut off', async () => {
    // 80 progress reports that each block it 100 ms: ~8 s of put. Up to 8 transfers end at once,
    // so its event loop is blocked up to 0.8 s at a time (more than the window would be a client
    // that does not answer), and its heartbeats go out in between.
    const client = new ClientProcess({ command: 'put', servers: processes.url, name: 'patient-put', mib: 64, partitions: 80, pauseMs: 100 });
    const started = Date.now();
    const end = await client.next((e) => e.event === 'error' || e.event === 'done');
    assert.deepEqual(end, { event: 'done' });
    assert.ok(Date.now() - started > 2 * WINDOW_MS, 'the put outlasted the liveness window (else this test proves nothing)');
    const stored = await cluster.open('patient-put');
    const elements = (64 * 1024 * 1024) / 8;
    let expected = 0;
    for (let i = 0; i < elements; i++) expected += i % 1000;
    assert.equal(await cluster.reduce(stored, 'sum'), expected);
    await stored.delete();
  });

  describe('maps', () => {
    const rows = 4000;
    const data = Float64Array.from({ length: rows }, (_, i) => i);
    before(async () => {
      await cluster.put(data, { name: 'map-input', partitions: 2 });
    });

    const startMap = async (name: string, ms: number, detached: boolean) => {
      const client = new ClientProcess({ command: 'map', servers: processes.url, input: 'map-input', name, ms, detached });
      const running = await within(BOUND_MS, async () => (await cluster.runningJobs()).some((j) => j.array === 'map-input' && j.state === 'running'));
      assert.ok(running, 'the map runs');
      return client;
    };

    it('a client SIGKILLed during a long map: its job is cancelled, the output freed, the name free', async () => {
      const before = await settledUsedBytes(cluster);
      const client = await startMap('orphan-out', 60_000, false);
      const listed = await within(BOUND_MS, async () => (await cluster.list({ all: true })).some((a) => a.name === 'orphan-out' && a.pending?.writer === 'map'));
      assert.ok(listed, 'the output being written is listed by list({ all })');
      await assert.rejects(cluster.delete('orphan-out'), /output of a running job: cancel the job instead/);
      await client.kill();
      const over = await within(BOUND_MS, async () => (await cluster.runningJobs()).length === 0 && (await usedBytes(cluster)) === before);
      assert.ok(over, `jobs: ${JSON.stringify(await cluster.runningJobs())}; agents hold ${await usedBytes(cluster)} bytes, ${before} before the map`);
      assert.equal((await cluster.list({ all: true })).find((a) => a.name === 'orphan-out'), undefined);
      const input = await cluster.open('map-input');
      const again = await cluster.map(input, { module: KERNELS, kernel: 'sleepyAffine', params: { ms: 0 } }, { name: 'orphan-out' });
      assert.deepEqual(await again.toArray(), data.map((v) => 2 * v + 1));
      await again.delete();
    });

    it('a coordinator restarted after the client died resumes its map, then cancels it once the client is not heard from', async () => {
      const before = await settledUsedBytes(cluster);
      const client = await startMap('restart-orphan', 60_000, false);
      // A job is stored for a new coordinator to resume once it has run 100 ms.
      await new Promise((resolve) => setTimeout(resolve, 500));
      await client.kill();
      await processes.restartCoordinator();
      // The new coordinator never heard from the client: it gives it a window, then lets go.
      const over = await within(BOUND_MS + WINDOW_MS, async () => (await cluster.runningJobs()).length === 0 && (await usedBytes(cluster)) === before);
      assert.ok(over, `jobs: ${JSON.stringify(await cluster.runningJobs())}; agents hold ${await usedBytes(cluster)} bytes, ${before} before the map`);
      assert.equal((await cluster.list({ all: true })).find((a) => a.name === 'restart-orphan'), undefined);
    });

    it('a detached map outlives its SIGKILLed client: its named output is stored and right', async () => {
      // Each partition's block sleeps past the liveness window after the kill.
      const client = await startMap('detached-out', WINDOW_MS + 2000, true);
      await client.kill();
      assert.ok(await within(BOUND_MS + WINDOW_MS, async () => (await cluster.runningJobs()).length === 0), 'the map ends');
      const output = await cluster.open('detached-out');
      assert.deepEqual(await output.toArray(), data.map((v) => 2 * v + 1));
      await output.delete();
    });

    it('refuses detached where it cannot mean anything, before anything runs', async () => {
      const input = await cluster.open('map-input');
      const kernel = { module: KERNELS, kernel: 'sleepyAffine', params: { ms: 0 } };
      await assert.rejects(cluster.map(input, kernel, { detached: true }), (e: Error) => e instanceof InvalidArgumentError && /needs a name/.test(e.message));
      await assert.rejects(
        cluster.reduce(input, 'sum', { detached: true } as never),
        (e: Error) => e instanceof InvalidArgumentError && /reduce's result goes only to its caller/.test(e.message),
      );
      await assert.rejects(cluster.map(input, kernel, { name: 'x', detached: 'yes' as never }), /detached must be true or false/);
      await assert.rejects(cluster.fromFile('/tmp/x.npy', { detached: true }), /detached fromFile needs \{ name \}/);
      assert.deepEqual(await cluster.runningJobs(), []);
    });
  });
});
