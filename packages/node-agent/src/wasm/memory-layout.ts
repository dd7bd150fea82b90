/**
 * The layout of a partition held in a shared WebAssembly.Memory, named in one place:
 *
 *   byte 0                      the partition's rows (meta.byteLength bytes), element 0 first
 *   scratchOffset(byteLength)   SCRATCH_SLOTS slots of SCRATCH_SLOT_BYTES, aligned to SCRATCH_ALIGN:
 *                               slot k is worker thread k's (mod SCRATCH_SLOTS) scratch space for an
 *                               operation that needs room inside the memory (a second input's chunk,
 *                               an output chunk) while it runs; nothing is kept there between calls
 *   … to the end of the last page: unused
 *
 * The memory is `pages` WASM_PAGE_BYTES pages, the rounded size counts against the agent's
 * memory limit. A partition whose layout would pass WASM32_MAX_PAGES (4 GiB) is held in a plain
 * SharedArrayBuffer instead and reduced by the JS loops; so is one below MIN_WASM_PARTITION_BYTES,
 * where rounding up to pages and the scratch tail would cost more memory than the loops save time.
 */

/** WebAssembly's page size. */
export const WASM_PAGE_BYTES = 64 * 1024;
/** wasm32 addresses 4 GiB: 65,536 pages. */
export const WASM32_MAX_PAGES = 65_536;
/** Partitions smaller than this keep an exactly sized SharedArrayBuffer (JS loops; the reduce takes well under a millisecond). */
export const MIN_WASM_PARTITION_BYTES = 1024 * 1024;
/** Scratch starts on a cache line after the rows (and on a v128 boundary). */
export const SCRATCH_ALIGN = 64;
/** One worker thread's scratch space. */
export const SCRATCH_SLOT_BYTES = 16 * 1024;
/** Scratch slots per memory: thread k uses slot k mod SCRATCH_SLOTS. */
export const SCRATCH_SLOTS = 8;

export interface WasmPartitionLayout {
  /** Pages of the memory (initial = maximum: it never grows). */
  pages: number;
  /** pages × WASM_PAGE_BYTES: what the partition costs against the memory limit. */
  totalBytes: number;
  /** Where the scratch slots start. */
  scratchOffset: number;
}

/** The layout for a partition of `byteLength` bytes, or undefined when it stays a plain SharedArrayBuffer. */
export function wasmLayoutOf(byteLength: number): WasmPartitionLayout | undefined {
  if (byteLength < MIN_WASM_PARTITION_BYTES) return undefined;
  const scratchOffset = Math.ceil(byteLength / SCRATCH_ALIGN) * SCRATCH_ALIGN;
  const pages = Math.ceil((scratchOffset + SCRATCH_SLOTS * SCRATCH_SLOT_BYTES) / WASM_PAGE_BYTES);
  if (pages > WASM32_MAX_PAGES) return undefined;
  return { pages, totalBytes: pages * WASM_PAGE_BYTES, scratchOffset };
}

/** The byte offset of scratch slot `slot` for a partition of `byteLength` bytes. */
export function scratchSlotOffset(byteLength: number, slot: number): number {
  const layout = wasmLayoutOf(byteLength);
  if (layout === undefined) throw new RangeError(`a partition of ${byteLength} bytes has no WebAssembly memory, so no scratch space`);
  return layout.scratchOffset + (slot % SCRATCH_SLOTS) * SCRATCH_SLOT_BYTES;
}
