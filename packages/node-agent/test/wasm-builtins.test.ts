/**
 * The WebAssembly SIMD built-ins against the JS reference loops (builtin-kernels.ts,
 * builtin-int64.ts), for every dtype and reduction: random data with NaN, ±Inf, -0, at lengths
 * around the SIMD widths and at unaligned block starts; integers must match exactly, float sums
 * within rounding (the SIMD loops add in another, fixed order); exact 64-bit sums past 2^63;
 * numpy for a few cases; the same reductions on worker threads over a memory-backed partition.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  BUILTIN_REDUCTIONS,
  combineBuiltin,
  createLogger,
  finishBuiltin,
  identityOf,
  viewOf,
  type BuiltinPartial,
  type BuiltinReduction,
  type DType,
  type TypedArray,
} from '@sharc/protocol';
import { builtinReducer } from '../src/workers/builtin-kernels.js';
import { WorkerPool } from '../src/workers/pool.js';
import { reduceBuiltinBlocks } from '../src/workers/reduce-blocks.js';
import { builtinExports } from '../src/wasm/builtin-module.js';
import { wasmReducer } from '../src/wasm/wasm-reducers.js';
import { createSharedMemory, type WasmMemory } from '../src/wasm/wasm-api.js';
import { WASM_PAGE_BYTES } from '../src/wasm/memory-layout.js';

const DTYPES: DType[] = ['float64', 'float32', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'bool'];
const BYTES: Record<DType, number> = { float64: 8, float32: 4, int8: 1, uint8: 1, int16: 2, uint16: 2, int32: 4, uint32: 4, int64: 8, uint64: 8, bool: 1 };
const LENGTHS = [0, 1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 65, 127, 1000, 1001, 4099];

function rng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    // xorshift32: deterministic data, so a failure reproduces.
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

/** Random values of `dtype` into `values`, with the float specials sprinkled in when `specials`. */
function fill(values: TypedArray, dtype: DType, seed: number, specials: boolean): void {
  const next = rng(seed);
  for (let i = 0; i < values.length; i++) {
    const r = next();
    switch (dtype) {
      case 'float64':
      case 'float32': {
        const special = [NaN, Infinity, -Infinity, -0, 0];
        (values as Float64Array)[i] = specials && r < 0.01 ? special[Math.floor(next() * special.length)]! : (next() - 0.5) * 2000;
        break;
      }
      case 'int64':
      case 'uint64':
        (values as BigInt64Array)[i] = BigInt(Math.floor(next() * 2 ** 32)) * 2n ** 32n + BigInt(Math.floor(next() * 2 ** 32));
        break;
      case 'bool':
        (values as Uint8Array)[i] = r < 0.5 ? 0 : Math.floor(next() * 256);
        break;
      default:
        // Every bit pattern: the full range of each integer type.
        (values as Uint32Array)[i] = Math.floor(r * 2 ** 32);
    }
  }
}

/** A view of `length` elements at element `start` of a fresh shared memory. */
function inMemory(dtype: DType, start: number, length: number): { memory: WasmMemory; values: TypedArray } {
  const bytes = (start + length) * BYTES[dtype];
  const memory = createSharedMemory(Math.max(1, Math.ceil(bytes / WASM_PAGE_BYTES)));
  return { memory, values: viewOf(dtype, memory.buffer, start * BYTES[dtype], length) };
}

function isFloat(dtype: DType): boolean {
  return dtype === 'float64' || dtype === 'float32';
}

function exactSumsq(values: TypedArray): number {
  let exact = 0n;
  for (const v of values as Int32Array) exact += BigInt(v) * BigInt(v);
  return Number(exact);
}

/** Σ|x| or Σx² of the block: the scale of a float sum's rounding error. */
function magnitude(values: TypedArray, op: BuiltinReduction): number {
  let total = 0;
  for (const v of values as Float64Array) total += op === 'sumsq' ? v * v : Math.abs(v);
  return total;
}

/** Equal as a user of the result would check: floats within rounding (numpy's allclose spirit), the rest exactly; ±0 are equal. */
function assertSame(actual: BuiltinPartial, expected: BuiltinPartial, tolerance: number, label: string): void {
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), label);
    assertSame(actual[0], expected[0], tolerance, `${label} sum`);
    assert.equal(actual[1], expected[1], `${label} count`);
    return;
  }
  if (typeof expected === 'number' && Number.isNaN(expected)) {
    assert.ok(Number.isNaN(actual), `${label}: ${String(actual)} is not NaN`);
    return;
  }
  if (typeof expected === 'number' && typeof actual === 'number' && Number.isFinite(expected) && tolerance > 0) {
    assert.ok(Math.abs(actual - expected) <= tolerance, `${label}: ${actual} vs ${expected} (tolerance ${tolerance})`);
    return;
  }
  assert.equal(typeof actual, typeof expected, label);
  assert.ok(actual === expected, `${label}: ${String(actual)} !== ${String(expected)}`);
}

describe('WebAssembly built-ins equal the JS reference loops', () => {
  for (const dtype of DTYPES) {
    for (const specials of isFloat(dtype) ? [false, true] : [false]) {
      it(`${dtype}${specials ? ' with NaN, ±Inf, -0' : ''}: every reduction, every length, aligned and unaligned starts`, () => {
        for (const length of LENGTHS) {
          for (const start of [0, 1, 3]) {
            const { memory, values } = inMemory(dtype, start, length);
            fill(values, dtype, 1 + length * 7 + start, specials);
            const exports = builtinExports(memory);
            for (const op of BUILTIN_REDUCTIONS) {
              // The JS loop rounds each addition of int32 squares past 2^53; the SIMD sum is exact, rounded once.
              const expected = op === 'sumsq' && (dtype === 'int32' || dtype === 'uint32') ? exactSumsq(values) : builtinReducer(op, dtype)(values);
              const actual = wasmReducer(op, dtype)(exports, values);
              const tolerance = isFloat(dtype) && (op === 'sum' || op === 'sumsq' || op === 'mean') ? 1e-13 * magnitude(values, op) : 0;
              assertSame(actual, expected, tolerance, `${op} of ${length} ${dtype} at element ${start}`);
            }
          }
        }
      });
    }
  }

  it('gives the same float sums on every run (a fixed order, not the thread count)', () => {
    const { memory, values } = inMemory('float64', 1, 100_003);
    fill(values, 'float64', 42, false);
    const exports = builtinExports(memory);
    const first = wasmReducer('sum', 'float64')(exports, values);
    for (let run = 0; run < 5; run++) assert.ok(Object.is(wasmReducer('sum', 'float64')(exports, values), first));
  });

  it('propagates NaN in min and max wherever it is, also in the SIMD part', () => {
    for (const dtype of ['float64', 'float32'] as const) {
      for (const at of [0, 1, 5, 8, 31, 40]) {
        const { memory, values } = inMemory(dtype, 0, 41);
        fill(values, dtype, at, false);
        values[at] = NaN;
        const exports = builtinExports(memory);
        assert.ok(Number.isNaN(wasmReducer('min', dtype)(exports, values) as number), `${dtype} min, NaN at ${at}`);
        assert.ok(Number.isNaN(wasmReducer('max', dtype)(exports, values) as number), `${dtype} max, NaN at ${at}`);
        assert.ok(Number.isNaN(wasmReducer('sum', dtype)(exports, values) as number), `${dtype} sum, NaN at ${at}`);
      }
    }
  });

  it('sums 8- and 16-bit integers exactly across the 32-bit lane flushes', () => {
    const length = 3 * 4096 * 16 + 5;
    for (const dtype of ['int8', 'uint8', 'int16', 'uint16'] as const) {
      const { memory, values } = inMemory(dtype, 1, length);
      const extreme = { int8: -128, uint8: 255, int16: -32768, uint16: 65535 }[dtype];
      values.fill(extreme as never);
      const exports = builtinExports(memory);
      assert.equal(wasmReducer('sum', dtype)(exports, values), length * extreme, `${dtype} sum`);
      assert.equal(wasmReducer('sumsq', dtype)(exports, values), length * extreme * extreme, `${dtype} sumsq`);
    }
  });

  it('sums squares of int32 and uint32 exactly, rounded once (the JS loop rounds every addition past 2^53)', () => {
    for (const dtype of ['int32', 'uint32'] as const) {
      const { memory, values } = inMemory(dtype, 1, 10_001);
      fill(values, dtype, 5, false);
      if (dtype === 'int32') values[3] = -(2 ** 31);
      let exact = 0n;
      for (const v of values as Int32Array) exact += BigInt(v) * BigInt(v);
      assert.equal(wasmReducer('sumsq', dtype)(builtinExports(memory), values), Number(exact), dtype);
    }
  });

  it('sums int64 and uint64 exactly past 2^63 and gives min, max at the extremes', () => {
    const length = 2 ** 12 + 3;
    const INT64_MAX = 2n ** 63n - 1n;
    const INT64_MIN = -(2n ** 63n);
    const UINT64_MAX = 2n ** 64n - 1n;
    const signed = inMemory('int64', 1, length);
    const exports = builtinExports(signed.memory);
    const values = signed.values as BigInt64Array;
    values.fill(INT64_MAX);
    assert.equal(wasmReducer('sum', 'int64')(exports, values), BigInt(length) * INT64_MAX);
    values.fill(INT64_MIN);
    assert.equal(wasmReducer('sum', 'int64')(exports, values), BigInt(length) * INT64_MIN);
    values[17] = INT64_MAX;
    values[length - 1] = 0n;
    assert.equal(wasmReducer('max', 'int64')(exports, values), INT64_MAX);
    assert.equal(wasmReducer('min', 'int64')(exports, values), INT64_MIN);
    const unsigned = new BigUint64Array(values.buffer, values.byteOffset, length).fill(UINT64_MAX);
    assert.equal(wasmReducer('sum', 'uint64')(exports, unsigned), BigInt(length) * UINT64_MAX);
    unsigned[9] = 2n ** 63n;
    unsigned[length - 2] = 0n;
    assert.equal(wasmReducer('min', 'uint64')(exports, unsigned), 0n);
    assert.equal(wasmReducer('max', 'uint64')(exports, unsigned), UINT64_MAX);
    unsigned.fill(2n ** 63n);
    unsigned[4] = 2n ** 63n - 1n;
    assert.equal(wasmReducer('min', 'uint64')(exports, unsigned), 2n ** 63n - 1n, 'unsigned order across the sign bit');
  });
});

describe('WebAssembly built-ins against numpy', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-wasm-numpy-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const [dtype, specials] of [
    ['float64', true],
    ['float32', false],
    ['int16', false],
    ['uint32', false],
    ['bool', false],
  ] as const) {
    it(`${dtype}${specials ? ' with NaN, ±Inf' : ''}: sum, sumsq, min, max, mean as numpy`, async () => {
      const { memory, values } = inMemory(dtype, 3, 10_007);
      fill(values, dtype, 99, specials);
      if (dtype === 'bool') values.forEach((v, i) => ((values as Uint8Array)[i] = v === 0 ? 0 : 1));
      const file = path.join(dir, `${dtype}.bin`);
      await writeFile(file, new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
      const numpyDtype = dtype === 'bool' ? 'bool_' : dtype;
      // sharc accumulates float32 in float64: numpy's mean does so with dtype=float64.
      const script = `
import json, numpy as np
np.seterr(all='ignore')
a = np.fromfile(${JSON.stringify(file)}, dtype=np.${numpyDtype})
f = a.astype(np.float64)
print(json.dumps({k: (None if np.isnan(v) else float(v) if np.isfinite(v) else str(v)) for k, v in
  {'sum': f.sum(), 'sumsq': np.dot(f, f), 'min': a.min(), 'max': a.max(), 'mean': a.mean(dtype=np.float64)}.items()}))`;
      const expected = JSON.parse(execFileSync('/usr/bin/python3', ['-c', script], { encoding: 'utf8' })) as Record<string, number | string | null>;
      const exports = builtinExports(memory);
      for (const op of ['sum', 'sumsq', 'min', 'max', 'mean'] as const) {
        const actual = Number(finishBuiltin(op, wasmReducer(op, dtype)(exports, values)));
        const want = expected[op];
        if (want === null) assert.ok(Number.isNaN(actual), `${op}: ${actual}, numpy NaN`);
        else if (typeof want === 'string') assert.equal(actual, Number(want.replace('inf', 'Infinity')), op);
        else assert.ok(want !== undefined && Math.abs(actual - want) <= 1e-12 * Math.max(1, Math.abs(want)), `${op}: ${actual}, numpy ${want}`);
      }
    });
  }
});

describe('built-ins on worker threads over a partition in a WebAssembly.Memory', () => {
  let pool: WorkerPool;
  before(() => {
    pool = new WorkerPool({ threads: 2, threadHeapMb: 64, logger: createLogger('wasm test') });
  });
  after(async () => {
    await pool?.close();
  });

  for (const dtype of ['float64', 'float32', 'int8', 'int64', 'uint64', 'bool'] as const) {
    it(`${dtype}: partials per block, combined, equal the JS loops over the same bytes`, async () => {
      const rows = 3001;
      const cols = 3;
      const { memory, values } = inMemory(dtype, 0, rows * cols);
      fill(values, dtype, 12, isFloat(dtype));
      const view = { buffer: memory.buffer, memory, dtype, rowStart: 100, cols };
      const blocks = [
        { rowStart: 100, rowCount: 1001 },
        { rowStart: 1101, rowCount: 999 },
        { rowStart: 2100, rowCount: 1001 },
      ];
      for (const op of BUILTIN_REDUCTIONS) {
        const { partials } = await pool.run({ kind: 'reduce', kernel: { kind: 'builtin', op }, input: view, blocks, shape: [rows, cols], params: undefined });
        const expected = reduceBuiltinBlocks(op, { buffer: memory.buffer, dtype, rowStart: 100, cols }, blocks);
        assert.equal(partials.length, 3);
        const fold = (list: BuiltinPartial[]) => finishBuiltin(op, list.reduce((a, p) => combineBuiltin(op, a, p), identityOf(op, dtype)));
        const tolerance = isFloat(dtype) && op !== 'min' && op !== 'max' && op !== 'count' ? 1e-13 * magnitude(values, op === 'mean' ? 'sum' : op) : 0;
        assertSame(fold(partials as BuiltinPartial[]), fold(expected), tolerance, `${dtype} ${op}`);
      }
    });
  }
});
