/**
 * File-backed partitions on a real agent (worker threads, store, data port): every job kind over
 * a .npy float64 file and a raw int32 2-D file gives, bit for bit, what the same task gives over
 * the same rows loaded into memory with the same partitioning; map outputs written into a file
 * hold the bytes the resident output holds; a file changed or shrunk under a job fails it with
 * a FileFormatError naming the file; the data port serves a file-backed partition's bytes from
 * its file and refuses writes to it.
 */
import assert from 'node:assert/strict';
import { mkdtemp, open, readFile, rm, truncate, utimes, writeFile, copyFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { FileFormatError, PROTOCOL_VERSION, formatNpyHeader, slicedPartition, tcpDataPlane, type BuiltinKernel, type KernelRef, type Shape } from '@sharc/protocol';
import { WorkerPool } from '../src/workers/pool.js';
import { AgentHarness, type ArrayOnAgent } from './agent-harness.js';

/** float64 rows: partitions of 11.2 MB and 12 MB (several 4 MiB blocks, WebAssembly memories), 640 KB and 160 KB (plain buffers; the last one inline when resident). */
const F64_ROWS = 3_000_000;
const F64_CUTS = [1_400_000, 2_900_000, 2_980_000];
/** int32 rows × 7 columns, after a 24-byte prefix: partitions of 4.2 MB, 6.7 MB and 280 KB. */
const I32_ROWS = 400_000;
const I32_COLS = 7;
const I32_CUTS = [150_000, 390_000];
const RAW_PREFIX = 24;

const REDUCTIONS: BuiltinKernel[] = [
  { op: 'sum' },
  { op: 'mean' },
  { op: 'min' },
  { op: 'max' },
  { op: 'sumsq' },
  { op: 'count' },
  { op: 'argmin' },
  { op: 'argmax' },
  { op: 'var' },
  { op: 'std', params: { ddof: 1 } },
  { op: 'norm' },
  { op: 'histogram', params: { bins: 32, range: [-40, 40] } },
];
const AXIS0: BuiltinKernel[] = (['sum', 'mean', 'min', 'max', 'var', 'std'] as const).map((op) => ({ op, params: { axis: 0 } }));

const KERNELS = `
export function partial(block, ctx) {
  let s = 0;
  for (let i = 0; i < block.length; i++) s += block[i] * 0.5 - ctx.rowStart;
  return [s, block.length, block[0]];
}
export function combine(a, b) {
  return [a[0] + b[0], a[1] + b[1], a[2]];
}
/** Returns part of its block itself: the partial must not change when the next block is read. */
export function head(block) {
  return block.subarray(0, 3);
}
export function concat(a, b) {
  return [...a, ...b];
}
export function double(input, output, ctx) {
  for (let i = 0; i < input.length; i++) output[i] = input[i] * 2 + ctx.rowStart;
}
export async function later(input, output) {
  await new Promise((resolve) => setTimeout(resolve, 1));
  for (let i = 0; i < input.length; i++) output[i] = input[i] - 1;
}
`;

/** Deterministic values of mixed magnitudes and signs: sums over them depend on the order of additions. */
function float64Values(count: number, seed: number): Float64Array {
  const values = new Float64Array(count);
  let state = seed;
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    const unit = state / 2 ** 32;
    values[i] = (unit - 0.45) * 10 ** ((i % 7) - 2);
  }
  return values;
}

function int32Values(count: number, seed: number): Int32Array {
  const values = new Int32Array(count);
  let state = seed;
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 22695477) + 1) >>> 0;
    values[i] = (state % 2_000_001) - 1_000_000;
  }
  return values;
}

async function writeNpy(file: string, values: Float64Array): Promise<void> {
  const header = formatNpyHeader('float64', [values.length]);
  await writeFile(file, Buffer.concat([Buffer.from(header), Buffer.from(values.buffer, values.byteOffset, values.byteLength)]));
}

describe('file-backed partitions on an agent', () => {
  let dir: string;
  let h: AgentHarness;
  let npy: string;
  let npyB: string;
  let raw: string;
  let rawB: string;
  /** The same arrays, in memory and file-backed, partitioned alike. */
  let f64: { resident: ArrayOnAgent; file: ArrayOnAgent };
  let f64B: { resident: ArrayOnAgent; file: ArrayOnAgent };
  let i32: { resident: ArrayOnAgent; file: ArrayOnAgent };
  let i32B: { resident: ArrayOnAgent; file: ArrayOnAgent };
  let kernelHash: string;
  let outputs = 0;

  const rawSource = (file: string) => ({ path: file, format: 'raw' as const, dtype: 'int32' as const, shape: [I32_ROWS, I32_COLS] as const, byteOffset: RAW_PREFIX });
  const both = async (name: string, load: (id: string, fileBacked: boolean) => Promise<ArrayOnAgent>) => ({
    resident: await load(`${name}-resident`, false),
    file: await load(`${name}-file`, true),
  });
  const newOutputId = () => `out-${++outputs}`;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-file-backed-'));
    h = await AgentHarness.start({ threads: 2, kernelCacheDir: path.join(dir, 'kernels') });
    npy = path.join(dir, 'a.npy');
    npyB = path.join(dir, 'b.npy');
    raw = path.join(dir, 'a.i32');
    rawB = path.join(dir, 'b.i32');
    await writeNpy(npy, float64Values(F64_ROWS, 1));
    await writeNpy(npyB, float64Values(F64_ROWS, 2));
    for (const [file, seed] of [[raw, 3], [rawB, 4]] as const) {
      const values = int32Values(I32_ROWS * I32_COLS, seed);
      await writeFile(file, Buffer.concat([Buffer.alloc(RAW_PREFIX, 0xee), Buffer.from(values.buffer)]));
    }
    f64 = await both('f64', (id, fileBacked) => h.load(id, { path: npy }, F64_CUTS, fileBacked));
    f64B = await both('f64b', (id, fileBacked) => h.load(id, { path: npyB }, F64_CUTS, fileBacked));
    i32 = await both('i32', (id, fileBacked) => h.load(id, rawSource(raw), I32_CUTS, fileBacked));
    i32B = await both('i32b', (id, fileBacked) => h.load(id, rawSource(rawB), I32_CUTS, fileBacked));
    kernelHash = h.putKernel(KERNELS);
  });

  afterEach(() => h.freeOutputs());

  after(async () => {
    await h?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('holds file-backed partitions without memory, listed like any partition', () => {
    const info = h.agent.info();
    const residentBytes = [f64, f64B, i32, i32B].reduce((sum, { resident }) => sum + resident.partitions.reduce((s, p) => s + p.byteLength, 0), 0);
    assert.ok(info.usedBytes >= residentBytes, 'the resident copies are counted');
    assert.ok(info.usedBytes < residentBytes + 4 * 1024 * 1024, 'the file-backed ones add nothing (but page rounding)');
    assert.equal(info.partitions, 4 * (F64_CUTS.length + 1) + 4 * (I32_CUTS.length + 1));
  });

  for (const [name, pick] of [
    ['a .npy float64 file', () => f64],
    ['a raw int32 2-D file', () => i32],
  ] as const) {
    describe(name, () => {
      for (const kernel of REDUCTIONS) {
        it(`${kernel.op}${kernel.params === undefined ? '' : ` ${JSON.stringify(kernel.params)}`}: every partition's partial bit for bit as over the resident array`, async () => {
          const ref: KernelRef = { kind: 'builtin', op: kernel.op, ...(kernel.params === undefined ? {} : { params: kernel.params }) };
          const resident = await h.reduce(pick().resident, ref);
          const streamed = await h.reduce(pick().file, ref);
          assert.ok(resident.every((partial) => partial !== undefined));
          assert.deepStrictEqual(streamed, resident);
        });
      }

      it('a custom reduce kernel: the same partials; a partial that is its own block stays what it was', async () => {
        for (const [partial, combine] of [
          ['partial', 'combine'],
          ['head', 'concat'],
        ]) {
          const ref: KernelRef = { kind: 'reduce', hash: kernelHash, module: 'kernels.mjs', partial: partial!, combine: combine! };
          const resident = await h.reduce(pick().resident, ref);
          assert.deepStrictEqual(await h.reduce(pick().file, ref), resident);
        }
      });

      it('a custom map kernel (sync and async), into a resident output and into a .npy file: the same bytes', async () => {
        for (const exportName of ['double', 'later']) {
          const ref: KernelRef = { kind: 'map', hash: kernelHash, module: 'kernels.mjs', kernel: exportName };
          const { resident, file } = pick();
          const cols = file.shape[1] ?? 1;
          const expected = await h.allocateOutput(newOutputId(), resident, 'float64', cols);
          await h.map(resident, expected, ref);
          const intoMemory = await h.allocateOutput(newOutputId(), file, 'float64', cols);
          await h.map(file, intoMemory, ref);
          const outFile = path.join(dir, `${newOutputId()}.npy`);
          const intoFile = await h.allocateOutput(newOutputId(), file, 'float64', cols, outFile);
          await h.map(file, intoFile, ref);
          const bytes = await h.readAll(expected);
          assert.ok(bytes.some((byte) => byte !== 0));
          assert.deepStrictEqual(await h.readAll(intoMemory), bytes);
          assert.deepStrictEqual(new Uint8Array((await readFile(outFile)).subarray(intoFile.file!.dataOffset)), bytes);
          assert.deepStrictEqual(await h.readAll(intoFile), bytes, 'the data port serves the output file');
        }
      });
    });
  }

  it('a reduce sent straight to the agent (tasks.run) and one sent as a task.batch: the same partials', async () => {
    for (const op of ['sum', 'argmax', 'var'] as const) {
      const ref: KernelRef = { kind: 'builtin', op };
      const expected = await h.reduce(f64.resident, ref);
      assert.deepStrictEqual(await h.direct(f64.file, ref), expected);
      assert.deepStrictEqual(await h.batch(f64.file, ref), expected);
    }
  });

  for (const kernel of AXIS0) {
    it(`${kernel.op} along axis 0 of the int32 file: the same column partials`, async () => {
      const ref: KernelRef = { kind: 'builtin', op: kernel.op, params: kernel.params! };
      assert.deepStrictEqual(await h.reduce(i32.file, ref), await h.reduce(i32.resident, ref));
    });
  }

  /** The map `ref` over the resident and the file-backed input (second array `other` of each kind), into memory and into a file: all the same bytes. */
  async function sameMapOutputs(
    input: { resident: ArrayOnAgent; file: ArrayOnAgent },
    ref: KernelRef,
    dtype: ArrayOnAgent['dtype'],
    cols: number,
    other?: { resident: ArrayOnAgent; file: ArrayOnAgent },
  ): Promise<void> {
    const expected = await h.allocateOutput(newOutputId(), input.resident, dtype, cols);
    await h.map(input.resident, expected, ref, other === undefined ? {} : { with: h.withOf(other.resident) });
    const bytes = await h.readAll(expected);
    assert.ok(bytes.some((byte) => byte !== 0));
    for (const second of other === undefined ? [undefined] : [other.resident, other.file]) {
      const extra = second === undefined ? {} : { with: h.withOf(second) };
      const intoMemory = await h.allocateOutput(newOutputId(), input.file, dtype, cols);
      await h.map(input.file, intoMemory, ref, extra);
      assert.deepStrictEqual(await h.readAll(intoMemory), bytes);
      const outFile = path.join(dir, `${newOutputId()}.npy`);
      const intoFile = await h.allocateOutput(newOutputId(), input.file, dtype, cols, outFile);
      await h.map(input.file, intoFile, ref, extra);
      assert.deepStrictEqual(new Uint8Array((await readFile(outFile)).subarray(intoFile.file!.dataOffset)), bytes);
    }
    if (other !== undefined) {
      // The resident input with a file-backed second array.
      const mixed = await h.allocateOutput(newOutputId(), input.resident, dtype, cols);
      await h.map(input.resident, mixed, ref, { with: h.withOf(other.file) });
      assert.deepStrictEqual(await h.readAll(mixed), bytes);
    }
  }

  it('scale (WebAssembly and JS loops), into memory and into a file: the same bytes', async () => {
    await sameMapOutputs(f64, { kind: 'builtin-map', op: 'scale', params: { factor: 1.5, offset: 0.25 } }, 'float64', 1);
    await sameMapOutputs(i32, { kind: 'builtin-map', op: 'scale', params: { factor: -3, offset: 0 } }, 'int32', I32_COLS);
  });

  it('astype: the same bytes', async () => {
    await sameMapOutputs(f64, { kind: 'builtin-map', op: 'astype', params: { dtype: 'float32' } }, 'float32', 1);
    await sameMapOutputs(i32, { kind: 'builtin-map', op: 'astype', params: { dtype: 'float64' } }, 'float64', I32_COLS);
  });

  it('add with a second array resident and file-backed: the same bytes', async () => {
    await sameMapOutputs(f64, { kind: 'builtin-map', op: 'add' }, 'float64', 1, f64B);
    await sameMapOutputs(i32, { kind: 'builtin-map', op: 'add' }, 'int32', I32_COLS, i32B);
  });

  it('rowsum of the int32 file: the same bytes', async () => {
    await sameMapOutputs(i32, { kind: 'builtin-map', op: 'rowsum' }, 'float64', 1);
  });

  it('dot with a second array resident and file-backed: the same partials', async () => {
    for (const [a, b] of [
      [f64, f64B],
      [i32, i32B],
    ] as const) {
      const ref: KernelRef = { kind: 'builtin-pair', op: 'dot' };
      const expected = await h.reduce(a.resident, ref, { with: h.withOf(b.resident) });
      assert.deepStrictEqual(await h.reduce(a.file, ref, { with: h.withOf(b.resident) }), expected);
      assert.deepStrictEqual(await h.reduce(a.file, ref, { with: h.withOf(b.file) }), expected);
      assert.deepStrictEqual(await h.reduce(a.resident, ref, { with: h.withOf(b.file) }), expected);
    }
  });

  it('slice of a file-backed array into memory and into a file (and of a resident one into a file): the rows of the file', async () => {
    for (const { resident, file } of [f64, i32]) {
      const rows = file.shape[0]!;
      const slice = { start: Math.floor(rows / 3) + 7, end: rows - 11 };
      const rowBytes = file.partitions[0]!.byteLength / file.partitions[0]!.rowCount;
      const partitions = file.partitions.map((p) => ({ ...slicedPartition(p, slice, rowBytes), agentId: p.agentId }));
      const shape: Shape = file.shape.length === 1 ? [slice.end - slice.start] : [slice.end - slice.start, file.shape[1]!];
      const ref: KernelRef = { kind: 'builtin-map', op: 'slice', params: slice };
      const expected = await h.allocate(newOutputId(), file.dtype, shape, partitions);
      await h.map(resident, expected, ref);
      const bytes = await h.readAll(expected);
      const source = await readFile(file.file!.path);
      const start = file.file!.dataOffset + slice.start * rowBytes;
      assert.deepStrictEqual(bytes, new Uint8Array(source.subarray(start, start + (slice.end - slice.start) * rowBytes)));
      const intoMemory = await h.allocate(newOutputId(), file.dtype, shape, partitions);
      await h.map(file, intoMemory, ref);
      assert.deepStrictEqual(await h.readAll(intoMemory), bytes);
      for (const input of [file, resident]) {
        const outFile = path.join(dir, `${newOutputId()}.npy`);
        const intoFile = await h.allocate(newOutputId(), file.dtype, shape, partitions, outFile);
        await h.map(input, intoFile, ref);
        assert.deepStrictEqual(new Uint8Array((await readFile(outFile)).subarray(intoFile.file!.dataOffset)), bytes);
      }
    }
  });

  it("serves a file-backed partition's bytes on the data port from its file, and refuses writes to it", async () => {
    const source = await readFile(npy);
    const dataStart = f64.file.file!.dataOffset;
    assert.deepStrictEqual(await h.readAll(f64.file), new Uint8Array(source.subarray(dataStart)));
    // A range inside a partition.
    const p = f64.file.partitions[1]!;
    const target = new Uint8Array(1000);
    await tcpDataPlane.read(h.agent.info(), { v: PROTOCOL_VERSION, op: 'read', arrayId: f64.file.arrayId, partitionIndex: 1, byteOffset: 8 * 12345, byteLength: 1000 }, target);
    const at = dataStart + p.rowStart * 8 + 8 * 12345;
    assert.deepStrictEqual(target, new Uint8Array(source.subarray(at, at + 1000)));
    await assert.rejects(
      tcpDataPlane.write(h.agent.info(), { v: PROTOCOL_VERSION, op: 'write', arrayId: f64.file.arrayId, partitionIndex: 3, byteOffset: 0, byteLength: 8, token: 'x' }, new Uint8Array(8)),
      /file-backed .* takes no writes/,
    );
  });

  describe('a file that changes under its array', () => {
    it('fails a job over a file rewritten since (another modification time), naming the file', async () => {
      const copy = path.join(dir, 'changed.npy');
      await copyFile(npy, copy);
      const array = await h.load('changed', { path: copy }, F64_CUTS, true);
      assert.ok((await h.reduce(array, { kind: 'builtin', op: 'sum' })).every((partial) => typeof partial === 'number'));
      await utimes(copy, new Date(), new Date(Date.now() + 60_000));
      await assert.rejects(h.run(array, 0, { kind: 'builtin', op: 'sum' }), (error: Error) => {
        assert.ok(error instanceof FileFormatError, `${error.name}: ${error.message}`);
        assert.match(error.message, new RegExp(`${copy.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} changed since the file-backed array was made from it: it was modified`));
        return true;
      });
      // And the data port refuses its bytes the same way.
      await assert.rejects(h.readAll(array), /changed since the file-backed array was made/);
    });

    it('fails a job over a file that shrank, naming the file', async () => {
      const copy = path.join(dir, 'shrunk.npy');
      await copyFile(npy, copy);
      const array = await h.load('shrunk', { path: copy }, F64_CUTS, true);
      await truncate(copy, 1_000_000);
      await assert.rejects(h.run(array, 2, { kind: 'builtin', op: 'max' }), (error: Error) => {
        assert.ok(error instanceof FileFormatError, `${error.name}: ${error.message}`);
        assert.match(error.message, /shrunk\.npy changed since the file-backed array was made from it: it shrunk from \d+ to 1000000 bytes/);
        return true;
      });
      await assert.rejects(h.load('shrunk-again', { path: copy }, F64_CUTS, true), /shrunk\.npy/);
    });

    it("a thread's read that ends before the rows (the file shrank after it was checked) fails with a FileFormatError naming the file", async () => {
      const copy = path.join(dir, 'short.bin');
      const pool = new WorkerPool({ threads: 1, threadHeapMb: 256, logger: { debug() {}, info() {}, warn() {}, error() {} } as never });
      try {
        await writeFile(copy, Buffer.alloc(8 * 1000));
        const handle = await open(copy);
        const stats = await handle.stat();
        await handle.close();
        const file = { path: copy, dataOffset: 0, size: stats.size, mtimeMs: stats.mtimeMs };
        const view = { file, partitionBytes: 8 * 2000, dtype: 'float64' as const, rowStart: 0, cols: 1 };
        const request = { kind: 'reduce' as const, kernel: { kind: 'builtin' as const, op: 'sum' as const }, input: view, blocks: [{ rowStart: 0, rowCount: 2000 }], shape: [2000] as Shape, params: undefined };
        await assert.rejects(pool.run(request), (error: Error) => {
          assert.ok(error instanceof FileFormatError, `${error.name}: ${error.message}`);
          assert.match(error.message, /short\.bin ended at byte 8000, before the 16000 bytes of rows at 0/);
          return true;
        });
        await assert.rejects(pool.run({ ...request, input: { ...view, file: { ...file, mtimeMs: file.mtimeMs - 1000 } } }), /short\.bin changed since the file-backed array was made from it/);
        // The same thread reads a good file after.
        const partial = await pool.run({ ...request, blocks: [{ rowStart: 0, rowCount: 1000 }] });
        assert.deepStrictEqual(partial.partials, [0]);
      } finally {
        await pool.close();
      }
    });
  });
});
