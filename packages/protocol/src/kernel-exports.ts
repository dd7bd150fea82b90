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
