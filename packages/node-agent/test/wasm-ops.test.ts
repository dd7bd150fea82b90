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
import { runWasmOp, wasmOpFor } from '../src/workers/ops/wasm-ops.js';

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
