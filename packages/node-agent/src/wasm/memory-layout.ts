/**
 * The layout of a partition held in a shared WebAssembly.Memory, named in one place: the
 * partition's rows (meta.byteLength bytes) from address 0, element 0 first, then zeros to the end
 * of the last WASM_PAGE_BYTES page. The memory's rounded size counts against the agent's memory
 * limit. A partition past WASM32_MAX_PAGES (4 GiB) is held in a plain SharedArrayBuffer instead
 * and reduced by the JS loops; so is one below MIN_WASM_PARTITION_BYTES, where rounding up to
 * pages would cost more memory than the loops save time.
 */

/** WebAssembly's page size. */
export const WASM_PAGE_BYTES = 64 * 1024;
/** wasm32 addresses 4 GiB: 65,536 pages. */
export const WASM32_MAX_PAGES = 65_536;
/** Partitions smaller than this keep an exactly sized SharedArrayBuffer (JS loops; the reduce takes well under a millisecond). */
export const MIN_WASM_PARTITION_BYTES = 1024 * 1024;

export interface WasmPartitionLayout {
  /** Pages of the memory (initial = maximum: it never grows). */
  pages: number;
  /** pages × WASM_PAGE_BYTES: what the partition costs against the memory limit. */
  totalBytes: number;
}

/** The layout for a partition of `byteLength` bytes, or undefined when it stays a plain SharedArrayBuffer. */
export function wasmLayoutOf(byteLength: number): WasmPartitionLayout | undefined {
  if (byteLength < MIN_WASM_PARTITION_BYTES) return undefined;
  const pages = Math.ceil(byteLength / WASM_PAGE_BYTES);
  if (pages > WASM32_MAX_PAGES) return undefined;
  return { pages, totalBytes: pages * WASM_PAGE_BYTES };
}
