import type { DType } from '../dtypes.js';
import { FileFormatError } from '../errors.js';

/**
 * The `.npy` format (numpy's own, version 1.0–3.0): a magic string, a version, a header
 * length, a Python-literal dict `{'descr': '<f8', 'fortran_order': False, 'shape': (r, c), }`
 * padded so the data starts on a 64-byte boundary, then the raw little-endian elements.
 */

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY
const PREFIX_BYTES = 10; // magic (6) + version (2) + v1 header length (2)
const ALIGNMENT = 64;
/** How many bytes to read to be sure to hold any header sharc accepts. */
export const NPY_MAX_HEADER_BYTES = 64 * 1024;

const DESCR_BY_DTYPE: Record<DType, string> = {
  float64: '<f8',
  float32: '<f4',
  int32: '<i4',
  uint32: '<u4',
  int16: '<i2',
  uint16: '<u2',
  int8: '|i1',
  uint8: '|u1',
  int64: '<i8',
  uint64: '<u8',
  bool: '|b1',
};
const DTYPE_BY_DESCR = new Map<string, DType>(
  Object.entries(DESCR_BY_DTYPE).flatMap(([dtype, descr]) => {
    const d = dtype as DType;
    // Single-byte types may be written with any byte-order mark.
    return descr.startsWith('|') ? [[descr, d], [`<${descr.slice(1)}`, d], [`=${descr.slice(1)}`, d]] : [[descr, d], [`=${descr.slice(1)}`, d]];
  }) as Array<[string, DType]>,
);

/** Whether `bytes` (the first bytes of a file) start with the `.npy` magic string. */
export function hasNpyMagic(bytes: Uint8Array): boolean {
  return bytes.length >= MAGIC.length && MAGIC.every((byte, i) => bytes[i] === byte);
}

export interface NpyHeader {
  dtype: DType;
  shape: number[];
  /** Byte offset of the first element. */
  dataOffset: number;
}

/** Parses the header at the start of `bytes` (which must hold the whole header). */
export function parseNpyHeader(bytes: Uint8Array, fileName = 'file'): NpyHeader {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const corrupt = (why: string) =>
    new FileFormatError(`${fileName} is not a valid .npy file: ${why}`, { details: { path: fileName } });
  if (buf.length < PREFIX_BYTES || !buf.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw corrupt('it does not start with the \\x93NUMPY magic');
  }
  const major = buf[6];
  let headerLength: number;
  let headerStart: number;
  if (major === 1) {
    headerLength = buf.readUInt16LE(8);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (buf.length < 12) throw corrupt('the header is truncated');
    headerLength = buf.readUInt32LE(8);
    headerStart = 12;
  } else {
    throw corrupt(`unsupported format version ${major}`);
  }
  if (headerLength > NPY_MAX_HEADER_BYTES || buf.length < headerStart + headerLength) {
    throw corrupt(`the header of ${headerLength} bytes is truncated or too large`);
  }
  const text = buf.subarray(headerStart, headerStart + headerLength).toString(major === 3 ? 'utf8' : 'latin1');
  const structured = /'descr'\s*:\s*\[/.exec(text);
  if (structured !== null) {
    // A record array: 'descr' is a list of (name, type) pairs instead of one type string.
    const fields = [...text.slice(structured.index).matchAll(/\(\s*(['"])(.*?)\1\s*,/g)].map((m) => m[2]);
    throw corrupt(
      `structured dtypes (fields ${fields.join(', ') || '?'}) are not supported: save each field as its own array, ` +
        `e.g. np.save('${fields[0] ?? 'field'}.npy', a['${fields[0] ?? 'field'}'])`,
    );
  }
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw corrupt(`the header dict lacks descr, fortran_order or shape: ${JSON.stringify(text.trim())}`);
  }
  const dtype = DTYPE_BY_DESCR.get(descr);
  if (dtype === undefined) {
    const swap = descr.startsWith('>') ? `; for big-endian data save a.astype('<${descr.slice(1)}')` : '';
    throw corrupt(`dtype ${descr} is not supported: sharc reads little-endian ${Object.keys(DESCR_BY_DTYPE).join(', ')}${swap}`);
  }
  if (fortran === 'True') throw corrupt('fortran_order arrays are not supported: save with np.ascontiguousarray');
  const dims = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const shape = dims.map((d) => {
    if (!/^\d+$/.test(d)) throw corrupt(`shape (${shapeText}) is not a tuple of integers`);
    return Number(d);
  });
  if (shape.length > 2) throw corrupt(`shape (${shapeText}) has ${shape.length} dimensions; sharc holds 1-D and 2-D arrays`);
  // shape () is a 0-d array of one element (np.save of a numpy scalar): it stays 0-d.
  return { dtype, shape, dataOffset: headerStart + headerLength };
}

/** The header bytes of a C-order `.npy` file (version 1.0) for `dtype` and `shape`. */
export function formatNpyHeader(dtype: DType, shape: readonly number[]): Buffer {
  // Python tuple syntax: (), (n,), (r, c).
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '${DESCR_BY_DTYPE[dtype]}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const unpadded = PREFIX_BYTES + dict.length + 1; // + newline
  dict += ' '.repeat((ALIGNMENT - (unpadded % ALIGNMENT)) % ALIGNMENT) + '\n';
  const header = Buffer.alloc(PREFIX_BYTES + dict.length);
  MAGIC.copy(header, 0);
  header[6] = 1;
  header[7] = 0;
  header.writeUInt16LE(dict.length, 8);
  header.write(dict, PREFIX_BYTES, 'latin1');
  return header;
}
