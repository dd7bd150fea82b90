import { KernelError } from './errors.js';

/**
 * The named export of a loaded kernel module as a function, or a KernelError that says what
 * the module has instead. Used by the SDK (to fail fast, before a job starts) and by worker threads.
 */
export function exportedFunction(module: Record<string, unknown>, name: string, label: string): (...args: unknown[]) => unknown {
  const value = module[name];
  if (value === undefined) {
    const names = Object.keys(module).filter((k) => k !== 'default');
    throw new KernelError(`kernel module ${label} has no export named '${name}'; it exports: ${names.join(', ') || '(nothing)'}`);
  }
  if (typeof value !== 'function') throw new KernelError(`export '${name}' of ${label} is a ${typeof value}, not a function`);
  return value as (...args: unknown[]) => unknown;
}

/** Wraps what a kernel threw so the user sees where, the kernel's message, and its own stack. */
export function kernelFailure(error: unknown, label: string, what: string): KernelError {
  if (error instanceof KernelError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const failure = new KernelError(`kernel ${label} threw ${what}: ${message}`, { cause: error });
  if (error instanceof Error && error.stack !== undefined) failure.stack = error.stack;
  return failure;
}

/** Left-folds partials in order with a kernel's `combine` (on agents per partition, on the client across them). */
export async function foldPartials(partials: unknown[], combine: (a: unknown, b: unknown) => unknown, label: string): Promise<unknown> {
  const [first, ...rest] = partials;
  let acc = first;
  for (const next of rest) {
    try {
      acc = await combine(acc, next);
    } catch (error) {
      throw kernelFailure(error, label, 'while combining partials');
    }
  }
  return acc;
}
