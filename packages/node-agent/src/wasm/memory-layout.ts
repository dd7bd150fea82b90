/**
 * The layout of a partition held in a shared WebAssembly.Memory: the partition's rows
 * (meta.byteLength bytes) from address 0, element 0 first, then zeros to the end of the last
 * WASM_PAGE_BYTES page. The memory's rounded size counts against the agent's memory limit. The
 * rule (which partitions get a memory, of how many pages) is `wasmPagesOf`/`reservedBytesOf` in
 * @sharc/protocol (sizes.ts), which the coordinator places and books by too. A partition past
 * WASM32_MAX_PAGES (4 GiB) is held in a plain SharedArrayBuffer instead and reduced by the JS
 * loops; so is one below MIN_WASM_PARTITION_BYTES.
 */
import { WASM_PAGE_BYTES, wasmPagesOf } from '@sharc/protocol';

export { WASM_PAGE_BYTES, WASM32_MAX_PAGES, MIN_WASM_PARTITION_BYTES } from '@sharc/protocol';

export interface WasmPartitionLayout {
  /** Pages of the memory (initial = maximum: it never grows). */
  pages: number;
  /** pages × WASM_PAGE_BYTES: what the partition costs against the memory limit (= reservedBytesOf). */
  totalBytes: number;
}

/** The layout for a partition of `byteLength` bytes, or undefined when it stays a plain SharedArrayBuffer. */
export function wasmLayoutOf(byteLength: number): WasmPartitionLayout | undefined {
  const pages = wasmPagesOf(byteLength);
  return pages === undefined ? undefined : { pages, totalBytes: pages * WASM_PAGE_BYTES };
}
