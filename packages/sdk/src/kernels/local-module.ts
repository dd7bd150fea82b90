import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { KernelError } from '@sharc/protocol';
import type { KernelBundle } from './bundle.js';

const LOCAL_CACHE = path.join(os.tmpdir(), 'sharc-kernels');
const loaded = new Map<string, Promise<Record<string, unknown>>>();

/**
 * Loads a bundled kernel in the client, to check its exports before a job starts and to run
 * `combine` over the partials the agents return.
 */
export async function loadLocally(bundle: KernelBundle): Promise<Record<string, unknown>> {
  let module = loaded.get(bundle.hash);
  if (module === undefined) {
    module = (async () => {
      await mkdir(LOCAL_CACHE, { recursive: true });
      const file = path.join(LOCAL_CACHE, `${bundle.hash}.mjs`);
      await writeFile(file, bundle.code);
      return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    })();
    loaded.set(bundle.hash, module);
    module.catch(() => loaded.delete(bundle.hash));
  }
  try {
    return await module;
  } catch (error) {
    throw new KernelError(`kernel module ${bundle.label} failed to load: ${(error as Error).message}`, { cause: error });
  }
}

/** The named export as a function, or a KernelError that says what the module has instead. */
export function exportedFunction(module: Record<string, unknown>, name: string, label: string): (...args: unknown[]) => unknown {
  const value = module[name];
  if (value === undefined) {
    const names = Object.keys(module).filter((k) => k !== 'default');
    throw new KernelError(`kernel module ${label} has no export named '${name}'; it exports: ${names.join(', ') || '(nothing)'}`);
  }
  if (typeof value !== 'function') throw new KernelError(`export '${name}' of ${label} is a ${typeof value}, not a function`);
  return value as (...args: unknown[]) => unknown;
}
