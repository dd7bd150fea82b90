/**
 * The WebAssembly SIMD elementwise ops (workers/ops/wasm-ops.ts) give exactly what the JS
 * reference loops give (workers/ops/elementwise.ts), element for element (NaN for NaN, -0 for
 * -0), over lengths around the SIMD step and the 16 KiB chunk, with NaN, ±Inf, -0, subnormals
 * and values past float32's range.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BinaryMap, DType, TypedArray } from '@sharc/protocol/core';
import { astypeBlock, binaryBlock, scaleBlock } from '../src/workers/ops/elementwise.js';
import { dotBlock } from '../src/workers/ops/rows.js';
import { dotWasm, runWasmOp, wasmDotFor, wasmOpFor } from '../src/workers/ops/wasm-ops.js';

const LENGTHS = [0, 1, 3, 4, 7, 8, 9, 2047, 2048, 2049, 4095, 4096, 4097, 10_001];
const SPECIALS = [Number.NaN, Infinity, -Infinity, -0, 0, 5e-324, -1e-310, 3.5e38, -3.5e38, 1e300, 0.1, 1 / 3, 16777217];

function data(dtype: 'float64' | 'float32', length: number, seed: number): Float64Array | Float32Array {
  const values = dtype === 'float64' ? new Float64Array(new SharedArrayBuffer(length * 8)) : new Float32Array(new SharedArrayBuffer(length * 4));
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    values[i] = i % 5 === 0 ? SPECIALS[(i / 5) % SPECIALS.length]! : (x / 2 ** 31 - 0.5) * 10 ** ((x % 9) - 3);
  }
  return values;
}

function same(wasm: TypedArray, js: TypedArray, label: string): void {
  assert.equal(wasm.length, js.length, label);
  for (let i = 0; i < js.length; i++) {
    if (!Object.is(wasm[i], js[i]) && !(Number.isNaN(wasm[i]) && Number.isNaN(js[i]))) assert.fail(`${label}: element ${i} is ${String(wasm[i])}, the JS loop gives ${String(js[i])}`);
  }
}

const outputOf = (dtype: DType, length: number): Float64Array | Float32Array =>
  dtype === 'float64' ? new Float64Array(new SharedArrayBuffer(length * 8)) : new Float32Array(new SharedArrayBuffer(length * 4));

describe('WebAssembly elementwise ops equal the JS loops', () => {
  it('astype between float64 and float32', () => {
    for (const length of LENGTHS) {
      for (const [from, to] of [['float64', 'float32'], ['float32', 'float64']] as const) {
        const a = data(from, length, length + 1);
        const simd = wasmOpFor('astype', { dtype: to }, from, undefined, to)!;
        const [wasm, js] = [outputOf(to, length), outputOf(to, length)];
        runWasmOp(simd.name, simd.scalars, a, undefined, wasm);
        astypeBlock(a, from, js, to);
        same(wasm, js, `astype ${from} → ${to}, ${length} elements`);
      }
    }
  });

  it('scale with and without an offset (float32 rounded at each step)', () => {
    for (const length of LENGTHS) {
      for (const dtype of ['float64', 'float32'] as const) {
        for (const params of [{ factor: 2.5, offset: -1.25 }, { factor: -3, offset: 0 }, { factor: 0.1, offset: 1e-7 }]) {
          const a = data(dtype, length, length + 7);
          const simd = wasmOpFor('scale', params, dtype, undefined, dtype)!;
          const [wasm, js] = [outputOf(dtype, length), outputOf(dtype, length)];
          runWasmOp(simd.name, simd.scalars, a, undefined, wasm);
          scaleBlock(a, dtype, js, dtype, params);
          same(wasm, js, `scale ${dtype} ${JSON.stringify(params)}, ${length} elements`);
        }
      }
    }
  });

  it('add, sub, mul, div of two float64 or two float32 arrays', () => {
    for (const length of LENGTHS) {
      for (const dtype of ['float64', 'float32'] as const) {
        for (const op of ['add', 'sub', 'mul', 'div'] as BinaryMap[]) {
          const [a, b] = [data(dtype, length, length + 3), data(dtype, length, length * 7 + 11)];
          const simd = wasmOpFor(op, undefined, dtype, dtype, dtype)!;
          const [wasm, js] = [outputOf(dtype, length), outputOf(dtype, length)];
          runWasmOp(simd.name, simd.scalars, a, b, wasm);
          binaryBlock(op, a, dtype, b, dtype, js, dtype);
          same(wasm, js, `${op} ${dtype}, ${length} elements`);
        }
      }
    }
  });

  it('leaves every other combination to the JS loops', () => {
    assert.equal(wasmOpFor('astype', { dtype: 'int32' }, 'float64', undefined, 'int32'), undefined);
    assert.equal(wasmOpFor('add', undefined, 'float64', 'float32', 'float64'), undefined);
    assert.equal(wasmOpFor('scale', { factor: 2, offset: 0 }, 'int16', undefined, 'float64'), undefined);
    assert.equal(wasmOpFor('clip', { lo: 0 }, 'float64', undefined, 'float64'), undefined);
  });
});

/**
 * The documented order of dot_D, in JS: per 16 KiB chunk, products of element i of the vector
 * part into lane i mod 8, lanes folded ((a0 + a1) + (a2 + a3)), lane 0 + lane 1, then the last
 * n mod 8 products; the chunks' sums added in order.
 */
function dotInModuleOrder(a: Float64Array | Float32Array, b: Float64Array | Float32Array): number {
  const chunk = 16384 / a.BYTES_PER_ELEMENT;
  let total = 0;
  for (let start = 0; start < a.length; start += chunk) {
    const n = Math.min(chunk, a.length - start);
    const lanes = new Float64Array(8);
    const whole = n - (n % 8);
    for (let i = 0; i < whole; i++) lanes[i % 8] = lanes[i % 8]! + a[start + i]! * b[start + i]!;
    // a0 holds elements 0-1 of each step, a1 2-3, a2 4-5, a3 6-7.
    const v0 = lanes[0]! + lanes[2]!;
    const v1 = lanes[1]! + lanes[3]!;
    const w0 = lanes[4]! + lanes[6]!;
    const w1 = lanes[5]! + lanes[7]!;
    let s = (v0 + w0) + (v1 + w1);
    for (let i = whole; i < n; i++) s += a[start + i]! * b[start + i]!;
    total += s;
  }
  return total;
}

describe('WebAssembly dot equals the JS loop', () => {
  const DOT_LENGTHS = [...LENGTHS, 16_384, 100_003];

  it('gives exactly the documented order, and the JS loop within rounding, for float64 and float32', () => {
    for (const length of DOT_LENGTHS) {
      for (const dtype of ['float64', 'float32'] as const) {
        // Finite values only here: specials below.
        const [a, b] = [data(dtype, length, length + 5), data(dtype, length, length * 3 + 1)].map((x) => {
          for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i]!) || Math.abs(x[i]!) > 1e30) x[i] = 0.5 - (i % 3);
          return x;
        }) as [Float64Array | Float32Array, Float64Array | Float32Array];
        const wasm = dotWasm(a, b);
        const label = `dot ${dtype}, ${length} elements`;
        assert.ok(Object.is(wasm, dotInModuleOrder(a, b)), `${label}: ${wasm} is not the module order's ${dotInModuleOrder(a, b)}`);
        const js = dotBlock(a, dtype, b, dtype);
        let magnitude = 0;
        for (let i = 0; i < length; i++) magnitude += Math.abs(a[i]! * b[i]!);
        assert.ok(Math.abs(wasm - js) <= 2 * length * Number.EPSILON * magnitude, `${label}: ${wasm}, the JS loop gives ${js}`);
      }
    }
  });

  it('equals the JS loop exactly where every sum is exact (integers), and propagates NaN and infinities as it does', () => {
    for (const length of DOT_LENGTHS) {
      for (const dtype of ['float64', 'float32'] as const) {
        const make = (f: (i: number) => number) => {
          const x = dtype === 'float64' ? new Float64Array(length) : new Float32Array(length);
          for (let i = 0; i < length; i++) x[i] = f(i);
          return x;
        };
        const a = make((i) => (i % 17) - 8);
        const b = make((i) => (i % 5) * 3 - 1);
        assert.equal(dotWasm(a, b), dotBlock(a, dtype, b, dtype), `dot ${dtype}, ${length} integer elements`);
        if (length === 0) continue;
        for (const [special, at] of [[Number.NaN, length - 1], [Infinity, 0], [-Infinity, Math.floor(length / 2)]] as const) {
          const withSpecial = make((i) => (i === at ? special : 1));
          const wasm = dotWasm(withSpecial, b.map(() => 2) as typeof b);
          const js = dotBlock(withSpecial, dtype, b.map(() => 2), dtype);
          assert.ok(Object.is(wasm, js), `dot ${dtype}, ${length} elements with ${special} at ${at}: ${wasm}, the JS loop gives ${js}`);
        }
        const both = make((i) => (i === 0 ? Infinity : i === length - 1 ? -Infinity : 1));
        if (length > 1) assert.ok(Number.isNaN(dotWasm(both, make(() => 1))), 'inf + -inf is NaN');
      }
    }
  });

  it('runs float32 dot as WebAssembly and leaves float64 (memory bound: no faster with the copies) and other pairs to the JS loop', () => {
    assert.equal(wasmDotFor('float32', 'float32'), true);
    assert.equal(wasmDotFor('float64', 'float64'), false);
    assert.equal(wasmDotFor('float64', 'float32'), false);
    assert.equal(wasmDotFor('int32', 'int32'), false);
  });
});
