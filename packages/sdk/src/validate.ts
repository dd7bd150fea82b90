import { CancelledError, InvalidArgumentError, MAX_PARTITIONS } from '@sharc/protocol';
import { ArrayRef } from './array-ref.js';
import type { JobOptions } from './jobs/run-job.js';

/** Checks of what a caller passes, before anything is sent: each error names the option. */

export function checkJobOptions(options: JobOptions): void {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options must be an object');
  const { timeoutMs, signal, onProgress } = options;
  if (timeoutMs !== undefined && !(typeof timeoutMs === 'number' && timeoutMs > 0 && Number.isFinite(timeoutMs))) {
    throw new InvalidArgumentError(`timeoutMs must be a positive number of milliseconds, got ${String(timeoutMs)}`);
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidArgumentError('signal must be an AbortSignal');
  if (onProgress !== undefined && typeof onProgress !== 'function') throw new InvalidArgumentError('onProgress must be a function');
  if (signal?.aborted) throw new CancelledError('the call was cancelled before it started', { cause: signal.reason });
}

export function checkPartitions(partitions: number): void {
  if (!(Number.isInteger(partitions) && partitions >= 1 && partitions <= MAX_PARTITIONS)) {
    throw new InvalidArgumentError(`partitions must be an integer from 1 to ${MAX_PARTITIONS}, got ${partitions}`);
  }
}

export function checkArrayRef(array: unknown): void {
  if (!(array instanceof ArrayRef)) {
    throw new InvalidArgumentError(`expected an ArrayRef (from put, open, fromFile or map), got ${array === null ? 'null' : typeof array}`);
  }
}

export function checkName(name: string): void {
  if (typeof name !== 'string' || name.length === 0 || name.length > 256) {
    throw new InvalidArgumentError(`array name must be a non-empty string of at most 256 characters, got ${JSON.stringify(name)}`);
  }
}
