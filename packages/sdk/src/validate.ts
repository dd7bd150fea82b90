import { arrayNameProblem, CancelledError, InvalidArgumentError, MAX_ARRAY_NAME_LENGTH, MAX_JOB_TIMEOUT_MS, MAX_COPIES, MAX_PARTITIONS, checkKeys, createLogger, type ElsewhereKeys, type KnownKeys } from '@sharc/protocol';
import { ArrayRef } from './array-ref.js';
import { CALL_KEYS, type CallName } from './call-options.js';
import type { JobOptions } from './jobs/run-job.js';

/** Checks of what a caller passes, before anything is sent: each error names the option. */

/**
 * Checks a call's arguments as call-options.ts declares them: no key but the call's in its
 * options, nor in its kernel (reduce, map), where a key of the other argument says where it
 * goes. Returns the options checked by checkJobOptions.
 */
export function checkCall<T extends JobOptions>(call: CallName, options: T, kernel?: unknown): T {
  const keys: { options: readonly string[]; kernel?: readonly string[] } = CALL_KEYS[call];
  if (keys.kernel === undefined) return checkJobOptions(options, { of: call, keys: keys.options });
  if (typeof kernel === 'object' && kernel !== null) {
    checkKeys(kernel, { of: `${call}'s kernel`, here: 'the kernel', noun: 'key', keys: keys.kernel }, [
      { keys: keys.options, goesIn: `${call}'s third argument (options)` },
    ]);
  }
  return checkJobOptions(options, { of: call, here: 'the options', keys: keys.options }, [{ keys: keys.kernel, goesIn: `${call}'s second argument (the kernel)` }]);
}

/**
 * Checks a long call's options (no key but `known`'s: a misspelt or misplaced one is an error
 * naming it) and the ones every long call takes, and returns them with `onProgress` guarded: a
 * callback that throws is logged, never allowed to break the job it reports on.
 */
export function checkJobOptions<T extends JobOptions>(options: T, known: KnownKeys, elsewhere: readonly ElsewhereKeys[] = []): T {
  checkKeys(options, known, elsewhere);
  const { timeoutMs, signal, onProgress, onLog } = options;
  if (timeoutMs !== undefined && !(typeof timeoutMs === 'number' && timeoutMs > 0 && Number.isFinite(timeoutMs))) {
    throw new InvalidArgumentError(`timeoutMs must be a positive number of milliseconds, got ${String(timeoutMs)}`);
  }
  if (timeoutMs !== undefined && timeoutMs > MAX_JOB_TIMEOUT_MS) {
    throw new InvalidArgumentError(`timeoutMs must be at most ${MAX_JOB_TIMEOUT_MS} (24 days, MAX_JOB_TIMEOUT_MS), got ${timeoutMs}: leave it out for the default of 24 hours`);
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidArgumentError('signal must be an AbortSignal');
  if (onProgress !== undefined && typeof onProgress !== 'function') throw new InvalidArgumentError('onProgress must be a function');
  if (onLog !== undefined && typeof onLog !== 'function') throw new InvalidArgumentError('onLog must be a function (of one line: { agent, job, partition, rows, stream, text })');
  if (signal?.aborted) throw new CancelledError('the call was cancelled before it started', { cause: signal.reason });
  if (onProgress === undefined && onLog === undefined) return options;
  return {
    ...options,
    ...(onProgress === undefined
      ? {}
      : {
          onProgress: (done: number, total: number) => {
            try {
              onProgress(done, total);
            } catch (error) {
              logger.warn('onProgress threw; the job goes on', { error: (error as Error).message });
            }
          },
        }),
    ...(onLog === undefined
      ? {}
      : {
          onLog: (line: Parameters<typeof onLog>[0]) => {
            try {
              onLog(line);
            } catch (error) {
              logger.warn('onLog threw; the job goes on', { error: (error as Error).message });
            }
          },
        }),
  };
}

const logger = createLogger('sharc-sdk');

export function checkPartitions(partitions: number): void {
  if (!(Number.isInteger(partitions) && partitions >= 1 && partitions <= MAX_PARTITIONS)) {
    throw new InvalidArgumentError(`partitions must be an integer from 1 to ${MAX_PARTITIONS} (MAX_PARTITIONS), got ${partitions}`, {
      fix: {
        option: 'partitions',
        value: Number.isFinite(partitions) && partitions > MAX_PARTITIONS ? MAX_PARTITIONS : 1,
        alternative: 'leave partitions out (the cluster picks a count)',
        note: 'each partition is an entry in every message about the array; fewer, larger partitions cost less',
      },
    });
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

/** `detached` is a boolean; a detached map or file load needs a name to be found again by. */
export function checkDetached(detached: unknown, name: string | undefined, what: 'map' | 'fromFile'): boolean {
  if (detached === undefined) return false;
  if (typeof detached !== 'boolean') throw new InvalidArgumentError(`detached must be true or false, got ${JSON.stringify(detached)}`);
  if (detached && name === undefined) {
    throw new InvalidArgumentError(
      what === 'map'
        ? 'a detached map needs a name for its output ({ name } in the options): it is kept after this client goes away, and found again only by its name'
        : 'a detached fromFile needs { name }: the array is kept after this client goes away, and found again only by its name',
    );
  }
  return detached;
}

/** Checks a name given to a new array: printable characters only (see arrayNameProblem). */
export function checkNewName(name: string): void {
  checkName(name);
  const problem = arrayNameProblem(name);
  if (problem !== undefined) throw new InvalidArgumentError(problem, { details: { name } });
}
