import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Making the file's pages cold (out of the page cache) before a cold run, and reading it raw.
 *
 * - 'drop_caches': as root, `sync; echo 3 > /proc/sys/vm/drop_caches` (the whole page cache).
 * - 'dd nocache': without that right (not root, or /proc/sys read-only in a container),
 *   `dd if=FILE iflag=nocache count=0`, which asks the kernel to drop that file's clean pages.
 */
export type ColdMethod = 'drop_caches' | 'dd nocache';

export const COLD_METHOD_TEXT: Record<ColdMethod, string> = {
  drop_caches: 'sync; echo 3 > /proc/sys/vm/drop_caches (root)',
  'dd nocache': 'dd if=FILE iflag=nocache count=0 (drops the file\'s pages; no root needed)',
};

/** Drops `file`'s pages by the first method this machine allows, and returns it. */
export async function chooseColdMethod(file: string): Promise<ColdMethod> {
  try {
    await dropFileCache(file, 'drop_caches');
    return 'drop_caches';
  } catch {
    await dropFileCache(file, 'dd nocache');
    return 'dd nocache';
  }
}

export async function dropFileCache(file: string, method: ColdMethod): Promise<void> {
  if (method === 'drop_caches') {
    await run('sync');
    await writeFile('/proc/sys/vm/drop_caches', '3\n');
  } else {
    await run('dd', [`if=${file}`, 'iflag=nocache', 'count=0'], { env: { ...process.env, LC_ALL: 'C' } });
  }
}

/** Bytes of `file` in the page cache (`fincore`), or undefined where fincore is missing: the proof a cold run started cold. */
export async function cachedBytes(file: string): Promise<number | undefined> {
  try {
    const { stdout } = await run('fincore', ['--bytes', '--noheadings', '--raw', '--output', 'RES', file]);
    const bytes = Number(stdout.trim());
    return Number.isFinite(bytes) ? bytes : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The raw read rate: `dd if=FILE of=/dev/null bs=16M`. The time is dd's own ("… copied, 1.23 s"),
 * without starting the process, and the bytes are dd's count.
 */
export async function rawRead(file: string): Promise<{ ms: number; bytes: number }> {
  const { stderr } = await run('dd', [`if=${file}`, 'of=/dev/null', 'bs=16M'], { env: { ...process.env, LC_ALL: 'C' } });
  const match = /^(\d+) bytes .* copied, ([\d.]+) s/m.exec(stderr);
  if (match?.[1] === undefined || match[2] === undefined) throw new Error(`dd printed no "N bytes … copied, S s" line: ${stderr.slice(0, 300)}`);
  return { bytes: Number(match[1]), ms: Number(match[2]) * 1000 };
}
