/**
 * File-backed arrays against the mistakes of tired users, on real processes (nats-server, a
 * coordinator, agent processes): a map's output file that is another array's file, or the
 * file another map is writing right now, is refused before anything is written, so the user's
 * data is never overwritten and no two maps leave a mix of their rows in one file; a file
 * replaced by a FIFO (or a FIFO given as a file) is refused at once, without an agent's open()
 * waiting for a writer or reader that never comes.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, open, readFile, rm, stat, symlink, unlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { formatNpyHeader } from '@sharc/protocol';
import { startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import { FileFormatError, NameTakenError, connect, type Cluster } from '../src/index.js';

const RECOVERY_KERNELS = fileURLToPath(new URL('../../test/fixtures/recovery-kernels.ts', import.meta.url));
const ELEMENTS = 1024 * 1024;

/** A float64 .npy of `ELEMENTS` values i % 1024 (whole numbers: every sum of them is exact); returns Σ. */
async function writeNpy(file: string): Promise<number> {
  const values = new Float64Array(ELEMENTS);
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i] = i % 1024;
  const handle = await open(file, 'w');
  try {
    const header = formatNpyHeader('float64', [ELEMENTS]);
    await handle.write(header, 0, header.length, 0);
    await handle.write(new Uint8Array(values.buffer), 0, values.byteLength, header.length);
  } finally {
    await handle.close();
  }
  return sum;
}

describe('file-backed arrays: a map never writes over the rows of another array (real processes)', () => {
  let processes: ProcessCluster;
  let cluster: Cluster;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-file-hostile-'));
    processes = await startProcessCluster({ agents: 2, threads: 2, memory: '256MiB' });
    cluster = await connect({ servers: processes.url });
  });
  after(async () => {
    await cluster?.close();
    await processes?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("refuses a map's output file that is its input's file, even with replace, and leaves the input's bytes as they were", async () => {
    const file = path.join(dir, 'input.npy');
    const sum = await writeNpy(file);
    const before = await readFile(file);
    const { mtimeMs } = await stat(file);
    const input = await cluster.fromFile(file, { resident: false, name: 'input' });
    await assert.rejects(input.scale(2, { file, replace: true }), (error: Error) => {
      assert.ok(error instanceof NameTakenError, `${error.name}: ${error.message}`);
      assert.match(error.message, /input\.npy is the file of the file-backed array 'input'/);
      return true;
    });
    assert.deepEqual(await readFile(file), before, "the user's file is untouched");
    assert.equal((await stat(file)).mtimeMs, mtimeMs);
    assert.equal(await cluster.reduce(input, 'sum'), sum, 'the file-backed array still reads its rows');
    // Another array's file is refused the same way; the array being replaced by name may be rewritten.
    const doubled = await input.scale(2, { file: path.join(dir, 'doubled.npy'), name: 'doubled' });
    await assert.rejects(input.scale(3, { file: path.join(dir, 'doubled.npy'), replace: true, name: 'other' }), NameTakenError);
    assert.equal(await cluster.reduce(doubled, 'sum'), 2 * sum);
    const tripled = await input.scale(3, { file: path.join(dir, 'doubled.npy'), replace: true, name: 'doubled' });
    assert.equal(await cluster.reduce(tripled, 'sum'), 3 * sum);
    // Deleted, its file stays (the user's data) and is free to write again.
    await tripled.delete();
    assert.equal((await stat(path.join(dir, 'doubled.npy'))).size, ELEMENTS * 8 + 128);
    const again = await input.scale(4, { file: path.join(dir, 'doubled.npy'), replace: true });
    assert.equal(await cluster.reduce(again, 'sum'), 4 * sum);
  });

  it('refuses a second map writing the file a running map writes: the file holds all the rows of the first', async () => {
    const file = path.join(dir, 'shared-input.npy');
    const sum = await writeNpy(file);
    const input = await cluster.fromFile(file, { resident: false });
    const out = path.join(dir, 'both.npy');
    // Slow enough per block to be running when the second map comes.
    const first = cluster.map(input, { module: RECOVERY_KERNELS, kernel: 'slowAffine', params: { ms: 1500 } }, { file: out, name: 'first' });
    while (!(await cluster.list({ all: true })).some((ref) => ref.name === 'first')) await new Promise((resolve) => setTimeout(resolve, 20));
    await assert.rejects(input.scale(3, { file: out, replace: true }), (error: Error) => {
      assert.ok(error instanceof NameTakenError, `${error.name}: ${error.message}`);
      assert.match(error.message, /both\.npy is being written right now by another map/);
      return true;
    });
    const written = await first;
    assert.equal(await cluster.reduce(written, 'sum'), 2 * sum + ELEMENTS, 'every row is the first map\'s (2x + 1)');
    // Once it is done, its file is an array's file: refused the same way.
    await assert.rejects(input.scale(3, { file: out, replace: true }), /is the file of the file-backed array 'first'/);
  });

  it("refuses a file-backed array's file replaced by a FIFO, and a FIFO or a device given to fromFile or as a map's output, without the agent waiting on it", async () => {
    const file = path.join(dir, 'became-a-fifo.npy');
    await writeNpy(file);
    const array = await cluster.fromFile(file, { resident: false });
    await unlink(file);
    execFileSync('mkfifo', [file]);
    // More reads than the agent has I/O threads (4): none of them may hold one.
    for (let i = 0; i < 6; i++) await assert.rejects(array.toArray(), (error: Error) => error instanceof FileFormatError && /became-a-fifo\.npy changed since/.test(error.message));
    await assert.rejects(cluster.reduce(array, 'sum'), FileFormatError);
    await assert.rejects(cluster.fromFile(file, { resident: false }), /became-a-fifo\.npy is not a regular file/);
    await assert.rejects(cluster.fromFile(file), /became-a-fifo\.npy is not a regular file/);
    const healthy = path.join(dir, 'healthy.npy');
    const sum = await writeNpy(healthy);
    const input = await cluster.fromFile(healthy, { resident: false });
    const fifo = path.join(dir, 'output-fifo.npy');
    execFileSync('mkfifo', [fifo]);
    await assert.rejects(input.abs({ file: fifo, replace: true }), (error: Error) => error instanceof FileFormatError && /output-fifo\.npy cannot be created/.test(error.message));
    // Nor is a device behind a link (/dev/full would fail every write, /dev/null keep nothing).
    const device = path.join(dir, 'device.npy');
    await symlink('/dev/full', device);
    await assert.rejects(input.abs({ file: device, replace: true }), (error: Error) => error instanceof FileFormatError && /device\.npy is not a regular file/.test(error.message));
    // The agents still read files: nothing of theirs waits on a FIFO.
    assert.equal(await cluster.reduce(input, 'sum'), sum);
    assert.equal(await cluster.reduce(await cluster.fromFile(healthy, { resident: false }), 'sum'), sum);
  });
});
