import { InternalError } from '@sharc/protocol/core';
import { ownMemoryInstance } from '../../wasm/load-module.js';

/**
 * The histogram of float64 and float32 blocks as WebAssembly (wasm/generate-histogram.mjs): the
 * module counts into a memory of its own (one instance per thread), 16 KiB chunks of the block
 * copied in; the same counts as the JS loop (histogram.ts), which runs every other dtype and
 * more than MAX_BINS bins.
 */

/** The module memory's layout (as generate-histogram.mjs lays it out). */
const IN = 0;
const EDGES = 16384;
const COUNTS = 65536;
/** Input bytes per chunk. */
const CHUNK_BYTES = 16384;
/** Most bins the module's memory has room for (two tables of counts and the edges). */
export const WASM_HISTOGRAM_MAX_BINS = 4096;
/** Most elements of a block the module's i32 counts take without overflow (a longer block takes the JS loop). */
export const WASM_HISTOGRAM_MAX_ELEMENTS = 2 ** 32 - 2;

const MODULE_URL = new URL('../../../wasm/histogram.wasm', import.meta.url);

type HistogramFunction = (n: number, bins: number, scale: number) => void;
function module(): { exports: Record<string, unknown>; memory: ArrayBuffer } {
  const { exports, buffer } = ownMemoryInstance(MODULE_URL);
  return { exports, memory: buffer };
}

/**
 * Counts per bin of a float64 or float32 block over `edges` (at most WASM_HISTOGRAM_MAX_BINS
 * bins, fewer than WASM_HISTOGRAM_MAX_ELEMENTS elements: each i32 table counts half of them).
 */
export function wasmHistogram(values: Float64Array | Float32Array, edges: Float64Array): Float64Array {
  const { exports, memory } = module();
  const dtype = values instanceof Float64Array ? 'float64' : 'float32';
  const run = exports[`histogram_${dtype}`] as HistogramFunction | undefined;
  if (run === undefined) throw new InternalError(`the WebAssembly histogram module has no function histogram_${dtype}`);
  const bins = edges.length - 1;
  if (bins < 1 || bins > WASM_HISTOGRAM_MAX_BINS) throw new InternalError(`the WebAssembly histogram takes 1 to ${WASM_HISTOGRAM_MAX_BINS} bins, not ${bins}`);
  new Float64Array(memory, EDGES, bins + 1).set(edges);
  const tables = new Int32Array(memory, COUNTS, 2 * bins);
  tables.fill(0);
  const scale = bins / (edges[bins]! - edges[0]!);
  const bytes = values.BYTES_PER_ELEMENT;
  const chunk = CHUNK_BYTES / bytes;
  const source = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const target = new Uint8Array(memory, IN, CHUNK_BYTES);
  for (let start = 0; start < values.length; start += chunk) {
    const n = Math.min(chunk, values.length - start);
    target.set(source.subarray(start * bytes, (start + n) * bytes));
    run(n, bins, scale);
  }
  const counts = new Float64Array(bins);
  for (let k = 0; k < bins; k++) counts[k] = tables[k]! + tables[bins + k]!;
  return counts;
}
