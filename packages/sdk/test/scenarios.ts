/**
 * The scenarios every deployment must pass, run once on the embedded cluster and once on a
 * real nats-server with a coordinator and agent processes. Results are checked against plain
 * JS computations of the same thing.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  ArrayNotFoundError,
  CancelledError,
  FileFormatError,
  InsufficientMemoryError,
  InvalidArgumentError,
  KernelError,
  NameTakenError,
  TimeoutError,
  type ArrayRef,
  type Cluster,
} from '../src/index.js';
import { bytesPerElement, formatNpyHeader, parseNpyHeader, reservedBytesOf, viewOf } from '@sharc/protocol';
import { integerData, referenceReduce } from './fixtures/reference.js';
import { eventually, settledUsedBytes, usedBytes, workRunning } from './cluster-waits.js';

export const KERNELS = fileURLToPath(new URL('../../test/fixtures/kernels.ts', import.meta.url));

export interface ScenarioTarget {
  /** A connected client. */
  cluster(): Cluster;
  /** A second, independent client of the same cluster (none for the embedded cluster, which lives in one client). */
  secondClient?: () => Promise<Cluster>;
  /** Memory each agent may fill, to build a request that cannot fit. */
  agentMemoryBytes: number;
  agentCount: number;
}

const BUILTINS = ['sum', 'min', 'max', 'mean', 'sumsq', 'count'] as const;

export function registerScenarios(target: ScenarioTarget): void {
  let dir: string;
  let keeper: ArrayRef;
  let keeperData: Float64Array;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-test-'));
    keeperData = integerData(300_000, 1000, 7);
    keeper = await target.cluster().put(keeperData, { shape: [100_000, 3], name: 'keeper', partitions: 4 });
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Every stored array survives every error: the keeper is checked after each bad request. */
  async function assertKeeperIntact(): Promise<void> {
    const reopened = await target.cluster().open('keeper');
    assert.equal(reopened.id, keeper.id);
    assert.equal(await target.cluster().reduce(reopened, 'sum'), referenceReduce(keeperData, 'sum'));
    assert.deepEqual(await reopened.toArray(), keeperData);
  }

  describe('put and built-in reductions', () => {
    it('places a 2-D array in whole-row partitions over the agents', () => {
      assert.deepEqual(keeper.shape, [100_000, 3]);
      assert.equal(keeper.dtype, 'float64');
      assert.equal(keeper.partitions, 4);
      const rows = keeper.placement.reduce((sum, p) => sum + p.rowCount, 0);
      assert.equal(rows, 100_000);
      for (const p of keeper.placement) assert.equal(p.byteLength, p.rowCount * 3 * 8);
      assert.equal(new Set(keeper.placement.map((p) => p.agentId)).size, Math.min(4, target.agentCount));
    });

    for (const op of BUILTINS) {
      it(`reduce '${op}' matches a plain JS computation`, async () => {
        assert.equal(await target.cluster().reduce(keeper, op), referenceReduce(keeperData, op));
      });
    }

    it('returns the same bytes it was given, for every dtype', async () => {
      const samples = [
        new Float32Array([1.5, -2.25, 3.125, 4, 5, 6]),
        new Int32Array([-2147483648, 2147483647, 0, 1, -1, 7]),
        new Uint32Array([4294967295, 0, 1, 2, 3, 4]),
        new Int16Array([-32768, 32767, 0, 1, 2, 3]),
        new Uint16Array([65535, 0, 1, 2, 3, 4]),
        new Int8Array([-128, 127, 0, 1, 2, 3]),
        new Uint8Array([255, 0, 1, 2, 3, 4]),
      ];
      for (const sample of samples) {
        const ref = await target.cluster().put(sample, { shape: [3, 2], partitions: 2 });
        const back = await ref.toArray();
        assert.equal(back.constructor, sample.constructor);
        assert.deepEqual(back, sample);
        assert.equal(await target.cluster().reduce(ref, 'min'), Math.min(...sample));
        assert.equal(await target.cluster().reduce(ref, 'sum'), Array.from(sample).reduce((a, b) => a + b, 0));
        await ref.delete();
      }
    });

    it('reduces every dtype in partitions of WebAssembly memories (1 MiB and more) as a plain JS computation', async () => {
      // An odd length: not a multiple of any SIMD width, so every partition has a scalar tail.
      const source = integerData(3_000_007, 200, 5);
      const kinds = [Float64Array, Float32Array, Int32Array, Uint32Array, Int16Array, Uint16Array, Int8Array, Uint8Array];
      for (const Kind of kinds) {
        const signed = !Kind.name.startsWith('Uint');
        const data = new Kind(source.length);
        for (let i = 0; i < source.length; i++) data[i] = signed ? source[i]! - 100 : source[i]!;
        const ref = await target.cluster().put(data, { partitions: 2 });
        for (const op of BUILTINS) {
          // Small integers: every partial sum is exact in float64, whatever the order.
          assert.equal(await target.cluster().reduce(ref, op), referenceReduce(data, op), `${Kind.name} ${op}`);
        }
        await ref.delete();
      }
    });

    it('fetches into a caller-supplied array, and refuses one of the wrong dtype or length', async () => {
      const into = new Float64Array(300_000);
      const result = await keeper.toArray({ into });
      assert.equal(result, into);
      assert.deepEqual(into, keeperData);
      await assert.rejects(keeper.toArray({ into: new Float32Array(300_000) }), InvalidArgumentError);
      await assert.rejects(keeper.toArray({ into: new Float64Array(10) }), /Float64Array of length 300000/);
    });

    it('sums float32 data in float64, not float32', async () => {
      const n = 1_000_000;
      const data = new Float32Array(n).fill(0.1);
      const ref = await target.cluster().put(data, { partitions: 3 });
      const exact = n * Math.fround(0.1);
      let float32Sum = Math.fround(0);
      for (let i = 0; i < n; i++) float32Sum = Math.fround(float32Sum + data[i]!);
      const sum = await target.cluster().reduce(ref, 'sum');
      assert.ok(Math.abs(sum - exact) < 1e-6, `sum ${sum} should be ${exact}`);
      assert.ok(Math.abs(float32Sum - exact) > 100, 'the float32 accumulation this guards against is far off');
      assert.ok(Math.abs((await target.cluster().reduce(ref, 'mean')) - Math.fround(0.1)) < 1e-12);
      await ref.delete();
    });

    it('gives bit-identical float sums on every run', async () => {
      const data = new Float64Array(2_000_000).map((_, i) => Math.sin(i) * 1e6);
      const ref = await target.cluster().put(data, { partitions: 3 });
      const first = await target.cluster().reduce(ref, 'sum');
      for (let i = 0; i < 3; i++) assert.equal(await target.cluster().reduce(ref, 'sum'), first);
      assert.ok(Math.abs(first - referenceReduce(data, 'sum')) < 1e-3);
      await ref.delete();
    });

    it('propagates NaN through min and max like numpy', async () => {
      const ref = await target.cluster().put(new Float64Array([3, NaN, 1, 2]));
      assert.ok(Number.isNaN(await target.cluster().reduce(ref, 'min')));
      assert.ok(Number.isNaN(await target.cluster().reduce(ref, 'max')));
      await ref.delete();
    });
  });

  describe('custom kernels', () => {
    it('runs a custom reduce with params', async () => {
      const result = await target.cluster().reduce<number>(keeper, {
        module: KERNELS,
        partial: 'countAbove',
        combine: 'add',
        params: { threshold: 500 },
      });
      assert.equal(result, keeperData.filter((v) => v > 500).length);
    });

    it('merges structured partials (a histogram)', async () => {
      const result = await target.cluster().reduce<{ bins: number[] }>(keeper, {
        module: KERNELS,
        partial: 'histogram',
        combine: 'mergeHistograms',
      });
      const expected = new Array<number>(10).fill(0);
      for (const v of keeperData) expected[v % 10]!++;
      assert.deepEqual(result.bins, expected);
    });

    it('maps to another dtype and column count', async () => {
      const norms = await target.cluster().map(keeper, { module: KERNELS, kernel: 'rowNorm' }, { dtype: 'float32', cols: 1, name: 'norms' });
      assert.equal(norms.dtype, 'float32');
      assert.deepEqual(norms.shape, [100_000, 1]);
      assert.equal(norms.partitions, keeper.partitions);
      const values = await norms.toArray();
      for (const row of [0, 1, 33_333, 99_999]) {
        const [a, b, c] = [keeperData[row * 3]!, keeperData[row * 3 + 1]!, keeperData[row * 3 + 2]!];
        assert.equal(values[row], Math.fround(Math.sqrt(a * a + b * b + c * c)));
      }
      await norms.delete();
    });

    it('gives kernels global row numbers and params', async () => {
      const rows = await target.cluster().map(keeper, { module: KERNELS, kernel: 'rowIndex', params: { offset: 10 } }, { dtype: 'int32', cols: 1 });
      const values = await rows.toArray();
      assert.deepEqual(values, Int32Array.from({ length: 100_000 }, (_, i) => i + 10));
      await rows.delete();
    });

    it('runs one kernel over arrays of every dtype, each view of its own class, each sum exact', async () => {
      const dtypes = ['float64', 'float32', 'int64', 'uint64', 'int32', 'uint32', 'int16', 'uint16', 'int8', 'uint8', 'bool', 'float64'] as const;
      for (const dtype of dtypes) {
        const length = 300_000;
        const values = Array.from({ length }, (_, i) => (dtype === 'bool' ? i % 3 === 0 ? 1 : 0 : (i * 7) % 100));
        const data = viewOf(dtype, new ArrayBuffer(length * bytesPerElement(dtype)), 0, length);
        const bigints = dtype === 'int64' || dtype === 'uint64';
        values.forEach((v, i) => ((data as unknown as Array<number | bigint>)[i] = bigints ? BigInt(v) : v));
        const array = await target.cluster().put(data, { partitions: 2, ...(dtype === 'bool' ? { dtype: 'bool' as const } : {}) });
        try {
          const result = await target.cluster().reduce<{ sum: number; classes: string[] }>(array, { module: KERNELS, partial: 'sumAndClass', combine: 'mergeSumAndClass' });
          assert.deepEqual(result, { sum: values.reduce((a, b) => a + b, 0), classes: [data.constructor.name] }, dtype);
        } finally {
          await array.delete();
        }
      }
    });

    it('awaits kernels that return promises (async partial and async map)', async () => {
      const sum = await target.cluster().reduce<number>(keeper, { module: KERNELS, partial: 'sumLater', combine: 'add' });
      assert.equal(sum, referenceReduce(keeperData, 'sum'));
      const doubled = await target.cluster().map(keeper, { module: KERNELS, kernel: 'doubleLater' });
      try {
        assert.deepEqual(await doubled.toArray(), keeperData.map((v) => v * 2));
      } finally {
        await doubled.delete();
      }
    });

    it('reports progress from the agents as blocks finish, up to the total', async () => {
      const seen: Array<[number, number]> = [];
      const big = await target.cluster().put(new Float64Array(6_000_000).fill(1), { partitions: 2 });
      // 60 ms per block, several blocks per thread: agents report while the job runs.
      const out = await target.cluster().map(big, { module: KERNELS, kernel: 'slowMap', params: { ms: 60 } }, {
        onProgress: (done, total) => seen.push([done, total]),
      });
      const total = seen[0]![1];
      assert.ok(total >= 4, `${total} blocks`);
      assert.ok(seen.some(([done]) => done > 0 && done < total), `an agent-reported step between 0 and ${total}: ${JSON.stringify(seen)}`);
      for (let i = 1; i < seen.length; i++) assert.ok(seen[i]![0] >= seen[i - 1]![0], 'progress never goes back');
      assert.deepEqual(seen.at(-1), [total, total]);
      assert.equal(await target.cluster().reduce(out, 'sum'), 6_000_000);
      await out.delete();
      await big.delete();
    });
  });

  describe('named arrays and files', () => {
    const secondClient = target.secondClient;
    if (secondClient !== undefined) {
      it('opens a named array from a second client', async () => {
        const other = await secondClient();
        try {
          const seen = await other.open('keeper');
          assert.deepEqual(seen.shape, keeper.shape);
          assert.equal(await other.reduce(seen, 'max'), referenceReduce(keeperData, 'max'));
          assert.ok((await other.list()).some((a) => a.name === 'keeper'));
        } finally {
          await other.close();
        }
      });
    }

    it('replaces a name only when asked', async () => {
      const first = await target.cluster().put(new Float64Array([1, 2, 3]), { name: 'swap' });
      await assert.rejects(target.cluster().put(new Float64Array([4, 5, 6]), { name: 'swap' }), NameTakenError);
      assert.deepEqual(await (await target.cluster().open('swap')).toArray(), new Float64Array([1, 2, 3]));
      const second = await target.cluster().put(new Float64Array([4, 5, 6]), { name: 'swap', replace: true });
      assert.notEqual(first.id, second.id);
      assert.deepEqual(await (await target.cluster().open('swap')).toArray(), new Float64Array([4, 5, 6]));
      await second.delete();
      await assert.rejects(target.cluster().open('swap'), ArrayNotFoundError);
    });

    it('deletes by name; list({ all }) lists stored arrays as ready', async () => {
      const cluster = target.cluster();
      await cluster.put(new Float64Array([1, 2, 3]), { name: 'by-name' });
      await cluster.delete('by-name');
      await assert.rejects(cluster.open('by-name'), ArrayNotFoundError);
      await assert.rejects(cluster.delete('by-name'), ArrayNotFoundError);
      // Nothing is being written now: all lists the stored arrays, each ready.
      const listed = await cluster.list({ all: true });
      assert.ok(listed.every((a) => a.state === 'ready' && a.pending === undefined));
      assert.ok(listed.some((a) => a.name === 'keeper' && a.state === 'ready'));
      await assert.rejects(cluster.list({ all: 'yes' } as never), InvalidArgumentError);
      await assertKeeperIntact();
    });

    it('saves a .npy that reads back, and loads .npy and raw files in place', async () => {
      const file = path.join(dir, 'keeper.npy');
      await keeper.save(file);
      const bytes = await readFile(file);
      const header = parseNpyHeader(bytes);
      assert.equal(header.dtype, 'float64');
      assert.deepEqual(header.shape, [100_000, 3]);
      assert.equal(header.dataOffset % 64, 0);
      const body = new Float64Array(bytes.buffer.slice(bytes.byteOffset + header.dataOffset, bytes.byteOffset + bytes.length));
      assert.deepEqual(body, keeperData);

      const seen: Array<[number, number]> = [];
      const loaded = await target.cluster().fromFile(file, { name: 'from-npy', partitions: 3, onProgress: (done, total) => seen.push([done, total]) });
      assert.deepEqual(seen.at(-1), [2_400_000, 2_400_000]);
      assert.deepEqual(seen[0], [0, 2_400_000]);
      for (let i = 1; i < seen.length; i++) assert.ok(seen[i]![0] >= seen[i - 1]![0], 'progress never goes back');
      assert.deepEqual(loaded.shape, [100_000, 3]);
      assert.deepEqual(await loaded.toArray(), keeperData);

      const raw = path.join(dir, 'data.raw');
      await writeFile(raw, Buffer.from(new Int16Array([1, -2, 3, -4, 5, -6]).buffer));
      const rawRef = await target.cluster().fromFile(raw, { dtype: 'int16', shape: [3, 2] });
      assert.deepEqual(await rawRef.toArray(), new Int16Array([1, -2, 3, -4, 5, -6]));
      await loaded.delete();
      await rawRef.delete();
    });

    it('cancels a file load through its AbortSignal and keeps nothing of it', async () => {
      const file = path.join(dir, 'big.raw');
      await writeFile(file, Buffer.alloc(64 * 1024 * 1024, 1));
      const before = await settledUsedBytes(target.cluster());
      const controller = new AbortController();
      const load = target.cluster().fromFile(file, {
        dtype: 'uint8',
        shape: [64 * 1024 * 1024],
        name: 'cancelled-load',
        partitions: 8,
        signal: controller.signal,
        // Abort once the coordinator has placed the partitions and agents are reading.
        onProgress: () => controller.abort(),
      });
      await assert.rejects(load, CancelledError);
      assert.equal(await eventually(async () => (await usedBytes(target.cluster())) === before), true, 'agents freed the partial load');
      const reuse = await target.cluster().put(new Uint8Array(4), { name: 'cancelled-load' });
      await reuse.delete();
      await assertKeeperIntact();
    });

    it('frees agent memory on delete', async () => {
      const before = await settledUsedBytes(target.cluster());
      const ref = await target.cluster().put(new Float64Array(1_000_000), { name: 'temp' });
      // Every copy of every partition (two copies on distinct agents when there are two agents).
      const copies = Math.min(2, (await target.cluster().nodes()).length);
      for (const p of ref.placement) assert.equal(new Set([p.agentId, ...(p.replicas ?? [])]).size, copies);
      // As the agents themselves report it (heartbeats, every second).
      // Each partition copy of 1 MiB or more is held in a WebAssembly.Memory of whole 64 KiB
      // pages, and counted so (reservedBytesOf, the rule the coordinator places by too).
      const reserved = ref.placement.reduce((sum, p) => sum + reservedBytesOf(p.byteLength), 0);
      assert.ok(reserved >= 8_000_000 && reserved < 8_000_000 + ref.placement.length * 64 * 1024);
      const holds = (used: number) => used - before === copies * reserved;
      assert.equal(await eventually(async () => holds(await usedBytes(target.cluster()))), true, 'agents hold the array');
      await ref.delete();
      assert.equal(await eventually(async () => (await usedBytes(target.cluster())) === before), true, 'agents freed the array');
      await assert.rejects(target.cluster().open('temp'), ArrayNotFoundError);
    });
  });

  describe('bad input: a clear typed error, and nothing stored is lost', () => {
    const cases: Array<[string, () => Promise<unknown>, new (...args: never[]) => Error, RegExp]> = [
      ['unknown dtype', () => target.cluster().put(new Uint8ClampedArray(4) as never), InvalidArgumentError, /unknown dtype.*Uint8ClampedArray/],
      ['a dtype that is not the data\'s', () => target.cluster().put(new Int32Array(4), { dtype: 'float32' } as never), InvalidArgumentError, /this Int32Array is int32, not float32; pass float32 data \(Float32Array\.from\(data\)\)/],
      ['a plain array', () => target.cluster().put([1, 2, 3] as never), InvalidArgumentError, /unknown dtype/],
      ['shape that does not match the data', () => target.cluster().put(new Float64Array(6), { shape: [4, 2] }), InvalidArgumentError, /holds 8 elements but the data has 6/],
      ['non-integer shape', () => target.cluster().put(new Float64Array(6), { shape: [1.5, 4] }), InvalidArgumentError, /non-negative integer/],
      ['negative shape', () => target.cluster().put(new Float64Array(6), { shape: [-2, -3] }), InvalidArgumentError, /non-negative integer/],
      ['3-D shape', () => target.cluster().put(new Float64Array(8), { shape: [2, 2, 2] }), InvalidArgumentError, /\[rows\], \[rows, cols\] or \[\]/],
      ['name taken', () => target.cluster().put(new Float64Array(3), { name: 'keeper' }), NameTakenError, /already exists.*replace: true/],
      ['unknown array name', () => target.cluster().open('no-such-array'), ArrayNotFoundError, /no array named 'no-such-array'/],
      ['unknown reduction', () => target.cluster().reduce(keeper, 'median' as never), InvalidArgumentError, /unknown reduction 'median'/],
      ['kernel module not found', () => target.cluster().reduce(keeper, { module: path.join(dir, 'missing.ts') }), KernelError, /not found/],
      ['kernel export missing', () => target.cluster().map(keeper, { module: KERNELS, kernel: 'nope' }), KernelError, /no export named 'nope'.*countAbove/],
      ['kernel export not a function', () => target.cluster().map(keeper, { module: KERNELS, kernel: 'notAFunction' }), KernelError, /is a number, not a function/],
      ['kernel returns a non-serialisable partial', () => target.cluster().reduce(keeper, { module: KERNELS, partial: 'returnsFunction', combine: 'add' }), KernelError, /not serialisable: f is a function/],
      ['file missing', () => target.cluster().fromFile(path.join(dir, 'absent.npy')), FileFormatError, /does not exist/],
      ['output dtype unknown', () => target.cluster().map(keeper, { module: KERNELS, kernel: 'scale' }, { dtype: 'float16' as never }), InvalidArgumentError, /unknown dtype "float16"/],
      ['zero partitions', () => target.cluster().put(new Float64Array(4), { partitions: 0 }), InvalidArgumentError, /partitions must be an integer from 1/],
      ['fractional partitions', () => target.cluster().put(new Float64Array(4), { partitions: 1.5 }), InvalidArgumentError, /partitions must be an integer from 1/],
      ['a zero timeout', () => target.cluster().reduce(keeper, 'sum', { timeoutMs: 0 }), InvalidArgumentError, /timeoutMs must be a positive number/],
      ['a negative timeout', () => target.cluster().put(new Float64Array(4), { timeoutMs: -5 }), InvalidArgumentError, /timeoutMs must be a positive number/],
      ['a negative file offset', () => target.cluster().fromFile('/tmp/x.raw', { dtype: 'int8', shape: [1], byteOffset: -1 }), InvalidArgumentError, /byteOffset must be a non-negative integer/],
      ['an already aborted signal', () => target.cluster().reduce(keeper, 'sum', { signal: AbortSignal.abort() }), CancelledError, /cancelled before it started/],
      ['no array', () => target.cluster().reduce(null as never, 'sum'), InvalidArgumentError, /expected an ArrayRef/],
      ['params that are not plain data', () => target.cluster().map(keeper, { module: KERNELS, kernel: 'scale', params: { factor: () => 2 } }), InvalidArgumentError, /params is not serialisable: factor is a function/],
      ['a combine that throws on the client', () => target.cluster().reduce(keeper, { module: KERNELS, partial: 'countAbove', combine: 'combineThrows', params: { threshold: 1 } }), KernelError, /combineThrows threw while combining partials: combine is broken/],
    ];
    for (const [what, call, errorClass, message] of cases) {
      it(`refuses ${what}`, async () => {
        await assert.rejects(call, (error: Error) => {
          assert.ok(error instanceof errorClass, `expected ${errorClass.name}, got ${error.name}: ${error.message}`);
          assert.match(error.message, message);
          return true;
        });
        await assertKeeperIntact();
      });
    }

    it('names the partition and keeps the kernel message and stack when a kernel throws', async () => {
      await assert.rejects(
        target.cluster().reduce(keeper, { module: KERNELS, partial: 'throwsOnSecondHalf', combine: 'add' }),
        (error: Error) => {
          assert.ok(error instanceof KernelError);
          assert.match(error.message, /partition [23] of array/);
          assert.match(error.message, /bad value near row/);
          assert.match(error.stack ?? '', /RangeError: bad value near row/);
          assert.match(error.stack ?? '', /kernels\.ts:\d+/);
          return true;
        },
      );
      await assertKeeperIntact();
    });

    it('refuses truncated and corrupt files', async () => {
      const truncated = path.join(dir, 'truncated.npy');
      await writeFile(truncated, Buffer.concat([formatNpyHeader('float64', [1000]), Buffer.alloc(800)]));
      await assert.rejects(target.cluster().fromFile(truncated), (e: Error) => e instanceof FileFormatError && /truncated/.test(e.message));
      const corrupt = path.join(dir, 'corrupt.npy');
      await writeFile(corrupt, Buffer.from('\x93NUMPY\x01\x00\x10\x00{garbage}       \n', 'latin1'));
      await assert.rejects(target.cluster().fromFile(corrupt), (e: Error) => e instanceof FileFormatError && /not a valid \.npy/.test(e.message));
      const notNpy = path.join(dir, 'text.npy');
      await writeFile(notNpy, 'hello');
      await assert.rejects(target.cluster().fromFile(notNpy), (e: Error) => e instanceof FileFormatError && /magic/.test(e.message));
      await assertKeeperIntact();
    });

    it('refuses an array larger than the free memory before copying a byte', async () => {
      const before = await settledUsedBytes(target.cluster());
      // Zero-filled and never written: the kernel backs it with pages only if someone reads it,
      // and the refusal must come before any byte is sent.
      const huge = new Uint8Array(target.agentMemoryBytes * target.agentCount + 1024);
      await assert.rejects(target.cluster().put(huge, { name: 'too-big' }), (e: Error) => e instanceof InsufficientMemoryError && /free/.test(e.message));
      await new Promise((resolve) => setTimeout(resolve, 1200));
      assert.equal(await usedBytes(target.cluster()), before, 'no agent allocated anything');
      await assert.rejects(target.cluster().open('too-big'), ArrayNotFoundError);
      await assertKeeperIntact();
    });

    it('refuses a map whose output would not fit before anything runs or is allocated', async () => {
      const before = await settledUsedBytes(target.cluster());
      // More output columns than all agents together can hold next to the keeper's rows.
      const cols = Math.ceil((target.agentMemoryBytes * target.agentCount) / (keeper.shape[0]! * 8)) + 1;
      // A minute per block: had it started, it would end in the TimeoutError, not the refusal.
      const started = Date.now();
      await assert.rejects(
        target.cluster().map(keeper, { module: KERNELS, kernel: 'slowMap', params: { ms: 60_000 } }, { dtype: 'float64', cols, name: 'too-big-out', timeoutMs: 30_000 }),
        (e: Error) => e instanceof InsufficientMemoryError && /map's output 'too-big-out' needs .* free/.test(e.message),
      );
      assert.ok(Date.now() - started < 10_000, 'refused up front, not after running');
      assert.equal(await usedBytes(target.cluster()), before, 'no agent allocated anything');
      assert.deepEqual(await target.cluster().runningJobs(), []);
      await assert.rejects(target.cluster().open('too-big-out'), ArrayNotFoundError);
      await assertKeeperIntact();
    });

    it('cancels a running job through its AbortSignal, and the agents stop working on it', async () => {
      const controller = new AbortController();
      // A minute per block: if agents went on with it, the next job would wait behind it.
      const job = target.cluster().reduce(keeper, { module: KERNELS, partial: 'slow', combine: 'add', params: { ms: 60_000 } }, { signal: controller.signal });
      setTimeout(() => controller.abort(), 300);
      await assert.rejects(job, CancelledError);
      const started = Date.now();
      const count = await target.cluster().reduce<number>(keeper, { module: KERNELS, partial: 'countAbove', combine: 'add', params: { threshold: -1 } });
      assert.equal(count, 300_000);
      assert.ok(Date.now() - started < 20_000, `the next job waited ${Date.now() - started} ms`);
      await assertKeeperIntact();
    });

    it('cancels a map without leaving its output behind', async () => {
      const before = await settledUsedBytes(target.cluster());
      const controller = new AbortController();
      const job = target.cluster().map(keeper, { module: KERNELS, kernel: 'slowMap', params: { ms: 300 } }, { name: 'cancelled-output', signal: controller.signal });
      setTimeout(() => controller.abort(), 200);
      await assert.rejects(job, CancelledError);
      // The coordinator drops the output when its job fails: memory comes back, the name is free.
      assert.equal(await eventually(async () => (await usedBytes(target.cluster())) === before), true, 'the output was freed');
      const reuse = await target.cluster().put(new Float64Array(3), { name: 'cancelled-output' });
      await reuse.delete();
      await assertKeeperIntact();
    });

    it('never lets the buffer of a deleted array serve another array while a job still reads it', async () => {
      const doomed = await target.cluster().put(new Float64Array(262_144).fill(1), { partitions: 2 });
      // Sums after a pause: if the deleted buffer were handed to `fresh` meanwhile, it would sum 2s.
      // (3 s: agents report a reduce sent straight to them with their heartbeat, every second.)
      const job = target.cluster().reduce<number>(doomed, { module: KERNELS, partial: 'slowSum', combine: 'add', params: { ms: 3000 } });
      // Deleted while the job reads it (deleted before the job starts, the job would fail instead).
      await workRunning(target.cluster());
      await doomed.delete();
      const fresh = await target.cluster().put(new Float64Array(262_144).fill(2), { partitions: 2 });
      assert.equal(await target.cluster().reduce(fresh, 'sum'), 524_288);
      assert.equal(await job, 262_144);
      assert.deepEqual(await fresh.toArray(), new Float64Array(262_144).fill(2));
      await fresh.delete();
    });

    it('stops a job at its timeout', async () => {
      await assert.rejects(
        target.cluster().reduce(keeper, { module: KERNELS, partial: 'slow', combine: 'add', params: { ms: 300 } }, { timeoutMs: 250 }),
        TimeoutError,
      );
      await assertKeeperIntact();
    });
  });
}
