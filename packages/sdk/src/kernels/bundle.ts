import { statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { KernelError, kernelHash } from '@sharc/protocol';

export interface KernelBundle {
  hash: string;
  code: string;
  /** The module's file name, for messages. */
  label: string;
  /** Absolute path of the module. */
  file: string;
}

/**
 * Bundles a kernel module (TypeScript or JavaScript, with its imports) into one ES module with
 * esbuild, so agents can run it with nothing deployed on them. Bundles are cached by path and
 * modification time; agents cache them by content hash.
 */
export class KernelBundler {
  private readonly cache = new Map<string, { mtimeMs: number; bundle: Promise<KernelBundle> }>();

  async bundle(module: string | URL): Promise<KernelBundle> {
    const file = module instanceof URL || module.startsWith('file:') ? fileURLToPath(module) : path.resolve(module);
    let mtimeMs: number;
    try {
      // Synchronous: a few microseconds, where the async stat's trip through libuv's thread pool
      // cost each reduce and map up to 2 ms on a busy machine.
      mtimeMs = statSync(file).mtimeMs;
    } catch {
      throw new KernelError(`kernel module ${String(module)} not found (looked at ${file}): pass a path to a .ts or .js file`, {
        details: { module: String(module), file },
      });
    }
    const cached = this.cache.get(file);
    if (cached !== undefined && cached.mtimeMs === mtimeMs) return cached.bundle;
    const bundle = bundleFile(file);
    this.cache.set(file, { mtimeMs, bundle });
    bundle.catch(() => this.cache.delete(file));
    return bundle;
  }
}

async function bundleFile(file: string): Promise<KernelBundle> {
  try {
    const result = await build({
      entryPoints: [file],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      sourcemap: 'inline',
      // Source paths in the map are relative to the (never written) outfile; rooting them in the
      // module's folder makes kernel stack traces point at the user's own file.
      outfile: path.join(path.dirname(file), '__sharc_kernel.mjs'),
      sourceRoot: `${path.dirname(file)}/`,
      write: false,
      logLevel: 'silent',
      plugins: [sdkTypesOnly],
    });
    const code = result.outputFiles[0]?.text ?? '';
    return { hash: kernelHash(code), code, label: path.basename(file), file };
  } catch (error) {
    const errors = (error as { errors?: Array<{ text: string; location?: { file: string; line: number } }> }).errors ?? [];
    const detail = errors
      .map((e) => {
        const where = e.location ? `${e.location.file}:${e.location.line}: ` : '';
        const sdk = SDK_IMPORT_ERROR.exec(e.text)?.[1];
        return sdk === undefined ? `${where}${e.text}` : `${where}${e.text}: a kernel runs on the agents' worker threads, without the SDK; import only types from '${sdk}' (import type { KernelContext } from '${sdk}')`;
      })
      .join('; ');
    throw new KernelError(`kernel module ${file} does not build: ${detail || (error as Error).message}`, { cause: error });
  }
}

/** The SDK's package names (the installed one, and the workspace): a kernel may take types from them, never values. */
const SDK_PACKAGES = /^(sharc|@sharc\/sdk)$/;
const SDK_NAMESPACE = 'sharc-sdk-types';
const SDK_IMPORT_ERROR = new RegExp(`in "${SDK_NAMESPACE}:([^"]+)"`);

/**
 * Imports of the SDK resolve to an empty module: what is left of a types-only import
 * (`import { type KernelContext } from 'sharc'` under verbatimModuleSyntax is kept as
 * `import {} from 'sharc'`) costs nothing, instead of bundling the SDK, which cannot load on a
 * worker thread. A value taken from it fails the build (see SDK_IMPORT_ERROR).
 */
const sdkTypesOnly: Plugin = {
  name: 'sharc-sdk-types-only',
  setup(plugin) {
    plugin.onResolve({ filter: SDK_PACKAGES }, (args) => ({ path: args.path, namespace: SDK_NAMESPACE }));
    plugin.onLoad({ filter: /.*/, namespace: SDK_NAMESPACE }, () => ({ contents: 'export {};', loader: 'js' }));
  },
};
