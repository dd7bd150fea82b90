/**
 * The `.npy` header: what sharc writes it reads back, data starts 64-byte aligned, a header
 * written by numpy itself is understood, and anything sharc cannot hold is refused.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DTYPES, FileFormatError, formatNpyHeader, parseNpyHeader } from '../src/index.js';

const MAGIC_AND_V1 = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 0x01, 0x00]; // \x93NUMPY 1.0

/** A v1.0 header around `dict`, padded with spaces to `total` bytes and ending in a newline. */
function v1Header(dict: string, total = 128): Buffer {
  const headerLength = total - 10;
  const text = dict.padEnd(headerLength - 1, ' ') + '\n';
  const prefix = Buffer.from([...MAGIC_AND_V1, headerLength & 0xff, headerLength >> 8]);
  return Buffer.concat([prefix, Buffer.from(text, 'latin1')]);
}

/**
 * The exact first 128 bytes numpy writes for `np.save(f, np.zeros((3, 4)))`: magic, version
 * 1.0, header length 118 (0x76) little-endian, the dict, spaces, newline.
 */
const NUMPY_FLOAT64_3X4 = Buffer.concat([
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 0x01, 0x00, 0x76, 0x00]),
  Buffer.from("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }" + ' '.repeat(58) + '\n', 'latin1'),
]);

function assertRefused(bytes: Uint8Array, pattern: RegExp): void {
  assert.throws(
    () => parseNpyHeader(bytes, 'data.npy'),
    (error: unknown) => {
      assert.ok(error instanceof FileFormatError, `got ${String(error)}`);
      assert.match(error.message, /data\.npy/);
      assert.match(error.message, pattern);
      return true;
    },
  );
}

describe('formatNpyHeader / parseNpyHeader', () => {
  const shapes: number[][] = [[], [0], [1], [7], [1_000_000], [3, 4], [0, 5], [5, 0], [123456, 789]];

  for (const dtype of DTYPES) {
    it(`round trips ${dtype} for 0-D, 1-D and 2-D shapes`, () => {
      for (const shape of shapes) {
        const header = formatNpyHeader(dtype, shape);
        const parsed = parseNpyHeader(header);
        assert.equal(parsed.dtype, dtype);
        assert.deepEqual(parsed.shape, shape);
        assert.equal(parsed.dataOffset, header.length, 'data starts right after the header');
      }
    });
  }

  it('pads the header so data starts at a multiple of 64 bytes', () => {
    for (const dtype of DTYPES) {
      for (const shape of [[1], [12345678901], [99, 99], [2 ** 40, 3]]) {
        const header = formatNpyHeader(dtype, shape);
        assert.equal(header.length % 64, 0, `${dtype} ${JSON.stringify(shape)}: ${header.length} bytes`);
        assert.equal(header[header.length - 1], 0x0a, 'the header ends with a newline');
        assert.equal(header.readUInt16LE(8), header.length - 10, 'the stored length covers the rest');
      }
    }
  });

  it('parses a header that numpy wrote for a float64 (3, 4) array', () => {
    assert.equal(NUMPY_FLOAT64_3X4.length, 128);
    assert.deepEqual(parseNpyHeader(NUMPY_FLOAT64_3X4), { dtype: 'float64', shape: [3, 4], dataOffset: 128 });
  });

  it('writes the same bytes numpy writes', () => {
    assert.deepEqual(formatNpyHeader('float64', [3, 4]), NUMPY_FLOAT64_3X4);
  });

  it('parses the header when the data follows it in the same buffer', () => {
    const file = Buffer.concat([NUMPY_FLOAT64_3X4, Buffer.from(new Float64Array(12).buffer)]);
    assert.deepEqual(parseNpyHeader(file), { dtype: 'float64', shape: [3, 4], dataOffset: 128 });
  });

  it('parses a 1-D numpy header written as a one-element tuple', () => {
    const header = v1Header("{'descr': '<i4', 'fortran_order': False, 'shape': (10,), }");
    assert.deepEqual(parseNpyHeader(header), { dtype: 'int32', shape: [10], dataOffset: 128 });
  });

  it('parses a version 2.0 header with a 4-byte length', () => {
    const text = "{'descr': '<u2', 'fortran_order': False, 'shape': (5, 6), }".padEnd(115, ' ') + '\n';
    const prefix = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 0x02, 0x00, 0, 0, 0, 0]);
    prefix.writeUInt32LE(text.length, 8);
    const header = Buffer.concat([prefix, Buffer.from(text, 'latin1')]);
    assert.deepEqual(parseNpyHeader(header), { dtype: 'uint16', shape: [5, 6], dataOffset: 128 });
  });

  it('accepts single-byte types written with any byte-order mark', () => {
    for (const descr of ['|u1', '<u1', '=u1']) {
      const header = v1Header(`{'descr': '${descr}', 'fortran_order': False, 'shape': (4,), }`);
      assert.equal(parseNpyHeader(header).dtype, 'uint8', descr);
    }
  });

  it("reads numpy's int64, uint64 and bool descriptors, and writes them as numpy does", () => {
    for (const [descr, dtype] of [['<i8', 'int64'], ['<u8', 'uint64'], ['|b1', 'bool'], ['=i8', 'int64'], ['<b1', 'bool']] as const) {
      const header = v1Header(`{'descr': '${descr}', 'fortran_order': False, 'shape': (4,), }`);
      assert.equal(parseNpyHeader(header).dtype, dtype, descr);
    }
    assert.match(formatNpyHeader('int64', [2]).toString('latin1'), /'descr': '<i8'/);
    assert.match(formatNpyHeader('uint64', [2]).toString('latin1'), /'descr': '<u8'/);
    assert.match(formatNpyHeader('bool', [2]).toString('latin1'), /'descr': '\|b1'/);
  });

  it('keeps a 0-d array 0-d: shape () reads as [] and is written back as ()', () => {
    const header = v1Header("{'descr': '<f8', 'fortran_order': False, 'shape': (), }");
    assert.deepEqual(parseNpyHeader(header).shape, []);
    assert.match(formatNpyHeader('float64', []).toString('latin1'), /'shape': \(\), /);
  });
});

describe('parseNpyHeader refuses what sharc cannot read', () => {
  it('refuses a bad magic string', () => {
    const header = Buffer.from(NUMPY_FLOAT64_3X4);
    header[1] = 0x6e; // 'n' instead of 'N'
    assertRefused(header, /magic/);
    assertRefused(Buffer.from('just some text that is long enough'), /magic/);
  });

  it('refuses a buffer shorter than the fixed prefix', () => {
    assertRefused(NUMPY_FLOAT64_3X4.subarray(0, 9), /magic/);
  });

  it('refuses fortran_order True', () => {
    assertRefused(v1Header("{'descr': '<f8', 'fortran_order': True, 'shape': (3, 4), }"), /fortran_order/);
  });

  it('refuses big-endian and unsupported dtypes', () => {
    for (const descr of ['>f8', '>i4', '<c16', '>i8', '<f2', '|O', '<U10']) {
      assertRefused(v1Header(`{'descr': '${descr}', 'fortran_order': False, 'shape': (3,), }`), new RegExp(`dtype ${descr.replace(/[|<>=]/g, '\\$&')}`));
    }
  });

  it('says a big-endian array can be saved little-endian', () => {
    assertRefused(v1Header("{'descr': '>f8', 'fortran_order': False, 'shape': (3,), }"), /astype\('<f8'\)/);
  });

  it('refuses a structured dtype naming its fields and the fix, not "lacks descr"', () => {
    const header = v1Header("{'descr': [('x', '<f8'), ('label', '<i4'), ('flags', '|b1', (2,))], 'fortran_order': False, 'shape': (3,), }", 192);
    assertRefused(header, /structured dtypes \(fields x, label, flags\) are not supported: save each field as its own array/);
    assertRefused(header, /np\.save\('x\.npy', a\['x'\]\)/);
  });

  it('refuses 3-D shapes', () => {
    assertRefused(v1Header("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3, 4), }"), /3 dimensions/);
  });

  it('refuses a shape that is not a tuple of integers', () => {
    assertRefused(v1Header("{'descr': '<f8', 'fortran_order': False, 'shape': (3, x), }"), /not a tuple of integers/);
    assertRefused(v1Header("{'descr': '<f8', 'fortran_order': False, 'shape': (-3,), }"), /not a tuple of integers/);
  });

  it('refuses a header dict without descr, fortran_order or shape', () => {
    assertRefused(v1Header("{'fortran_order': False, 'shape': (3,), }"), /lacks/);
    assertRefused(v1Header("{'descr': '<f8', 'shape': (3,), }"), /lacks/);
    assertRefused(v1Header("{'descr': '<f8', 'fortran_order': False, }"), /lacks/);
  });

  it('refuses a truncated header', () => {
    for (const length of [10, 64, 127]) {
      assertRefused(NUMPY_FLOAT64_3X4.subarray(0, length), /truncated/);
    }
  });

  it('refuses unknown format versions', () => {
    const header = Buffer.from(NUMPY_FLOAT64_3X4);
    header[6] = 9;
    assertRefused(header, /version 9/);
  });
});
