import { InternalError, type BuiltinMap, type BuiltinMapParams, type DType, type TypedArray } from '@sharc/protocol/core';
import { ownMemoryInstance } from '../../wasm/load-module.js';

/**
 * The hot elementwise built-ins as WebAssembly SIMD (wasm/generate-ops.mjs): astype between
 * float64 and float32, scale of float64/float32, add/sub/mul/div of two float64 or two float32
 * arrays. The output is another partition, which the module cannot address in place, so it
 * runs over a 64 KiB memory of its own (one instance per thread): chunks of the input (and of
 * the second input) are copied in, the op runs, the output chunk is copied out. The chunks stay
 * in cache, so the copies cost little beside the memory traffic; and nothing in a
 * partition's memory is shared between threads. Results equal the JS loops' (elementwise.ts),
 * which stay the reference and run every other combination.
 */

/** The module memory's layout (as generate-ops.mjs lays it out). */
const IN = 0;
const B = 16384;
const OUT = 32768;
/** Input bytes per chunk: 16 KiB (the output may be twice that: float32 → float64). */
const CHUNK_BYTES = 16384;

const MODULE_URL = new URL('../../../wasm/ops.wasm', import.meta.url);

type OpsFunction = (n: number, ...scalars: number[]) => void;
/** This thread's instance; its memory as bytes, made once (the memory never grows). */
let instance: { exports: Record<string, unknown>; memory: Uint8Array } | undefined;

function ops(): { exports: Record<string, unknown>; memory: Uint8Array } {
  if (instance !== undefined) return instance;
  const { exports, buffer } = ownMemoryInstance(MODULE_URL);
  instance = { exports, memory: new Uint8Array(buffer) };
  return instance;
}

/** The module's function for an op over these dtypes, and its scalar arguments; undefined when the JS loops run it. */
export function wasmOpFor(op: BuiltinMap, params: unknown, from: DType, other: DType | undefined, to: DType): { name: string; scalars: number[] } | undefined {
  const float = from === 'float64' || from === 'float32';
  switch (op) {
    case 'astype':
      return float && (to === 'float64' || to === 'float32') && to !== from ? { name: `astype_${from}_${to}`, scalars: [] } : undefined;
    case 'scale': {
      if (!float || to !== from) return undefined;
      const { factor, offset } = params as BuiltinMapParams['scale'];
      return offset === 0 ? { name: `scalemul_${from}`, scalars: [factor] } : { name: `scale_${from}`, scalars: [factor, offset] };
    }
    case 'add':
    case 'sub':
    case 'mul':
    case 'div':
      return float && other === from && to === from ? { name: `${op}_${from}`, scalars: [] } : undefined;
    default:
      return undefined;
  }
}

/** Runs module function `name` over `a` (and `b`) into `o`, chunk by chunk. */
export function runWasmOp(name: string, scalars: readonly number[], a: TypedArray, b: TypedArray | undefined, o: TypedArray): void {
  const { exports, memory } = ops();
  const run = exports[name] as OpsFunction | undefined;
  if (run === undefined) throw new InternalError(`the WebAssembly ops module has no function ${name}`);
  const inBytes = a.BYTES_PER_ELEMENT;
  const outBytes = o.BYTES_PER_ELEMENT;
  const chunk = CHUNK_BYTES / inBytes;
  const source = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const second = b === undefined ? undefined : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  const target = new Uint8Array(o.buffer, o.byteOffset, o.byteLength);
  for (let start = 0; start < a.length; start += chunk) {
    const n = Math.min(chunk, a.length - start);
    memory.set(source.subarray(start * inBytes, (start + n) * inBytes), IN);
    if (second !== undefined) memory.set(second.subarray(start * inBytes, (start + n) * inBytes), B);
    run(n, ...scalars);
    target.set(memory.subarray(OUT, OUT + n * outBytes), start * outBytes);
  }
}

/**
 * Whether `dot` of these dtypes runs as WebAssembly (dotWasm): two float32 arrays. The module
 * cannot read two partition memories in place, so both blocks are copied through its memory;
 * for float32 it still beats the JS loop (which converts each element) by about 1.5× over
 * 2 × 512 MiB, but float64 dot is memory bound and the JS loop already reads at the memory's
 * speed: there the copies made the WebAssembly path no faster (measured in the README), so
 * dot_float64 is kept (tested, wasm-ops.test.ts) but not used.
 */
export function wasmDotFor(typeA: DType, typeB: DType): boolean {
  return typeA === 'float32' && typeB === 'float32';
}

/**
 * Σ a[i]·b[i] of two float64 or two float32 blocks in float64 (float32 widened first), as module function dot_D: chunks of both
 * arrays are copied in side by side (IN and B) and each chunk's sum, taken in the module's fixed
 * order, is added to the total in chunk order, so the result depends on nothing but the data.
 */
export function dotWasm(a: Float64Array | Float32Array, b: Float64Array | Float32Array): number {
  const { exports, memory } = ops();
  const dtype = a instanceof Float64Array ? 'float64' : 'float32';
  const run = exports[`dot_${dtype}`] as ((n: number) => number) | undefined;
  if (run === undefined) throw new InternalError(`the WebAssembly ops module has no function dot_${dtype}`);
  if (b.length !== a.length || b.BYTES_PER_ELEMENT !== a.BYTES_PER_ELEMENT) throw new InternalError('dot of blocks of different lengths or dtypes');
  const bytes = a.BYTES_PER_ELEMENT;
  const chunk = CHUNK_BYTES / bytes;
  const first = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const second = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  let total = 0;
  for (let start = 0; start < a.length; start += chunk) {
    const n = Math.min(chunk, a.length - start);
    memory.set(first.subarray(start * bytes, (start + n) * bytes), IN);
    memory.set(second.subarray(start * bytes, (start + n) * bytes), B);
    total += run(n);
  }
  return total;
}
