/**
 * int64 and uint64 elements read as two 32-bit words (little-endian: low word first): reading a
 * BigInt64Array element allocates a bigint, reading its words does not. `hi · 2^32 + lo` in
 * float64 is one correctly rounded addition of exact terms, so it equals Number(element).
 */
export type BigIntArray = BigInt64Array | BigUint64Array;

export const TWO_32 = 2 ** 32;

export function wordsOf(values: BigIntArray): Uint32Array {
  return new Uint32Array(values.buffer, values.byteOffset, values.length * 2);
}

/** The high words as signed (int64) or unsigned (uint64) 32-bit integers. */
export function highWordsOf(values: BigIntArray): Int32Array | Uint32Array {
  return values instanceof BigInt64Array
    ? new Int32Array(values.buffer, values.byteOffset, values.length * 2)
    : new Uint32Array(values.buffer, values.byteOffset, values.length * 2);
}
