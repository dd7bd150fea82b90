import type { DType, TypedArray } from '@sharc/protocol/core';

/**
 * The loops of the built-in operations are generated, one per (op, dtypes) combination, and
 * compiled once: a shared loop fed several typed-array classes goes megamorphic in V8 and runs
 * several times slower (see builtin-kernels.ts). Every piece of generated source comes from the
 * fixed tables of this folder, never from input; numbers from parameters arrive as arguments.
 *
 * A compiled loop is `(a, b, o, n, p)`: `a` (and `b`, for two inputs) the input elements, `o`
 * the output, `n` the number of elements (or rows), `p` the op's parameters.
 */
export type Loop = (a: TypedArray, b: TypedArray | undefined, o: TypedArray | undefined, n: number, p: unknown) => unknown;

const compiled = new Map<string, Loop>();

export function compiledLoop(key: string, build: () => string): Loop {
  let loop = compiled.get(key);
  if (loop === undefined) {
    loop = new Function('a', 'b', 'o', 'n', 'p', build()) as Loop;
    compiled.set(key, loop);
  }
  return loop;
}

/** 2^32, to join the two 32-bit words of a 64-bit integer. */
export const TWO_32 = '4294967296';

/**
 * Declarations the loop needs to read operand `name` of `dtype` as numbers: 64-bit integers
 * are read as two 32-bit words (a BigInt64Array element would allocate a bigint each).
 */
export function wordViews(name: string, dtype: DType): string {
  if (dtype !== 'int64' && dtype !== 'uint64') return '';
  return `const ${name}w = new Uint32Array(${name}.buffer, ${name}.byteOffset, ${name}.length * 2); const ${name}s = new Int32Array(${name}.buffer, ${name}.byteOffset, ${name}.length * 2);`;
}

/**
 * An expression reading element `index` of operand `name` as a number. A 64-bit integer is
 * hi · 2^32 + lo: the product is exact and the sum rounds once, so the result is the float64
 * nearest the integer (what numpy's cast gives).
 */
export function readNumber(name: string, dtype: DType, index: string): string {
  if (dtype === 'int64') return `(${name}s[2 * (${index}) + 1] * ${TWO_32} + ${name}w[2 * (${index})])`;
  if (dtype === 'uint64') return `(${name}w[2 * (${index}) + 1] * ${TWO_32} + ${name}w[2 * (${index})])`;
  return `${name}[${index}]`;
}

/** An expression reading element `index` of operand `name` as a bigint (for 64-bit integer arithmetic). */
export function readBigInt(name: string, dtype: DType, index: string): string {
  return dtype === 'int64' || dtype === 'uint64' ? `${name}[${index}]` : `BigInt(${name}[${index}])`;
}

export function isFloat(dtype: DType): boolean {
  return dtype === 'float64' || dtype === 'float32';
}

export function is64BitInteger(dtype: DType): boolean {
  return dtype === 'int64' || dtype === 'uint64';
}

/** The range of an integer dtype of up to 32 bits (bool: 0..1). */
export const INTEGER_RANGE: Partial<Record<DType, readonly [number, number]>> = {
  int8: [-128, 127],
  uint8: [0, 255],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
  bool: [0, 1],
};
