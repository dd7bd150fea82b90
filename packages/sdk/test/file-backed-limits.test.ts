/**
 * File-backed arrays at their limits, on real processes (nats-server, a coordinator, agent
 * processes with worker threads): a file 4× an agent's memory limit is reduced and mapped (into
 * a .npy file) with the agent's memory bounded; an agent SIGKILLed while it streams hands its
 * row ranges to another and every block counts once; a file changed or shrunk before or during
 * a job fails it with a FileFormatError naming the file, never a wrong result.
 */
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, open, rm, stat, truncate, utimes } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, afterEach, before, describe, it } from 'node:test';
import { formatNpyHeader } from '@sharc/protocol';
import { startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import { FileFormatError, InsufficientMemoryError, connect, type Cluster } from '../src/index.js';
import type { BlockReport } from './fixtures/recovery-kernels.js';

const RECOVERY_KERNELS = fileURLToPath(new URL('../../test/fixtures/recovery-kernels.ts', import.meta.url));
const MiB = 1024 * 1024;

/**
 * Writes a float64 .npy file of `elements` values i % 1024 (whole numbers, so every sum of
 * them is exact in any order) and returns Σ.
 */
async function writeNpy(file: string, elements: number): Promise<number> {
  const handle = await open(file, 'w');
  try {
    const header = formatNpyHeader('float64', [elements]);
    await handle.write(header, 0, header.length, 0);
    const chunk = new Float64Array(MiB);
    for (let i = 0; i < chunk.length; i++) chunk[i] = i % 1024;
    let position = header.length;
    for (let done = 0; done < elements; done += chunk.length) {
      const bytes = new Uint8Array(chunk.buffer, 0, Math.min(chunk.length, elements - done) * 8);
      await handle.write(bytes, 0, bytes.length, position);
      position += bytes.length;
    }
  } finally {
    await handle.close();
  }
  const whole = Math.floor(elements / 1024);
  let sum = whole * ((1023 * 1024) / 2);
  for (let i = whole * 1024; i < elements; i++) sum += i % 1024;
  return sum;
}

/** A field of /proc/PID/status in MiB: VmRSS (now) or VmHWM (peak since the process started). */
function memoryMiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (match === null) throw new Error(`no ${field} for pid ${pid}`);
  return Number(match[1]) / 1024;
}

describe('file-backed arrays: memory bounded by the stream, not the file (real agent process)', () => {
  let processes: ProcessCluster;
  let cluster: Cluster;
  let dir: string;
  const MEMORY_MIB = 128;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-file-backed-'));
    processes = await startProcessCluster({ agents: 1, threads: 2, memory: `${MEMORY_MIB}MiB` });
    cluster = await connect({ servers: processes.url });
  });
  after(async () => {
    await cluster?.close();
    await processes?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("reduces and maps a file 4x the agent's memory limit with the agent's resident memory growing by far less than the limit", async () => {
    const pid = processes.agents.get('agent-1')!.child.pid!;
    // Warm up first (threads, kernels, stream windows of each operand): what is measured is what the file's size adds.
    const small = path.join(dir, 'small.npy');
    await writeNpy(small, 2 * MiB);
    const warm = await cluster.fromFile(small, { resident: false });
    await cluster.reduce(warm, 'sum');
    await (await cluster.map(warm, { module: RECOVERY_KERNELS, kernel: 'slowAffine', params: { ms: 0 } }, { file: path.join(dir, 'small-out.npy') })).delete();
    const baseline = memoryMiB(pid, 'VmRSS');

    const big = path.join(dir, 'big.npy');
    const elements = (4 * MEMORY_MIB * MiB) / 8;
    const expected = await writeNpy(big, elements);
    await assert.rejects(cluster.fromFile(big), (error: unknown) => {
      assert.ok(error instanceof InsufficientMemoryError, String(error));
      assert.match(error.message, /resident: false/, 'the refusal says how to load it anyway');
      return true;
    });
    const ref = await cluster.fromFile(big, { resident: false, name: 'big' });
    assert.equal(ref.file?.path, big);
    assert.equal(await cluster.reduce(ref, 'sum'), expected);
    const out = path.join(dir, 'doubled.npy');
    const mapped = await cluster.map(ref, { module: RECOVERY_KERNELS, kernel: 'slowAffine', params: { ms: 0 } }, { file: out, name: 'doubled' });
    assert.equal(mapped.file?.path, out, 'the output is file-backed, in the file asked for');
    assert.equal(await cluster.reduce(mapped, 'sum'), 2 * expected + elements, 'every output row was written: 2x + 1');
    const peak = memoryMiB(pid, 'VmHWM');
    // Streaming holds one block window per operand per thread (2 threads × 3 × 4 MiB); the rest
    // is the runtime's own churn. Loaded, the file alone would take 512 MiB.
    assert.ok(peak - baseline < MEMORY_MIB / 2, `agent RSS grew from ${baseline.toFixed(0)} MiB to a peak of ${peak.toFixed(0)} MiB over a ${4 * MEMORY_MIB} MiB file`);
    await mapped.delete();
    await ref.delete();
  });
});

describe('file-backed arrays under faults (real processes)', () => {
  let processes: ProcessCluster;
  let cluster: Cluster;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-file-faults-'));
    processes = await startProcessCluster({ agents: 3, threads: 1, memory: '64MiB' });
    cluster = await connect({ servers: processes.url });
  });
  after(async () => {
    await cluster?.close();
    await processes?.stop();
    await rm(dir, { recursive: true, force: true });
  });
  // A test may kill an agent: the next one starts with all three alive again.
  afterEach(async () => {
    for (const [name, agent] of processes.agents) if (!agent.running) await processes.addAgent(name);
    for (let polls = 0; (await cluster.nodes()).filter((n) => n.state === 'alive').length < 3; polls++) {
      assert.ok(polls < 300, 'the three agents are alive again');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    for (const ref of await cluster.list()) await ref.delete();
  });

  it('an agent SIGKILLed mid-stream: another agent reads its row ranges and every block counts exactly once', async () => {
    const file = path.join(dir, 'faults.npy');
    const elements = 8 * MiB; // 64 MiB: 16 partitions of one 4 MiB block each
    const expected = await writeNpy(file, elements);
    const ref = await cluster.fromFile(file, { resident: false, partitions: 16 });
    const victim = ref.placement[0]!.agentId;
    let killed = false;
    const reports = await cluster.reduce<BlockReport[]>(
      ref,
      { module: RECOVERY_KERNELS, partial: 'reportBlock', combine: 'concatReports', params: { ms: 150 } },
      {
        onProgress: (done) => {
          if (done > 0 && !killed) {
            killed = true;
            processes.agents.get(victim)!.child.kill('SIGKILL');
          }
        },
      },
    );
    assert.ok(killed, 'the agent was killed while the job ran');
    const starts = reports.map((r) => r.rowStart).sort((a, b) => a - b);
    assert.deepEqual(starts, ref.placement.map((p) => p.rowStart), 'each block once: none lost, none twice');
    assert.equal(reports.reduce((n, r) => n + r.elements, 0), elements);
    const now = await cluster.open(ref.name);
    assert.ok(now.placement.every((p) => p.agentId !== victim), 'its partitions are served by live agents now');
    assert.equal(await cluster.reduce(now, 'sum'), expected);
  });

  it('a file changed since it was registered (size, or only its modification time) fails the job with a FileFormatError naming it', async () => {
    const file = path.join(dir, 'changing.npy');
    const expected = await writeNpy(file, MiB);
    const ref = await cluster.fromFile(file, { resident: false });
    assert.equal(await cluster.reduce(ref, 'sum'), expected);
    const { size } = await stat(file);
    await appendFile(file, new Uint8Array(8));
    await assert.rejects(cluster.reduce(ref, 'sum'), (error: unknown) => {
      assert.ok(error instanceof FileFormatError, String(error));
      assert.ok(error.message.includes(file), error.message);
      assert.match(error.message, /grew from \d+ to \d+ bytes/);
      return true;
    });
    // Back to its size, but written since: the bytes may differ, so it is refused all the same.
    await truncate(file, size);
    const later = new Date(Date.now() + 60_000);
    await utimes(file, later, later);
    await assert.rejects(cluster.reduce(ref, 'sum'), (error: unknown) => {
      assert.ok(error instanceof FileFormatError, String(error));
      assert.match(error.message, /was modified at/);
      assert.match(error.message, /register it again/);
      return true;
    });
    const again = await cluster.fromFile(file, { resident: false, name: 'again' });
    assert.equal(await cluster.reduce(again, 'sum'), expected, 'registered again, it is read as it is now');
  });

  it("a map's output file touched after the map (same size, a later modification time) fails the next job over it, on every agent", async () => {
    const file = path.join(dir, 'input.npy');
    const expected = await writeNpy(file, 2 * MiB);
    const ref = await cluster.fromFile(file, { resident: false, partitions: 6 });
    const out = path.join(dir, 'output.npy');
    const mapped = await cluster.map(ref, { module: RECOVERY_KERNELS, kernel: 'slowAffine', params: { ms: 0 } }, { file: out });
    assert.equal(new Set(mapped.placement.map((p) => p.agentId)).size, 3, 'written by every agent');
    assert.equal(await cluster.reduce(mapped, 'sum'), 2 * expected + 2 * MiB);
    const later = new Date(Date.now() + 60_000);
    await utimes(out, later, later);
    await assert.rejects(cluster.reduce(mapped, 'sum'), (error: unknown) => {
      assert.ok(error instanceof FileFormatError, String(error));
      assert.ok(error.message.includes(out), error.message);
      assert.match(error.message, /was modified at/);
      return true;
    });
  });

  it('a file shrunk while a job streams it fails the job with a FileFormatError, not a wrong result', async () => {
    const file = path.join(dir, 'shrinking.npy');
    await writeNpy(file, 4 * MiB); // 32 MiB: 2 partitions of 4 blocks
    const ref = await cluster.fromFile(file, { resident: false, partitions: 2 });
    let cut = false;
    const job = cluster.reduce<BlockReport[]>(
      ref,
      { module: RECOVERY_KERNELS, partial: 'reportBlock', combine: 'concatReports', params: { ms: 300 } },
      {
        onProgress: (done) => {
          if (done > 0 && !cut) {
            cut = true;
            void truncate(file, 4096);
          }
        },
      },
    );
    await assert.rejects(job, (error: unknown) => {
      assert.ok(error instanceof FileFormatError, String(error));
      assert.ok(error.message.includes(file), error.message);
      return true;
    });
    assert.ok(cut, 'the file was cut while the job ran');
  });
});
