import { randomBytes } from 'node:crypto';
import type { KernelRef } from '@sharc/protocol';

/** A map output's name when its caller gave none. */
export function generatedName(): string {
  return `array-${randomBytes(4).toString('hex')}`;
}

/** How a job's kernel shows in logs and metrics: a built-in by name, a kernel module as 'custom' (few distinct values). */
export function kernelLabel(kernel: KernelRef): string {
  return kernel.kind === 'reduce' || kernel.kind === 'map' ? 'custom' : kernel.op;
}

/** An error as one line of a log or an event. */
export function errorLine(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
