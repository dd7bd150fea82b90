/**
 * The agent's partition store: memory is reserved before a buffer is allocated, never beyond
 * the agent's limit, and returned when an array is freed.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import {
  PROTOCOL_VERSION,
  ArrayNotFoundError,
  InsufficientMemoryError,
  InvalidArgumentError,
  type DType,
  type PartitionMeta,
  type Shape,
} from '@sharc/protocol';
import { PartitionStore, bytesOf } from '../src/storage/partition-store.js';
import { MIN_WASM_PARTITION_BYTES, WASM_PAGE_BYTES, wasmLayoutOf } from '../src/wasm/memory-layout.js';

const ELEMENT_BYTES: Partial<Record<DType, number>> = { float64: 8, float32: 4, uint8: 1 };

/** A partition of `rowCount` rows of `shape`/`dtype`, with the byteLength its rows need. */
function meta(index: number, rowCount: number, dtype: DType = 'float64', shape: Shape = [1000]): PartitionMeta {
  const cols = shape.length === 2 ? shape[1] : 1;
  return { index, rowStart: index * rowCount, rowCount, byteLength: rowCount * cols * ELEMENT_BYTES[dtype]!, agentId: 'agent-0' };
}

describe('PartitionStore', () => {
  it('allocates a shared buffer of the partition size and reserves its memory', () => {
    const store = new PartitionStore(10_000);
    const partition = store.allocate('arr-1', 'float64', [1000], meta(0, 100), 'token');
    assert.ok(partition.buffer instanceof SharedArrayBuffer);
    assert.equal(partition.buffer.byteLength, 800);
    assert.equal(partition.transferToken, 'token');
    assert.equal(store.usedBytes, 800);
    assert.equal(store.count, 1);
  });

  it('holds 2-D partitions with their columns', () => {
    const store = new PartitionStore(10_000);
    const partition = store.allocate('arr-1', 'float32', [100, 5], meta(0, 10, 'float32', [100, 5]), undefined);
    assert.equal(partition.buffer.byteLength, 10 * 5 * 4);
    assert.equal(store.usedBytes, 200);
  });

  it('accepts partitions up to exactly the limit', () => {
    const store = new PartitionStore(1600);
    store.allocate('arr-1', 'float64', [1000], meta(0, 100), undefined);
    store.allocate('arr-1', 'float64', [1000], meta(1, 100), undefined);
    assert.equal(store.usedBytes, 1600);
  });

  it('refuses a partition beyond the limit with InsufficientMemoryError, and reserves nothing for it', () => {
    const store = new PartitionStore(1000);
    store.allocate('arr-1', 'float64', [1000], meta(0, 100), undefined);
    assert.throws(
      () => store.allocate('arr-1', 'float64', [1000], meta(1, 100), undefined),
      (error: unknown) => {
        assert.ok(error instanceof InsufficientMemoryError);
        assert.match(error.message, /200 bytes free/);
        assert.match(error.message, /needs 800/);
        assert.equal(error.retryable, true);
        return true;
      },
    );
    assert.equal(store.usedBytes, 800);
    assert.equal(store.count, 1);
    assert.throws(() => store.get('arr-1', 1), ArrayNotFoundError);
  });

  it('free returns the memory of every partition of the array, and only of that array', () => {
    const store = new PartitionStore(4000);
    store.allocate('arr-1', 'float64', [1000], meta(0, 100), undefined);
    store.allocate('arr-1', 'float64', [1000], meta(1, 100), undefined);
    store.allocate('arr-2', 'uint8', [1000], meta(0, 100, 'uint8'), undefined);

    assert.equal(store.free('arr-1'), 1600);

    assert.equal(store.usedBytes, 100);
    assert.equal(store.count, 1);
    assert.throws(() => store.get('arr-1', 0), ArrayNotFoundError);
    assert.equal(store.get('arr-2', 0).arrayId, 'arr-2');
  });

  it('makes freed memory available to new partitions', () => {
    const store = new PartitionStore(800);
    store.allocate('arr-1', 'float64', [1000], meta(0, 100), undefined);
    assert.throws(() => store.allocate('arr-2', 'float64', [1000], meta(0, 100), undefined), InsufficientMemoryError);
    store.free('arr-1');
    assert.doesNotThrow(() => store.allocate('arr-2', 'float64', [1000], meta(0, 100), undefined));
    assert.equal(store.usedBytes, 800);
  });

  it('frees nothing for an array it does not hold', () => {
    const store = new PartitionStore(800);
    assert.equal(store.free('ghost'), 0);
    assert.equal(store.usedBytes, 0);
  });

  it('get returns the partition that was allocated', () => {
    const store = new PartitionStore(10_000);
    const allocated = store.allocate('arr-1', 'float64', [1000], meta(3, 10), undefined);
    assert.equal(store.get('arr-1', 3), allocated);
  });

  it('get of a missing partition throws ArrayNotFoundError naming it', () => {
    const store = new PartitionStore(10_000);
    store.allocate('arr-1', 'float64', [1000], meta(0, 10), undefined);
    assert.throws(() => store.get('arr-1', 1), /ArrayNotFoundError: .*partition 1 of array arr-1/);
    assert.throws(() => store.get('arr-9', 0), ArrayNotFoundError);
  });

  it('refuses a partition whose byteLength does not match its rows', () => {
    const store = new PartitionStore(10_000);
    const wrong = { ...meta(0, 100), byteLength: 799 };
    assert.throws(
      () => store.allocate('arr-1', 'float64', [1000], wrong, undefined),
      (error: unknown) => {
        assert.ok(error instanceof InvalidArgumentError);
        assert.match(error.message, /declares 799 bytes, its rows need 800/);
        return true;
      },
    );
    // A float32 meta for a float64 array is refused the same way.
    assert.throws(() => store.allocate('arr-1', 'float64', [1000], meta(0, 100, 'float32'), undefined), InvalidArgumentError);
    assert.equal(store.usedBytes, 0);
    assert.equal(store.count, 0);
  });

  it('allocating the same partition twice returns it once and reserves its memory once', () => {
    const store = new PartitionStore(1000);
    const first = store.allocate('arr-1', 'float64', [1000], meta(0, 100), 'token');
    const second = store.allocate('arr-1', 'float64', [1000], meta(0, 100), 'token');
    assert.equal(second, first);
    assert.equal(store.usedBytes, 800);
  });

  it('seal clears the transfer token of every partition of the array', () => {
    const store = new PartitionStore(10_000);
    store.allocate('arr-1', 'float64', [1000], meta(0, 10), 'token-1');
    store.allocate('arr-1', 'float64', [1000], meta(1, 10), 'token-1');
    store.allocate('arr-2', 'float64', [1000], meta(0, 10), 'token-2');
    for (const partitionIndex of [0, 1]) {
      store.openTransfer({ v: PROTOCOL_VERSION, op: 'write', arrayId: 'arr-1', partitionIndex, byteOffset: 0, byteLength: 80, token: 'token-1' }).done(true);
    }
    store.seal('arr-1');
    assert.equal(store.get('arr-1', 0).transferToken, undefined);
    assert.equal(store.get('arr-1', 1).transferToken, undefined);
    assert.equal(store.get('arr-2', 0).transferToken, 'token-2');
  });

  describe('reuse of freed buffers', () => {
    const MIB = 1024 * 1024;
    const big = (index: number): PartitionMeta => ({ index, rowStart: 0, rowCount: MIB / 8, byteLength: MIB, agentId: 'agent-0' });

    it('reuses a freed buffer for the next partition of the same size, even one over half the limit', () => {
      const store = new PartitionStore(1.5 * MIB);
      const first = store.allocate('a', 'float64', [MIB / 8], big(0), undefined).buffer;
      store.free('a');
      assert.equal(store.allocate('b', 'float64', [MIB / 8], big(0), undefined).buffer, first);
    });

    it('zero-fills a reused buffer unless it will be overwritten', () => {
      const store = new PartitionStore(4 * MIB);
      new Uint8Array(store.allocate('a', 'float64', [MIB / 8], big(0), undefined).buffer).fill(7);
      store.free('a');
      const zeroed = store.allocate('b', 'float64', [MIB / 8], big(0), undefined).buffer;
      assert.equal(new Uint8Array(zeroed).every((v) => v === 0), true);
    });

    it('does not hand a buffer still used by a task to another array', () => {
      const store = new PartitionStore(4 * MIB);
      const first = store.allocate('a', 'float64', [MIB / 8], big(0), undefined).buffer;
      const lease = store.acquire('a', 0);
      store.free('a');
      assert.equal(store.usedBytes, 0, 'the memory is no longer booked');
      assert.notEqual(store.allocate('b', 'float64', [MIB / 8], big(0), undefined).buffer, first);
      lease.release(true);
      assert.equal(store.allocate('c', 'float64', [MIB / 8], big(0), undefined).buffer, first, 'reused once released');
    });

    it('never reuses a buffer whose user stopped abnormally', () => {
      const store = new PartitionStore(4 * MIB);
      const first = store.allocate('a', 'float64', [MIB / 8], big(0), undefined).buffer;
      const lease = store.acquire('a', 0);
      store.free('a');
      lease.release(false);
      assert.notEqual(store.allocate('b', 'float64', [MIB / 8], big(0), undefined).buffer, first);
    });

    it('takes an upload as one whole write, and seals only a completed one', () => {
      const store = new PartitionStore(4 * MIB);
      store.allocate('a', 'uint8', [16], { index: 0, rowStart: 0, rowCount: 16, byteLength: 16, agentId: 'agent-0' }, 'tok', 'overwritten');
      const write = (byteOffset: number, byteLength: number) =>
        store.openTransfer({ v: PROTOCOL_VERSION, op: 'write', arrayId: 'a', partitionIndex: 0, byteOffset, byteLength, token: 'tok' });
      assert.throws(() => write(0, 8), /writes partition 0 of a whole/);
      assert.throws(() => write(8, 8), /writes partition 0 of a whole/);
      const broken = write(0, 16);
      assert.throws(() => write(0, 16), /already being written/);
      broken.done(false);
      assert.throws(() => store.seal('a'), /received 0 of 16 bytes/);
      write(0, 16).done(true);
      assert.throws(() => write(0, 16), /already being written or written/);
      store.seal('a');
      assert.equal(store.get('a', 0).transferToken, undefined);
    });
  });

  describe('partitions in a WebAssembly.Memory', () => {
    const MIB = 1024 * 1024;
    /** 1 MiB + 8 bytes: just past a page boundary, so the rounding shows. */
    const rows = MIB / 8 + 1;
    const odd = (index: number): PartitionMeta => ({ index, rowStart: 0, rowCount: rows, byteLength: rows * 8, agentId: 'agent-0' });

    it('holds a partition of at least 1 MiB in a shared memory of whole pages, counted whole against the limit', () => {
      const store = new PartitionStore(4 * MIB);
      const partition = store.allocate('a', 'float64', [rows], odd(0), undefined);
      const layout = wasmLayoutOf(rows * 8)!;
      assert.ok(partition.memory !== undefined);
      assert.equal(partition.memory.buffer, partition.buffer);
      assert.ok(partition.buffer instanceof SharedArrayBuffer);
      assert.equal(partition.buffer.byteLength % WASM_PAGE_BYTES, 0);
      assert.equal(layout.totalBytes, Math.ceil((rows * 8) / WASM_PAGE_BYTES) * WASM_PAGE_BYTES, 'just the rows, rounded up to whole pages');
      assert.equal(partition.buffer.byteLength, layout.totalBytes);
      assert.equal(store.usedBytes, layout.totalBytes);
      assert.equal(bytesOf(partition).byteLength, rows * 8, 'the partition bytes, not the whole memory');
      assert.equal(store.free('a'), layout.totalBytes);
      assert.equal(store.usedBytes, 0);
    });

    it('keeps small partitions in exactly sized SharedArrayBuffers', () => {
      const store = new PartitionStore(4 * MIB);
      const bytes = MIN_WASM_PARTITION_BYTES - 8;
      const partition = store.allocate('a', 'float64', [bytes / 8], { index: 0, rowStart: 0, rowCount: bytes / 8, byteLength: bytes, agentId: 'agent-0' }, undefined);
      assert.equal(partition.memory, undefined);
      assert.equal(partition.buffer.byteLength, bytes);
      assert.equal(store.usedBytes, bytes);
    });

    it('refuses a partition whose whole pages pass the limit, though its bytes alone would fit', () => {
      const store = new PartitionStore(rows * 8);
      assert.throws(() => store.allocate('a', 'float64', [rows], odd(0), undefined), InsufficientMemoryError);
      assert.equal(store.usedBytes, 0);
    });

    it('opens only the partition bytes to the data plane, and reuses the memory for the next array with stale bytes past the rows cleared', () => {
      const store = new PartitionStore(4 * MIB);
      const first = store.allocate('a', 'float64', [rows], odd(0), 'tok', 'overwritten');
      const upload = store.openTransfer({ v: PROTOCOL_VERSION, op: 'write', arrayId: 'a', partitionIndex: 0, byteOffset: 0, byteLength: rows * 8, token: 'tok' });
      assert.ok(upload.kind === 'bytes');
      assert.equal(upload.bytes.byteLength, rows * 8);
      upload.bytes.fill(9);
      upload.done(true);
      store.seal('a');
      assert.throws(
        () => store.openTransfer({ v: PROTOCOL_VERSION, op: 'read', arrayId: 'a', partitionIndex: 0, byteOffset: 0, byteLength: rows * 8 + 8 }),
        /outside partition 0/,
      );
      new Uint8Array(first.buffer).fill(7, rows * 8); // a kernel scribbled past the rows
      store.free('a');
      const second = store.allocate('b', 'float64', [rows], odd(0), undefined, 'overwritten');
      assert.equal(second.memory, first.memory, 'the memory is reused');
      assert.ok(new Uint8Array(second.buffer, rows * 8).every((v) => v === 0), 'nothing of the previous array past the rows');
    });
  });
  // An agent re-registers with its holdings after a coordinator restart (and answers each
  // agent.hello with them): with 131,072 partitions of one array, building them copied the
  // partition list once per partition (8.6e9 element copies, minutes of CPU) and the agent never
  // rejoined. Run in a child process, so the test's timeout can end it if it hangs again.
  it('lists the holdings of an array of 262,144 partitions, each once', { timeout: 60_000 }, async (t) => {
    const script = `
      import { PartitionStore } from ${JSON.stringify(new URL('../src/storage/partition-store.js', import.meta.url).href)};
      const count = 262144;
      const store = new PartitionStore(count * 8 * 2);
      for (let index = 0; index < count; index++) store.allocate('wide', 'float64', [count], { index, rowStart: index, rowCount: 1, byteLength: 8, agentId: 'a' }, undefined);
      store.allocate('small', 'float64', [1000], { index: 0, rowStart: 0, rowCount: 100, byteLength: 800, agentId: 'a' }, undefined);
      const holdings = store.holdings();
      console.log(JSON.stringify(holdings.map((h) => [h.arrayId, h.partitions.length, h.partitions.every((index, position) => index === position)])));
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'], signal: t.signal });
    child.on('error', () => {}); // aborted by the timeout: the test fails on that
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0);
    assert.deepEqual(JSON.parse(out), [
      ['wide', 262_144, true],
      ['small', 1, true],
    ]);
  });
});

describe('PartitionStore: file-backed partitions', () => {
  const file = { path: '/data/a.npy', dataOffset: 128, size: 128 + 8000, mtimeMs: 1 };

  it('holds one with no buffer and no memory, ready at once, listed and freed like any', () => {
    const store = new PartitionStore(1024);
    const partition = store.allocateFile('a', 'float64', [1000], meta(0, 500), file, false);
    assert.equal(partition.kind, 'file');
    assert.ok(!('buffer' in partition), 'no buffer');
    assert.equal(partition.ready, true);
    assert.equal(store.usedBytes, 0);
    assert.equal(store.allocateFile('a', 'float64', [1000], meta(0, 500), file, false), partition, 'allocated again: the same');
    store.allocate('b', 'float64', [100], meta(0, 100, 'float64', [100]), undefined);
    assert.deepEqual(store.holdings(), [
      { arrayId: 'a', partitions: [0] },
      { arrayId: 'b', partitions: [0] },
    ]);
    assert.equal(store.free('a'), 0);
    assert.equal(store.find('a', 0), undefined);
  });

  it('a map output written into a file is ready once written, and may be registered again as rows of it (its time then checked too)', () => {
    const store = new PartitionStore(0);
    const output = store.allocateFile('out', 'float64', [1000], meta(1, 500), file, true);
    assert.equal(output.ready, false);
    const written = { ...file, mtimeMs: 2 };
    assert.equal(store.allocateFile('out', 'float64', [1000], meta(1, 500), written, false), output);
    assert.deepEqual([output.writable, output.ready, output.file], [false, true, written]);
  });

  it('refuses rows past the end of the file, and a partition held otherwise', () => {
    const store = new PartitionStore(1024 * 1024);
    assert.throws(() => store.allocateFile('a', 'float64', [2000], meta(2, 500, 'float64', [2000]), file, false), /ends at byte 12128 of \/data\/a\.npy, which has 8128/);
    store.allocate('r', 'float64', [1000], meta(0, 10), undefined);
    assert.throws(() => store.allocateFile('r', 'float64', [1000], meta(0, 10), file, false), /already held here in memory/);
    store.allocateFile('f', 'float64', [1000], meta(0, 10), file, false);
    assert.throws(() => store.allocate('f', 'float64', [1000], meta(0, 10), undefined), /file-backed here \(\/data\/a\.npy\)/);
  });

  it('opens a range of its file for a data-plane read and refuses writes', () => {
    const store = new PartitionStore(0);
    store.allocateFile('a', 'float64', [1000], meta(1, 500), file, false);
    const read = store.openTransfer({ v: PROTOCOL_VERSION, op: 'read', arrayId: 'a', partitionIndex: 1, byteOffset: 80, byteLength: 800 });
    assert.ok(read.kind === 'file');
    assert.equal(read.position, 128 + 500 * 8 + 80);
    read.done(true);
    assert.throws(
      () => store.openTransfer({ v: PROTOCOL_VERSION, op: 'write', arrayId: 'a', partitionIndex: 1, byteOffset: 0, byteLength: 4000, token: 't' }),
      /file-backed \(its rows are bytes of \/data\/a\.npy\): it takes no writes/,
    );
  });
});
