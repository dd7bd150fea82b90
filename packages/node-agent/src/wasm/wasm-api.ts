/**
 * The few WebAssembly JS API types sharc uses. TypeScript declares `WebAssembly` only in its DOM
 * library (and @types/node only from v22), so the global is reached through these local types
 * instead of a global declaration that would clash with either.
 */

/** A shared WebAssembly.Memory: its buffer is a SharedArrayBuffer that never detaches. */
export interface WasmMemory {
  readonly buffer: SharedArrayBuffer;
}

export interface WasmModule {
  readonly __brand?: 'WebAssembly.Module';
}

export interface WasmInstance {
  readonly exports: Record<string, unknown>;
}

interface WasmNamespace {
  Memory: new (descriptor: { initial: number; maximum: number; shared: true }) => WasmMemory;
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: Record<string, Record<string, unknown>>) => WasmInstance;
}

export const wasm = (globalThis as unknown as { WebAssembly: WasmNamespace }).WebAssembly;

/** A shared memory of `pages` pages that never grows. Throws a RangeError when the process cannot reserve one. */
export function createSharedMemory(pages: number): WasmMemory {
  return new wasm.Memory({ initial: pages, maximum: pages, shared: true });
}
