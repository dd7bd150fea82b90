import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { KernelError, kernelHash } from '@sharc/protocol';

/**
 * Kernel code arrives by content hash: the agent asks the coordinator for a hash it has not
 * seen, checks the code against the hash, and keeps it as a file that worker threads import.
 * Content addressing makes the cache safe to share between agents and across restarts.
 */
export class KernelCache {
  private readonly ready = new Map<string, Promise<string>>();

  constructor(
    private readonly directory: string,
    private readonly fetchCode: (hash: string) => Promise<string>,
  ) {}

  /** The path of the module file for `hash`, fetching the code when it is not cached. */
  pathOf(hash: string): Promise<string> {
    let pending = this.ready.get(hash);
    if (pending === undefined) {
      pending = this.materialise(hash);
      this.ready.set(hash, pending);
      pending.catch(() => this.ready.delete(hash));
    }
    return pending;
  }

  private async materialise(hash: string): Promise<string> {
    if (!/^[0-9a-f]{64}$/.test(hash)) throw new KernelError(`kernel hash ${JSON.stringify(hash)} is not a sha256 hex digest`);
    const file = path.join(this.directory, `${hash}.mjs`);
    // A cached file is trusted only if it still hashes to its name (not truncated, not replaced).
    const cached = await readIfExists(file);
    if (cached !== undefined && kernelHash(cached) === hash) return file;
    const code = await this.fetchCode(hash);
    const actual = kernelHash(code);
    if (actual !== hash) throw new KernelError(`kernel code for ${hash} hashes to ${actual}: refusing it`);
    await mkdir(this.directory, { recursive: true });
    const temporary = `${file}.${randomUUID()}.tmp`;
    await writeFile(temporary, code);
    await rename(temporary, file);
    return file;
  }
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}
