/**
 * inspectFile: a file is read as what it is (.npy by its magic, else raw bytes), and a
 * description that does not fit the file is refused, naming the file, its size, what the
 * description needs and the fix; never stored truncated, padded or with the header as data.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { checkFileUnchanged, FileFormatError, formatNpyHeader, inspectFile, InvalidArgumentError, readRange, type FileLayout, type FileSource } from '../src/index.js';

/**
 * What inspectFile read, its size and modification time checked against the file's own
 * (stat): the layout alone, for the comparisons below.
 */
async function layoutOf(source: Parameters<typeof inspectFile>[0]): Promise<FileLayout> {
  const { size, mtimeMs, ...layout } = await inspectFile(source);
  const stats = await stat(source.path);
  assert.equal(size, stats.size, 'the size it read is the file\'s');
  assert.equal(mtimeMs, stats.mtimeMs, 'the modification time it read is the file\'s');
  return layout;
}

describe('inspectFile', () => {
  let dir: string;
  /** np.save of np.arange(12.0).reshape(3, 4): 128 header bytes, then 96 bytes of float64. */
  let npy: string;
  /** 1,000 float32, raw. */
  let raw: string;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-array-file-'));
    npy = path.join(dir, 'small.npy');
    await writeFile(npy, Buffer.concat([formatNpyHeader('float64', [3, 4]), Buffer.from(new Float64Array(12).map((_, i) => i).buffer)]));
    raw = path.join(dir, 'thousand.f32');
    await writeFile(raw, Buffer.from(new Float32Array(1000).map((_, i) => i).buffer));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function refused(source: FileSource, kind: typeof InvalidArgumentError | typeof FileFormatError, ...patterns: RegExp[]): Promise<void> {
    await assert.rejects(inspectFile(source), (error: unknown) => {
      assert.ok(error instanceof kind, `expected ${kind.name}, got ${String(error)}`);
      assert.ok(error.message.includes(source.path), `names the file: ${error.message}`);
      for (const pattern of patterns) assert.match(error.message, pattern);
      return true;
    });
  }

  describe('a .npy file', () => {
    it('is read by its header, with or without a format, and with a dtype/shape that agree', async () => {
      const expected = { dtype: 'float64', shape: [3, 4], dataOffset: 128 };
      assert.deepEqual(await layoutOf({ path: npy }), expected);
      assert.deepEqual(await layoutOf({ path: npy, format: 'npy' }), expected);
      assert.deepEqual(await layoutOf({ path: npy, dtype: 'float64', shape: [3, 4] }), expected);
      const other = path.join(dir, 'npy-without-extension');
      await writeFile(other, Buffer.concat([formatNpyHeader('int16', [5]), Buffer.alloc(10)]));
      assert.deepEqual(await layoutOf({ path: other }), { dtype: 'int16', shape: [5], dataOffset: 128 });
    });

    it('is refused when the dtype or shape given contradict its header, naming both', async () => {
      await refused(
        { path: npy, dtype: 'float32', shape: [3, 4] },
        InvalidArgumentError,
        /is a \.npy file of float64 \[3, 4\] \(its header\), but dtype float32 was given: drop dtype\/shape \(--dtype\/--shape\); they come from its header/,
      );
      await refused({ path: npy, dtype: 'float64', shape: [12] }, InvalidArgumentError, /float64 \[3, 4\] \(its header\), but shape \[12\] was given/);
      await refused({ path: npy, dtype: 'int8', shape: [224] }, InvalidArgumentError, /but dtype int8 and shape \[224\] were given/);
    });

    it("is refused as raw bytes: format 'raw' would read its header as data", async () => {
      await refused(
        { path: npy, format: 'raw', dtype: 'float64', shape: [3, 4] },
        InvalidArgumentError,
        /is a \.npy file of float64 \[3, 4\] \(its header\), not raw bytes: drop format: 'raw'; dtype and shape come from its header/,
      );
    });

    it('is refused with a byteOffset: its header says where the data starts', async () => {
      await refused({ path: npy, byteOffset: 0 }, InvalidArgumentError, /its header says where the data starts \(byte 128\); drop byteOffset \(--byte-offset\)/);
    });

    it('is refused when it is shorter or longer than its header says', async () => {
      const whole = Buffer.concat([formatNpyHeader('float64', [3, 4]), Buffer.alloc(96)]);
      const cut = path.join(dir, 'cut.npy');
      await writeFile(cut, whole.subarray(0, 200));
      await refused({ path: cut }, FileFormatError, /is truncated: its header says float64 \[3, 4\], which needs 224 bytes \(128 of header\), the file has 200/);
      const long = path.join(dir, 'long.npy');
      await writeFile(long, Buffer.concat([whole, Buffer.alloc(8)]));
      await refused({ path: long }, FileFormatError, /is not a plain \.npy file: its header says float64 \[3, 4\], which needs 224 bytes .* the file has 232/);
    });
  });

  describe('a raw file', () => {
    it('is read when dtype and shape cover it exactly', async () => {
      assert.deepEqual(await layoutOf({ path: raw, dtype: 'float32', shape: [1000] }), { dtype: 'float32', shape: [1000], dataOffset: 0 });
      assert.deepEqual(await layoutOf({ path: raw, format: 'raw', dtype: 'float32', shape: [250, 4] }), { dtype: 'float32', shape: [250, 4], dataOffset: 0 });
      assert.deepEqual(await layoutOf({ path: raw, dtype: 'uint8', shape: [4000] }), { dtype: 'uint8', shape: [4000], dataOffset: 0 });
    });

    it('is refused when the shape covers less or more than the file, with the shape that fits', async () => {
      await refused(
        { path: raw, dtype: 'float32', shape: [999] },
        InvalidArgumentError,
        /has 4000 bytes, but shape \[999\] of float32 needs 3996: give the shape that covers it \(\[1000\]\), or give byteOffset \(--byte-offset\)/,
      );
      await refused({ path: raw, dtype: 'float32', shape: [1001] }, InvalidArgumentError, /has 4000 bytes, but shape \[1001\] of float32 needs 4004: give the shape that covers it \(\[1000\]\)/);
      await refused({ path: raw, dtype: 'float64', shape: [10, 4] }, InvalidArgumentError, /needs 320: give the shape that covers it \(\[125, 4\]\)/);
      await refused({ path: raw, dtype: 'float32', shape: [10, 3] }, InvalidArgumentError, /needs 120: no float32 shape with 3 column\(s\) covers 4000 bytes: check the dtype/);
    });

    it('with a byteOffset reads the range the shape states, which must lie inside the file', async () => {
      assert.deepEqual(await layoutOf({ path: raw, dtype: 'float32', shape: [999], byteOffset: 0 }), { dtype: 'float32', shape: [999], dataOffset: 0 });
      const layout = await layoutOf({ path: raw, dtype: 'float32', shape: [10, 2], byteOffset: 400 });
      assert.deepEqual(layout, { dtype: 'float32', shape: [10, 2], dataOffset: 400 });
      const target = new Uint8Array(80);
      await readRange(raw, layout.dataOffset, target);
      assert.deepEqual(new Float32Array(target.buffer), new Float32Array(20).map((_, i) => 100 + i), 'elements 100..119');
      assert.deepEqual(await layoutOf({ path: raw, dtype: 'float32', shape: [1], byteOffset: 3996 }), { dtype: 'float32', shape: [1], dataOffset: 3996 });
      await refused(
        { path: raw, dtype: 'float32', shape: [2], byteOffset: 3996 },
        InvalidArgumentError,
        /has 4000 bytes, but shape \[2\] of float32 from byte 3996 needs bytes 3996\.\.4004: give a smaller shape or byteOffset/,
      );
    });

    it('that is a directory is refused as not a regular file', async () => {
      await refused({ path: dir, dtype: 'uint8', shape: [4096] }, FileFormatError, /is not a regular file \(a directory\)/);
    });

    it('without a dtype and shape is refused: it is not a .npy file', async () => {
      await refused({ path: raw }, FileFormatError, /\(4000 bytes\) is not a \.npy file .*\\x93NUMPY.*: if it holds raw little-endian bytes, give both dtype and shape \(--dtype and --shape\)/);
      await refused({ path: raw, dtype: 'float32' }, InvalidArgumentError, /holds raw bytes \(no \.npy magic\): give both dtype and shape/);
      await refused({ path: raw, format: 'npy', dtype: 'float32', shape: [1000] }, FileFormatError, /is not a valid \.npy file: it does not start with the \\x93NUMPY magic/);
    });
  });
});

describe('checkFileUnchanged (before a partition is read, at load and when a lost one is read again)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-file-unchanged-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function refused(source: FileSource, expected: Parameters<typeof checkFileUnchanged>[1], why: RegExp): Promise<void> {
    await assert.rejects(checkFileUnchanged(source, expected), (error: unknown) => {
      assert.ok(error instanceof FileFormatError, String(error));
      assert.match(error.message, /is no longer the file the array was loaded from/);
      assert.match(error.message, why);
      assert.match(error.message, /Put the file back as it was, or load it again as a new array$/);
      return true;
    });
  }

  it('passes a .npy file as it was loaded, and refuses one replaced by another of the same size', async () => {
    const file = path.join(dir, 'frames.npy');
    await writeFile(file, Buffer.concat([formatNpyHeader('float64', [300, 4]), Buffer.alloc(9600)]));
    const loaded = await inspectFile({ path: file });
    await checkFileUnchanged({ path: file }, loaded);
    // np.save of a float32 (600, 4): the very same number of bytes, read as float64 it is garbage.
    await writeFile(file, Buffer.concat([formatNpyHeader('float32', [600, 4]), Buffer.alloc(9600)]));
    await refused({ path: file }, loaded, /\(float64 \[300, 4\] from byte 128\): it is a \.npy file of float32 \[600, 4\] from byte 128 now, 9728 bytes in all/);
    await writeFile(file, Buffer.alloc(9728));
    await refused({ path: file }, loaded, /it is not a \.npy file now \(9728 bytes\)/);
  });

  it('passes a raw file of the same size (or holding the stated range), refuses one that grew or shrank', async () => {
    const file = path.join(dir, 'frames.f32');
    await writeFile(file, Buffer.alloc(4000));
    const source: FileSource = { path: file, dtype: 'float32', shape: [1000] };
    const loaded = await inspectFile(source);
    await checkFileUnchanged(source, loaded);
    await writeFile(file, Buffer.alloc(4004));
    await refused(source, loaded, /\(float32 \[1000\] from byte 0\): it has 4004 bytes now/);
    const range: FileSource = { path: file, dtype: 'float32', shape: [10], byteOffset: 3964 };
    const rangeLayout = await inspectFile(range);
    await checkFileUnchanged(range, rangeLayout);
    await writeFile(file, Buffer.alloc(4000));
    await refused(range, rangeLayout, /it has 4000 bytes now/);
  });
});
