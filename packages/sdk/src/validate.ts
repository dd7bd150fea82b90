import { arrayNameProblem, CancelledError, InvalidArgumentError, MAX_ARRAY_NAME_LENGTH, MAX_COPIES, MAX_PARTITIONS, createLogger } from '@sharc/protocol';
import { ArrayRef } from './array-ref.js';
import type { JobOptions } from './jobs/run-job.js';

/** Checks of what a caller passes, before anything is sent: each error names the option. */

/**
 * Checks the options every long call takes, and returns them with `onProgress` guarded: a
 * callback that throws is logged, never allowed to break the job it reports on.
 */
export function checkJobOptions<T extends JobOptions>(options: T): T {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options must be an object');
  const { timeoutMs, signal, onProgress } = options;
  if (timeoutMs !== undefined && !(typeof timeoutMs === 'number' && timeoutMs > 0 && Number.isFinite(timeoutMs))) {
    throw new InvalidArgumentError(`timeoutMs must be a positive number of milliseconds, got ${String(timeoutMs)}`);
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidArgumentError('signal must be an AbortSignal');
  if (onProgress !== undefined && typeof onProgress !== 'function') throw new InvalidArgumentError('onProgress must be a function');
  if (signal?.aborted) throw new CancelledError('the call was cancelled before it started', { cause: signal.reason });
  if (onProgress === undefined) return options;
  return {
    ...options,
    onProgress: (done: number, total: number) => {
      try {
        onProgress(done, total);
      } catch (error) {
        logger.warn('onProgress threw; the job goes on', { error: (error as Error).message });
      }
    },
  };
}

const logger = createLogger('sharc-sdk');

export function checkPartitions(partitions: number): void {
  if (!(Number.isInteger(partitions) && partitions >= 1 && partitions <= MAX_PARTITIONS)) {
    throw new InvalidArgumentError(`partitions must be an integer from 1 to ${MAX_PARTITIONS}, got ${partitions}`);
  }
}

export function checkCopies(copies: number): void {
  if (!(Number.isInteger(copies) && copies >= 1 && copies <= MAX_COPIES)) {
    throw new InvalidArgumentError(`copies must be an integer from 1 to ${MAX_COPIES}, got ${copies}`);
  }
}

export function checkArrayRef(array: unknown): void {
  if (!(array instanceof ArrayRef)) {
    throw new InvalidArgumentError(`expected an ArrayRef (from put, open, fromFile or map), got ${array === null ? 'null' : typeof array}`);
  }
}

/** Checks the name of an array to open or delete (one an older version stored may hold anything). */
export function checkName(name: string): void {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_ARRAY_NAME_LENGTH) {
    throw new InvalidArgumentError(`array name must be a non-empty string of at most ${MAX_ARRAY_NAME_LENGTH} characters, got ${JSON.stringify(name)}`);
  }
}

/** Checks a name given to a new array: printable characters only (see arrayNameProblem). */
export function checkNewName(name: string): void {
  checkName(name);
  const problem = arrayNameProblem(name);
  if (problem !== undefined) throw new InvalidArgumentError(problem, { details: { name } });
}
