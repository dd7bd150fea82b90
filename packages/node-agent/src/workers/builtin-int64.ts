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
/** Values with |v| below this square to less than 2^52, exact in float64. */
const SMALL = 2 ** 26;
/** A float accumulator of squares below 2^52 is flushed into the bigint total at this size. */
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

/** The exact sum of squares: small elements squared in float64 (exact), the others as bigints. */
export function sumOfSquares(values: BigIntArray): bigint {
  const words = wordsOf(values);
  const signed = values instanceof BigInt64Array;
  let total = 0n;
  let small = 0;
  for (let i = 0; i < values.length; i++) {
    const lo = words[2 * i]!;
    const hi = words[2 * i + 1]!;
    let v: number;
    if (hi === 0 && lo < SMALL) v = lo;
    else if (signed && hi === 0xffffffff && lo >= TWO_32 - SMALL) v = lo - TWO_32;
    else {
      const big = values[i]!;
      total += big * big;
      continue;
    }
    small += v * v;
    if (small >= FLUSH_AT) {
      total += BigInt(small);
      small = 0;
    }
  }
  return total + BigInt(small);
}

/**
 * The least (or greatest) element, or ±Infinity for an empty block. Words compare as unsigned
 * numbers; flipping the high word's top bit makes that order the signed order for int64.
 */
export function extremeOf(values: BigIntArray, greatest: boolean): bigint | number {
  if (values.length === 0) return greatest ? -Infinity : Infinity;
  const words = wordsOf(values);
  const flip = values instanceof BigInt64Array ? 0x80000000 : 0;
  const sign = greatest ? -1 : 1;
  let best = 0;
  let bestHi = (words[1]! ^ flip) >>> 0;
  let bestLo = words[0]!;
  for (let i = 1; i < values.length; i++) {
    const hi = (words[2 * i + 1]! ^ flip) >>> 0;
    const lo = words[2 * i]!;
    // sign · (element − best) < 0: a new minimum (or, with sign −1, a new maximum).
    const order = hi !== bestHi ? hi - bestHi : lo - bestLo;
    if (sign * order < 0) {
      best = i;
      bestHi = hi;
      bestLo = lo;
    }
  }
  return values[best]!;
}
