import type { BuiltinPartial, BuiltinReduction } from '@sharc/protocol/core';

/**
 * Built-in reductions over one block of int64 or uint64 elements, exact. Reading a
 * BigInt64Array element allocates a bigint, so the loops read each element as two 32-bit
 * words (little-endian: low word first) and add them in float64 accumulators, which stay exact
 * for up to WORDS_CHUNK elements; each chunk's total is then folded into a bigint. These are
 * the reference implementations: a faster one (WebAssembly SIMD) must give the same results.
 */
type BigIntArray = BigInt64Array | BigUint64Array;

/** 2^20 elements: a sum of that many 32-bit words stays below 2^52, where float64 is exact. */
const WORDS_CHUNK = 1 << 20;
const TWO_32 = 2 ** 32;
/** Squares are added in 22-bit limbs; each element adds less than 2^45 to each limb sum… */
const LIMB_BITS = 22;
const LIMB_MASK = (1 << LIMB_BITS) - 1;
/** …so 128 elements add less than 2^52: limb sums below FLUSH_AT stay below 2^53 (exact) for one more chunk. */
const SQUARES_CHUNK = 128;
const FLUSH_AT = 2 ** 52;

export function reduceBigIntBlock(op: BuiltinReduction, values: BigIntArray): BuiltinPartial {
  switch (op) {
    case 'sum':
      return sumOf(values);
    case 'mean':
      return [sumOf(values), values.length];
    case 'sumsq':
      return sumOfSquares(values);
    case 'count':
      return values.length;
    case 'min':
      return extremeOf(values, false);
    case 'max':
      return extremeOf(values, true);
  }
}

function wordsOf(values: BigIntArray): Uint32Array {
  return new Uint32Array(values.buffer, values.byteOffset, values.length * 2);
}

/**
 * The exact sum. Every element is read as unsigned (hi · 2^32 + lo); a negative int64 element
 * was read as itself + 2^64, so 2^64 is taken off once per negative element (its top bit set).
 */
export function sumOf(values: BigIntArray): bigint {
  const words = wordsOf(values);
  const signed = values instanceof BigInt64Array;
  let total = 0n;
  for (let start = 0; start < values.length; start += WORDS_CHUNK) {
    const end = Math.min(values.length, start + WORDS_CHUNK);
    let lo = 0;
    let hi = 0;
    let negatives = 0;
    for (let i = start; i < end; i++) {
      const high = words[2 * i + 1]!;
      lo += words[2 * i]!;
      hi += high;
      negatives += high >>> 31;
    }
    total += (BigInt(hi) << 32n) + BigInt(lo);
    if (signed) total -= BigInt(negatives) << 64n;
  }
  return total;
}

/**
 * The exact sum of squares. Each |v| < 2^64 is cut into three 22-bit limbs a0, a1, a2; then
 * v² = c0 + c1·2^22 + c2·2^44 + c3·2^66 + c4·2^88 with c0 = a0², c1 = 2·a0·a1,
 * c2 = a1² + 2·a0·a2, c3 = 2·a1·a2, c4 = a2², each below 2^45, so float64 sums of them over
 * SQUARES_CHUNK elements are exact. After a chunk, sums that reached FLUSH_AT are shifted into
 * place in the bigint total (small values rarely get there: no bigint work for them).
 */
export function sumOfSquares(values: BigIntArray): bigint {
  const words = wordsOf(values);
  const signed = values instanceof BigInt64Array;
  let total = 0n;
  let c0 = 0;
  let c1 = 0;
  let c2 = 0;
  let c3 = 0;
  let c4 = 0;
  for (let start = 0; start < values.length; start += SQUARES_CHUNK) {
    const end = Math.min(values.length, start + SQUARES_CHUNK);
    for (let i = start; i < end; i++) {
      let lo = words[2 * i]!;
      let hi = words[2 * i + 1]!;
      if (signed && hi >= 0x80000000) {
        // |v| of a negative int64: the two's complement of its words (2^63 for the minimum).
        lo = (TWO_32 - lo) % TWO_32;
        hi = (~hi + (lo === 0 ? 1 : 0)) >>> 0;
      }
      if (hi === 0 && lo <= LIMB_MASK) {
        c0 += lo * lo; // |v| < 2^22, the common case: one limb
        continue;
      }
      const a0 = lo & LIMB_MASK;
      const a1 = (lo >>> LIMB_BITS) | ((hi & 0xfff) << (32 - LIMB_BITS));
      const a2 = hi >>> (2 * LIMB_BITS - 32);
      c0 += a0 * a0;
      c1 += 2 * a0 * a1;
      c2 += a1 * a1 + 2 * a0 * a2;
      c3 += 2 * a1 * a2;
      c4 += a2 * a2;
    }
    // Not a closure: captured accumulators would live in a context object, several times slower.
    if (c0 >= FLUSH_AT || c1 >= FLUSH_AT || c2 >= FLUSH_AT || c3 >= FLUSH_AT || c4 >= FLUSH_AT || end === values.length) {
      total += BigInt(c0) + (BigInt(c1) << 22n) + (BigInt(c2) << 44n) + (BigInt(c3) << 66n) + (BigInt(c4) << 88n);
      c0 = c1 = c2 = c3 = c4 = 0;
    }
  }
  return total;
}

/**
 * The least (or greatest) element, or ±Infinity for an empty block. Words compare as unsigned
 * numbers, high word first; flipping the high word's top bit makes that order the signed order
 * for int64. The first of equal elements is kept.
 */
export function extremeOf(values: BigIntArray, greatest: boolean): bigint | number {
  const best = extremeIndexOf(values, greatest);
  if (best < 0) return greatest ? -Infinity : Infinity;
  return values[best]!;
}

/** The index of the first least (or greatest) element, -1 for an empty block. */
export function extremeIndexOf(values: BigIntArray, greatest: boolean): number {
  if (values.length === 0) return -1;
  const words = wordsOf(values);
  const flip = values instanceof BigInt64Array ? 0x80000000 : 0;
  let best = 0;
  let bestHi = (words[1]! ^ flip) >>> 0;
  let bestLo = words[0]!;
  if (greatest) {
    for (let i = 1; i < values.length; i++) {
      const hi = (words[2 * i + 1]! ^ flip) >>> 0;
      if (hi > bestHi || (hi === bestHi && words[2 * i]! > bestLo)) {
        best = i;
        bestHi = hi;
        bestLo = words[2 * i]!;
      }
    }
  } else {
    for (let i = 1; i < values.length; i++) {
      const hi = (words[2 * i + 1]! ^ flip) >>> 0;
      if (hi < bestHi || (hi === bestHi && words[2 * i]! < bestLo)) {
        best = i;
        bestHi = hi;
        bestLo = words[2 * i]!;
      }
    }
  }
  return best;
}
