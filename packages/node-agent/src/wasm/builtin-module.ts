import { compiledModule } from './load-module.js';
import { wasm, type WasmInstance, type WasmMemory, type WasmModule } from './wasm-api.js';

/**
 * The compiled built-in module (dist/wasm/builtins.wasm, built by scripts/build-wasm.mjs from
 * wasm/generate-builtins.mjs), once per thread, and its instances over partition memories.
 */
const MODULE_URL = new URL('../../wasm/builtins.wasm', import.meta.url);

function builtinModule(): WasmModule {
  return compiledModule(MODULE_URL);
}

/**
 * Instances by memory. A Memory posted to a worker thread arrives as a new object with every
 * request, so on worker threads this caches nothing across requests (an instance costs tens of
 * microseconds; one request covers a partition's blocks); on the agent's own thread a
 * partition's Memory is the same object each time.
 */
const instances = new WeakMap<WasmMemory, WasmInstance>();

/** The built-in module's exports, instantiated over `memory`. */
export function builtinExports(memory: WasmMemory): Record<string, unknown> {
  let instance = instances.get(memory);
  if (instance === undefined) {
    instance = new wasm.Instance(builtinModule(), { env: { memory } });
    instances.set(memory, instance);
  }
  return instance.exports;
}
