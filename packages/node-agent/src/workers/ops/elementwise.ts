import type { BinaryMap, BuiltinMapParams, DType, TypedArray } from '@sharc/protocol/core';
import { INTEGER_RANGE, TWO_32, compiledLoop, is64BitInteger, isFloat, readBigInt, readNumber, wordViews } from './compile.js';

/**
 * Elementwise built-ins over one block: `o[i] = f(a[i])` or `o[i] = a[i] op b[i]`, the output
 * dtype decided by builtinMapOutput (@sharc/protocol). Semantics are numpy's; where numpy leaves
 * a result undefined (NaN or out-of-range float → integer), ours is written in builtin-maps.ts.
 */

/** `o = a.astype(o's dtype)`. */
export function astypeBlock(a: TypedArray, from: DType, o: TypedArray, to: DType): void {
  if (from === to || (is64BitInteger(from) && is64BitInteger(to))) {
    // Same bytes (int64 ↔ uint64 reinterpret, as numpy's wrap-around cast does).
    new Uint8Array(o.buffer, o.byteOffset, o.byteLength).set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    return;
  }
  compiledLoop(`astype:${from}:${to}`, () => astypeSource(from, to))(a, undefined, o, a.length, undefined);
}

function astypeSource(from: DType, to: DType): string {
  const read = readNumber('a', from, 'i');
  const head = `${wordViews('a', from)}`;
  if (isFloat(to)) return `${head} for (let i = 0; i < n; i++) o[i] = ${read};`;
  if (to === 'bool') return `${head} for (let i = 0; i < n; i++) o[i] = ${read} !== 0 ? 1 : 0;`;
  if (is64BitInteger(to)) {
    const words = 'const ow = new Uint32Array(o.buffer, o.byteOffset, o.length * 2);';
    // Integer sources fit a float64 exactly (≤ 32 bits); floats are truncated and saturated.
    const value = isFloat(from) ? saturatedTruncation(to) : `const t = ${read};`;
    return `${head} ${words} for (let i = 0; i < n; i++) { ${value} const hi = Math.floor(t / ${TWO_32}); ow[2 * i] = t - hi * ${TWO_32}; ow[2 * i + 1] = hi; }`;
  }
  // An integer of up to 32 bits.
  if (is64BitInteger(from)) return `${head} for (let i = 0; i < n; i++) o[i] = aw[2 * i];`; // the low word: numpy wraps
  if (!isFloat(from)) return `for (let i = 0; i < n; i++) o[i] = a[i];`; // the typed array's store wraps, as numpy does
  const [min, max] = INTEGER_RANGE[to]!;
  // Storing a float in range truncates toward zero (ToInt32 and friends).
  return `for (let i = 0; i < n; i++) { const v = a[i]; o[i] = v !== v ? 0 : v <= ${min} ? ${min} : v >= ${max} ? ${max} : v; }`;
}

/** Sets `t`: a float `v = a[i]` truncated toward zero; NaN and values past the 64-bit integer's bounds are written (saturated, NaN → 0) and skipped. */
function saturatedTruncation(to: DType): string {
  const [low, high] = to === 'int64' ? ['v >= -9223372036854775808', 'v < 9223372036854775808'] : ['v > -1', 'v < 18446744073709551616'];
  const [maxHi, minHi] = to === 'int64' ? ['0x7fffffff', '0x80000000'] : ['0xffffffff', '0'];
  return (
    `const v = a[i]; if (!(${low} && ${high})) { ` +
    `if (v !== v) { ow[2 * i] = 0; ow[2 * i + 1] = 0; } else if (v > 0) { ow[2 * i] = 0xffffffff; ow[2 * i + 1] = ${maxHi}; } else { ow[2 * i] = 0; ow[2 * i + 1] = ${minHi}; } ` +
    `continue; } const t = Math.trunc(v);`
  );
}

/** `o = a * factor + offset`, in the output's float dtype (float32: each step rounded to float32, as numpy). */
export function scaleBlock(a: TypedArray, from: DType, o: TypedArray, to: DType, params: BuiltinMapParams['scale']): void {
  const withOffset = params.offset !== 0;
  compiledLoop(`scale:${from}:${to}:${withOffset}`, () => {
    const read = readNumber('a', from, 'i');
    const head = `${wordViews('a', from)} const x = ${to === 'float32' ? 'Math.fround(p.factor)' : 'p.factor'}; const c = ${to === 'float32' ? 'Math.fround(p.offset)' : 'p.offset'};`;
    const product = to === 'float32' ? `Math.fround(${read} * x)` : `${read} * x`;
    return `${head} for (let i = 0; i < n; i++) o[i] = ${product}${withOffset ? ' + c' : ''};`;
  })(a, undefined, o, a.length, params);
}

/** `o = min(max(a, lo), hi)` in the input's dtype (numpy's order: lo > hi gives hi everywhere). */
export function clipBlock(a: TypedArray, dtype: DType, o: TypedArray, params: BuiltinMapParams['clip']): void {
  const bounds = clipBounds(dtype, params);
  compiledLoop(`clip:${dtype}`, () => {
    return `const lo = p.lo; const hi = p.hi; for (let i = 0; i < n; i++) { const v = a[i]; const t = v < lo ? lo : v; o[i] = t > hi ? hi : t; }`;
  })(a, undefined, o, a.length, bounds);
}

/**
 * The bounds in the array's own terms: float32 bounds rounded to float32 (numpy casts a Python
 * float to the array's dtype); integer bounds rounded inward (the integers inside [lo, hi]) and
 * held to the dtype's range; 64-bit ones as bigints.
 */
function clipBounds(dtype: DType, params: BuiltinMapParams['clip']): { lo: number | bigint; hi: number | bigint } {
  if (isFloat(dtype)) {
    const lo = params.lo === undefined ? -Infinity : Number(params.lo);
    const hi = params.hi === undefined ? Infinity : Number(params.hi);
    return dtype === 'float32' ? { lo: Math.fround(lo), hi: Math.fround(hi) } : { lo, hi };
  }
  if (is64BitInteger(dtype)) {
    const [min, max] = dtype === 'int64' ? [-(2n ** 63n), 2n ** 63n - 1n] : [0n, 2n ** 64n - 1n];
    const inward = (value: number | bigint | undefined, up: boolean, fallback: bigint): bigint => {
      if (value === undefined) return fallback;
      if (typeof value === 'bigint') return value;
      if (!Number.isFinite(value)) return value > 0 ? max : min;
      return BigInt(up ? Math.ceil(value) : Math.floor(value));
    };
    const clamp = (value: bigint) => (value < min ? min : value > max ? max : value);
    return { lo: clamp(inward(params.lo, true, min)), hi: clamp(inward(params.hi, false, max)) };
  }
  const [min, max] = INTEGER_RANGE[dtype]!;
  const inward = (value: number | bigint | undefined, up: boolean, fallback: number): number => {
    if (value === undefined) return fallback;
    const number = Number(value);
    return up ? Math.ceil(number) : Math.floor(number);
  };
  const clamp = (value: number) => Math.min(max, Math.max(min, value));
  return { lo: clamp(inward(params.lo, true, min)), hi: clamp(inward(params.hi, false, max)) };
}

/** `o = |a|` in the input's dtype (the most negative integer wraps to itself, as numpy). */
export function absBlock(a: TypedArray, dtype: DType, o: TypedArray): void {
  compiledLoop(`abs:${dtype}`, () => {
    if (isFloat(dtype)) return 'for (let i = 0; i < n; i++) o[i] = Math.abs(a[i]);';
    if (dtype === 'int64') return 'for (let i = 0; i < n; i++) { const v = a[i]; o[i] = v < 0n ? -v : v; }';
    if (dtype === 'int8' || dtype === 'int16' || dtype === 'int32') return 'for (let i = 0; i < n; i++) { const v = a[i]; o[i] = v < 0 ? -v : v; }';
    return 'o.set(a);'; // unsigned and bool
  })(a, undefined, o, a.length, undefined);
}

/** `o = sqrt(a)` in float64 (float32 for float32: rounded once from float64, which is exact rounding). */
export function sqrtBlock(a: TypedArray, from: DType, o: TypedArray): void {
  compiledLoop(`sqrt:${from}`, () => `${wordViews('a', from)} for (let i = 0; i < n; i++) o[i] = Math.sqrt(${readNumber('a', from, 'i')});`)(
    a,
    undefined,
    o,
    a.length,
    undefined,
  );
}

/**
 * `o = a op b` elementwise, `o` of the promoted dtype. Integer results wrap as numpy's do: each
 * is computed exactly (in float64 when it fits 53 bits, with Math.imul for 32-bit products,
 * in bigints for 64-bit outputs) and the typed array's store wraps it.
 */
export function binaryBlock(op: BinaryMap, a: TypedArray, typeA: DType, b: TypedArray, typeB: DType, o: TypedArray, to: DType): void {
  compiledLoop(`${op}:${typeA}:${typeB}:${to}`, () => binarySource(op, typeA, typeB, to))(a, b, o, a.length, undefined);
}

const OPERATORS: Record<BinaryMap, string> = { add: '+', sub: '-', mul: '*', div: '/' };

function binarySource(op: BinaryMap, typeA: DType, typeB: DType, to: DType): string {
  if (to === 'bool') {
    // bool with bool: + is or, * is and (numpy's logical results).
    return `for (let i = 0; i < n; i++) o[i] = a[i] ${op === 'add' ? '|' : '&'} b[i];`;
  }
  if (is64BitInteger(to)) {
    return `for (let i = 0; i < n; i++) o[i] = ${readBigInt('a', typeA, 'i')} ${OPERATORS[op]} ${readBigInt('b', typeB, 'i')};`;
  }
  const head = `${wordViews('a', typeA)} ${wordViews('b', typeB)}`;
  const x = readNumber('a', typeA, 'i');
  const y = readNumber('b', typeB, 'i');
  if (op === 'mul' && (to === 'int32' || to === 'uint32')) return `${head} for (let i = 0; i < n; i++) o[i] = Math.imul(${x}, ${y});`;
  return `${head} for (let i = 0; i < n; i++) o[i] = ${x} ${OPERATORS[op]} ${y};`;
}
