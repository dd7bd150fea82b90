/**
 * Builds the WebAssembly modules of the built-ins: the reductions (wasm/generate-builtins.mjs)
 * and the elementwise ops making new arrays (wasm/generate-ops.mjs): generates their text and assembles it with wabt (wat2wasm as a JS library: no native
 * toolchain). Writes dist/wasm/builtins.wasm, and the text next to it for whoever wants to read
 * what runs. Run by `npm run build` (root and this package) before `tsc --build`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { URL, fileURLToPath } from 'node:url';
import initWabt from 'wabt';
import { builtinsWat } from '../wasm/generate-builtins.mjs';
import { opsWat } from '../wasm/generate-ops.mjs';
import { histogramWat } from '../wasm/generate-histogram.mjs';

const outDir = fileURLToPath(new URL('../dist/wasm/', import.meta.url));
const wabt = await initWabt();
const features = { simd: true, threads: true, multi_value: true };
// The reductions (over a partition's own memory), the elementwise ops making new arrays and the histogram (over memories of their own).
for (const [name, text] of [['builtins', builtinsWat()], ['ops', opsWat()], ['histogram', histogramWat()]]) {
  const module = wabt.parseWat(`${name}.wat`, text, features);
  try {
    module.validate(features);
    const { buffer } = module.toBinary({});
    await mkdir(outDir, { recursive: true });
    await writeFile(`${outDir}${name}.wat`, text);
    await writeFile(`${outDir}${name}.wasm`, buffer);
  } finally {
    module.destroy();
  }
}
