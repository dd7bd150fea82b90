/**
 * The layout of a partition held in a shared WebAssembly.Memory, named in one place:
 *
 *   0                    the partition's rows (meta.byteLength bytes), element 0 first
 *   scratchOffset        SCRATCH_SLOTS int32 claim flags (0 free, 1 taken), SCRATCH_ALIGN bytes in all
 *   + SCRATCH_ALIGN      SCRATCH_SLOTS slots of SCRATCH_SLOT_BYTES: room inside the memory for an
 *                        operation that needs it while it runs (a chunk of a second input or of an
 *                        output, copied in or out); a caller holds a slot through `withScratch`
 *                        (scratch.ts), nothing is kept there between calls
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
  /** Where the scratch region starts: the claim flags, then the slots. */
  scratchOffset: number;
}

/** The layout for a partition of `byteLength` bytes, or undefined when it stays a plain SharedArrayBuffer. */
export function wasmLayoutOf(byteLength: number): WasmPartitionLayout | undefined {
  if (byteLength < MIN_WASM_PARTITION_BYTES) return undefined;
  const scratchOffset = Math.ceil(byteLength / SCRATCH_ALIGN) * SCRATCH_ALIGN;
  const pages = Math.ceil((scratchOffset + SCRATCH_ALIGN + SCRATCH_SLOTS * SCRATCH_SLOT_BYTES) / WASM_PAGE_BYTES);
  if (pages > WASM32_MAX_PAGES) return undefined;
  return { pages, totalBytes: pages * WASM_PAGE_BYTES, scratchOffset };
}

/** The byte offset of scratch slot `slot` for a partition of `byteLength` bytes. */
export function scratchSlotOffset(layout: WasmPartitionLayout, slot: number): number {
  return layout.scratchOffset + SCRATCH_ALIGN + slot * SCRATCH_SLOT_BYTES;
}
