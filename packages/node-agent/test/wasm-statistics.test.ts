/**
 * The statistics' WebAssembly loops against their JS reference loops (workers/ops/), on data in
 * a shared WebAssembly.Memory as agents hold partitions: var/std moments of float64 and float32
 * blocks (plain, with NaN, with ±Inf, far from 0, empty, shorter than one vector, across several
 * of the sub-blocks WebAssembly merges, at unaligned offsets), equal to 1e-12 relative after finishing; argmin/argmax the same element exactly;
 * axis-0 sum/mean the same sums bit for bit; and reduceBuiltinBlocks picks WebAssembly
 * for a memory-backed partition and JS otherwise, with the same variance.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { finishOp, foldOp, type BuiltinKernel, type MomentsPartial } from '@sharc/protocol';
import { builtinExports } from '../src/wasm/builtin-module.js';
import { createSharedMemory } from '../src/wasm/wasm-api.js';
import { WASM_PAGE_BYTES } from '../src/wasm/memory-layout.js';
import { wasmStatistic } from '../src/wasm/wasm-statistics.js';
import { argBlockOp } from '../src/workers/ops/arg-extremes.js';
import { columnBlockOp } from '../src/workers/ops/columns.js';
import { momentsBlockOp } from '../src/workers/ops/moments.js';
import { reduceBuiltinBlocks } from '../src/workers/reduce-blocks.js';

function rng(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function close(actual: number, expected: number, what: string): void {
  if (!Number.isFinite(expected)) {
    assert.ok(Object.is(actual, expected) || (Number.isNaN(actual) && Number.isNaN(expected)), `${what}: ${actual} vs ${expected}`);
    return;
  }
  assert.ok(Math.abs(actual - expected) <= 1e-12 * Math.max(1, Math.abs(expected)), `${what}: ${actual} vs ${expected}`);
}

/** Neumaier's compensated sum of f(v) over the values. */
function compensatedSum(values: ArrayLike<number>, f: (v: number) => number): number {
  let sum = 0;
  let compensation = 0;
  for (let i = 0; i < values.length; i++) {
    const x = f(values[i]!);
    const t = sum + x;
    compensation += Math.abs(sum) >= Math.abs(x) ? sum - t + x : x - t + sum;
    sum = t;
  }
  return sum + compensation;
}

/** The population variance by the corrected two-pass algorithm over compensated sums. */
function preciseVariance(values: ArrayLike<number>): number {
  const n = values.length;
  const mean = compensatedSum(values, (v) => v) / n;
  const sd = compensatedSum(values, (v) => v - mean);
  return (compensatedSum(values, (v) => (v - mean) ** 2) - (sd * sd) / n) / n;
}

let trend = 0;
const CASES = [
  { label: 'plain', length: 10_001, value: (r: () => number) => (r() - 0.4) * 100 },
  { label: 'far from 0', length: 4099, value: (r: () => number) => 1e9 + r() * 3 },
  // Past the 128 KiB sub-blocks the WebAssembly loop merges (float64: 16384 elements each).
  { label: 'several sub-blocks', length: 100_003, value: (r: () => number) => (r() - 0.4) * 100 },
  { label: 'several sub-blocks far from 0', length: 70_001, value: (r: () => number) => 1e9 + r() * 3 },
  { label: 'several sub-blocks, NaN in the last', length: 70_001, value: (r: () => number) => (r() < 0.00002 ? NaN : r()) },
  { label: 'several sub-blocks, a trend', length: 70_001, value: (r: () => number) => (trend += 0.01) + r() },
  { label: 'several sub-blocks, constant', length: 70_001, value: () => 0.1 },
  { label: 'several sub-blocks, huge', length: 70_001, value: (r: () => number) => (r() - 0.5) * 1e154 },
  { label: 'with NaN', length: 777, value: (r: () => number) => (r() < 0.01 ? NaN : r()) },
  { label: 'with inf', length: 777, value: (r: () => number) => (r() < 0.01 ? Infinity : r()) },
  { label: 'shorter than a vector', length: 3, value: (r: () => number) => r() * 10 },
  { label: 'empty', length: 0, value: (r: () => number) => r() },
];

describe('statistics in WebAssembly equal the JS loops', () => {
  for (const dtype of ['float64', 'float32'] as const) {
    for (const { label, length, value } of CASES) {
      it(`${dtype} var/std moments, ${label}`, () => {
        const memory = createSharedMemory(Math.ceil((length * 8 + 64) / WASM_PAGE_BYTES) + 1);
        const bytes = dtype === 'float64' ? 8 : 4;
        const random = rng(length + 17);
        // Unaligned by one element too: blocks start wherever their rows do.
        for (const offsetElements of [0, 1]) {
          const values = dtype === 'float64' ? new Float64Array(memory.buffer, offsetElements * bytes, length) : new Float32Array(memory.buffer, offsetElements * bytes, length);
          for (let i = 0; i < length; i++) values[i] = value(random);
          const kernel: BuiltinKernel = { op: 'var', params: { ddof: 1 } };
          const wasmPartial = wasmStatistic(kernel, dtype, 1)!(builtinExports(memory), values, 0) as MomentsPartial;
          const jsPartial = momentsBlockOp(dtype)(values);
          assert.equal(wasmPartial[0], jsPartial[0]);
          for (const op of ['var', 'std'] as const) {
            const finish = (partial: MomentsPartial) => finishOp({ op, params: { ddof: 1 } }, partial, dtype) as number;
            close(finish(wasmPartial), finish(jsPartial), `${dtype} ${label} ${op} (offset ${offsetElements})`);
          }
        }
      });
    }
  }

  for (const dtype of ['float64', 'float32'] as const) {
    it(`${dtype} var/std read each sub-block once when the data is steady (one sum pass per block), twice where it drifts, matching the JS loop`, () => {
      const length = 200_000;
      const memory = createSharedMemory(Math.ceil((length * 8) / WASM_PAGE_BYTES) + 1);
      const exports = builtinExports(memory);
      let sumCalls = 0;
      const counting = { ...exports, [`sum_${dtype}`]: (...args: number[]) => (sumCalls++, (exports[`sum_${dtype}`] as (...a: number[]) => number)(...args)) };
      const random = rng(8);
      const values = dtype === 'float64' ? new Float64Array(memory.buffer, 0, length) : new Float32Array(memory.buffer, 0, length);
      const subBlocks = Math.ceil((length * values.BYTES_PER_ELEMENT) / (128 * 1024));
      for (const [label, value, expectedSums] of [
        ['steady, far from 0', (i: number) => 5e6 + random() * (i % 2 === 0 ? 1 : 2), 1],
        ['a drifting mean', (i: number) => i * 1e-2 + random(), subBlocks],
      ] as const) {
        for (let i = 0; i < length; i++) values[i] = value(i);
        sumCalls = 0;
        const partial = wasmStatistic({ op: 'var' }, dtype, 1)!(counting, values, 0) as MomentsPartial;
        assert.equal(sumCalls, expectedSums, `${dtype} ${label}: sum passes`);
        // Against compensated sums (to ~1e-16): on the steady float32 case the JS loop's plain
        // sums are themselves off by ~4e-12.
        close(finishOp({ op: 'var' }, partial, dtype) as number, preciseVariance(values), `${dtype} ${label} var`);
      }
    });
  }

  for (const dtype of ['float64', 'float32'] as const) {
    it(`${dtype} argmin/argmax find the same element as the JS loop: ties, NaN anywhere, ±Inf, every length up to 40 and long blocks`, () => {
      const memory = createSharedMemory(2);
      const bytes = dtype === 'float64' ? 8 : 4;
      const random = rng(99);
      const lengths = [...Array.from({ length: 41 }, (_, i) => i), 1000, 4097];
      for (const length of lengths) {
        for (const pattern of ['ties', 'nan', 'inf', 'plain', 'all inf'] as const) {
          for (const offsetElements of [0, 1]) {
            const values = dtype === 'float64' ? new Float64Array(memory.buffer, offsetElements * bytes, length) : new Float32Array(memory.buffer, offsetElements * bytes, length);
            for (let i = 0; i < length; i++) {
              const r = random();
              values[i] =
                pattern === 'ties' ? Math.floor(r * 4) : pattern === 'nan' && r < 0.05 ? NaN : pattern === 'inf' && r < 0.1 ? (r < 0.05 ? Infinity : -Infinity) : pattern === 'all inf' ? Infinity : r;
            }
            for (const op of ['argmin', 'argmax'] as const) {
              const inWasm = wasmStatistic({ op }, dtype, 1)!(builtinExports(memory), values, 7);
              const inJs = argBlockOp(op, dtype)(values, 7);
              assert.deepEqual(inWasm, inJs, `${dtype} ${op} ${pattern} length ${length} offset ${offsetElements}: [${Array.from(values).join(', ')}]`);
            }
          }
        }
      }
    });
  }

  for (const dtype of ['float64', 'float32'] as const) {
    it(`${dtype} argmin/argmax over many 16 KiB chunks find the JS loop's element: late NaN, new extremes late, ties and ±0 across chunks, monotonic runs, at the memory's end`, () => {
      const memory = createSharedMemory(5);
      const bytes = dtype === 'float64' ? 8 : 4;
      const random = rng(2024);
      const patterns: Record<string, (i: number, n: number) => number> = {
        plain: () => random() * 1000 - 500,
        decreasing: (i) => -i * 0.5,
        increasing: (i) => i * 0.25,
        'late NaN': (i, n) => (i === n - 3 ? NaN : random()),
        'NaN at a chunk start': (i) => (i === 4096 || i === 9000 ? NaN : random()),
        'extreme in the last element': (i, n) => (i === n - 1 ? -1e6 : i === n - 2 ? 1e6 : random()),
        'ties across chunks': (i) => (i % 3001 === 77 ? -5 : i % 2999 === 11 ? 5 : random()),
        'signed zeros': (i) => (i % 5000 === 1234 ? -0 : i % 4000 === 17 ? 0 : 1 + random()),
        'zeros then -0 later': (i) => (i < 3000 ? 0 : i === 20_000 ? -0 : random() + 1),
        'all equal': () => 3,
      };
      for (const length of [4095, 20_000, 33_333]) {
        for (const [pattern, value] of Object.entries(patterns)) {
          for (const place of ['start', 'unaligned', 'memory end'] as const) {
            const offset = place === 'start' ? 0 : place === 'unaligned' ? bytes : memory.buffer.byteLength - length * bytes;
            const values = dtype === 'float64' ? new Float64Array(memory.buffer, offset, length) : new Float32Array(memory.buffer, offset, length);
            for (let i = 0; i < length; i++) values[i] = value(i, length);
            for (const op of ['argmin', 'argmax'] as const) {
              const inWasm = wasmStatistic({ op }, dtype, 1)!(builtinExports(memory), values, 3);
              const inJs = argBlockOp(op, dtype)(values, 3);
              assert.deepEqual(inWasm, inJs, `${dtype} ${op} ${pattern} length ${length} at ${place}`);
            }
          }
        }
      }
    });
  }

  for (const dtype of ['float64', 'float32'] as const) {
    it(`${dtype} sum and mean along axis 0 give the JS loop's sums bit for bit, odd and even columns, NaN and ±Inf`, () => {
      const memory = createSharedMemory(4);
      const random = rng(5);
      for (const cols of [1, 2, 3, 7, 8, 64]) {
        for (const rows of [0, 1, 5, 333]) {
          const length = rows * cols;
          const values = dtype === 'float64' ? new Float64Array(memory.buffer, 8, length) : new Float32Array(memory.buffer, 4, length);
          for (let i = 0; i < length; i++) {
            const r = random();
            values[i] = r < 0.01 ? NaN : r < 0.02 ? -Infinity : (r - 0.5) * 1e3;
          }
          for (const op of ['sum', 'mean'] as const) {
            const kernel: BuiltinKernel = { op, params: { axis: 0 } };
            const inWasm = wasmStatistic(kernel, dtype, cols)!(builtinExports(memory), values, 0);
            assert.deepEqual(inWasm, columnBlockOp(op, dtype)(values, cols), `${dtype} ${op} ${rows}×${cols}`);
          }
        }
      }
      assert.equal(wasmStatistic({ op: 'sum', params: { axis: 0 } }, dtype, 65), undefined, 'wide arrays: the JS loop');
    });
  }

  it('reduceBuiltinBlocks runs var in WebAssembly on a memory-backed partition, JS without, with the same result', () => {
    const rows = 5000;
    const cols = 3;
    const memory = createSharedMemory(Math.ceil((rows * cols * 8) / WASM_PAGE_BYTES) + 1);
    const values = new Float64Array(memory.buffer, 0, rows * cols);
    const random = rng(3);
    for (let i = 0; i < values.length; i++) values[i] = 1e6 + random() * 10;
    const blocks = [
      { rowStart: 0, rowCount: 1700 },
      { rowStart: 1700, rowCount: 1 },
      { rowStart: 1701, rowCount: 3299 },
    ];
    const kernel: BuiltinKernel = { op: 'std' };
    const view = { buffer: memory.buffer, dtype: 'float64' as const, rowStart: 0, cols };
    const inWasm = finishOp(kernel, foldOp(kernel, 'float64', cols, reduceBuiltinBlocks(kernel, { ...view, memory }, blocks)), 'float64') as number;
    const inJs = finishOp(kernel, foldOp(kernel, 'float64', cols, reduceBuiltinBlocks(kernel, view, blocks)), 'float64') as number;
    close(inWasm, inJs, 'std over three blocks');
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    close(inJs, Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length), 'std of the whole');
  });
});
