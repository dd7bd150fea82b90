import { randomUUID } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { KernelError } from '@sharc/protocol';
import type { KernelBundle } from './bundle.js';

/** The client's own copies (agents keep theirs apart, and check them by hash). */
const LOCAL_CACHE = path.join(os.tmpdir(), 'sharc-client-kernels');
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
      // Written whole, then renamed: a concurrent client never imports half a file.
      const temporary = `${file}.${randomUUID()}.tmp`;
      await writeFile(temporary, bundle.code);
      await rename(temporary, file);
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

