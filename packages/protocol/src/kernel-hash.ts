import { createHash } from 'node:crypto';

/** The content hash kernel code is known by, on clients, the coordinator and agents alike. */
export function kernelHash(code: string): string {
  return createHash('sha256').update(code).digest('hex');
}
