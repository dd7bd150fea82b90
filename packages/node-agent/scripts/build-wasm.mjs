/**
 * Builds the WebAssembly module of the built-in reductions: generates its text
 * (wasm/generate-builtins.mjs) and assembles it with wabt (wat2wasm as a JS library: no native
 * toolchain). Writes dist/wasm/builtins.wasm, and the text next to it for whoever wants to read
 * what runs. Run by `npm run build` (root and this package) before `tsc --build`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { URL, fileURLToPath } from 'node:url';
import initWabt from 'wabt';
import { builtinsWat } from '../wasm/generate-builtins.mjs';

const outDir = fileURLToPath(new URL('../dist/wasm/', import.meta.url));
const text = builtinsWat();
const wabt = await initWabt();
const features = { simd: true, threads: true, multi_value: true };
const module = wabt.parseWat('builtins.wat', text, features);
try {
  module.validate(features);
  const { buffer } = module.toBinary({});
  await mkdir(outDir, { recursive: true });
  await writeFile(`${outDir}builtins.wat`, text);
  await writeFile(`${outDir}builtins.wasm`, buffer);
} finally {
  module.destroy();
}
