import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { InternalError } from '@sharc/protocol/core';
import { wasm, type WasmModule } from './wasm-api.js';

/**
 * The compiled WebAssembly modules of dist/wasm (built by scripts/build-wasm.mjs), once per
 * thread: synchronous, each module is a few KB and compiles in about a millisecond.
 */
const compiled = new Map<string, WasmModule>();
/** Instances of the modules that count or copy through a memory of their own, once per thread. */
const ownMemory = new Map<string, { exports: Record<string, unknown>; buffer: ArrayBuffer }>();

/** The module at `url`, compiled; a clear error when the build did not make it. */
export function compiledModule(url: URL): WasmModule {
  let module = compiled.get(url.href);
  if (module !== undefined) return module;
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(url);
  } catch (error) {
    throw new InternalError(`the WebAssembly module ${fileURLToPath(url)} is missing: build with \`npm run build\` (not tsc alone)`, { cause: error });
  }
  module = new wasm.Module(bytes);
  compiled.set(url.href, module);
  return module;
}

/** The one instance on this thread of a module that exports its own memory, and that memory's buffer. */
export function ownMemoryInstance(url: URL): { exports: Record<string, unknown>; buffer: ArrayBuffer } {
  let instance = ownMemory.get(url.href);
  if (instance === undefined) {
    const created = new wasm.Instance(compiledModule(url), {});
    instance = { exports: created.exports, buffer: (created.exports.memory as { buffer: ArrayBuffer }).buffer };
    ownMemory.set(url.href, instance);
  }
  return instance;
}
