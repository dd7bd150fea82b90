import { randomBytes } from 'node:crypto';
import {
  CancelledError,
  InternalError,
  TimeoutError,
  fromErrorData,
  subjectFor,
  type JobSpec,
  type MessageBus,
  type MessageOf,
} from '@sharc/protocol';

/** Options every long-running call accepts. */
export interface JobOptions {
  /** Called as work completes: `done` of `total` units (blocks of rows, or bytes for put and toArray). */
  onProgress?: (done: number, total: number) => void;
  /** Aborting it cancels the work on every agent and rejects with CancelledError. */
  signal?: AbortSignal;
  /** Rejects with TimeoutError (and cancels the work) after this many milliseconds. */
  timeoutMs?: number;
}

const SUBMIT_TIMEOUT_MS = 60_000;

/**
 * Submits a job and follows its events until it is done. The client listens on the job's
 * subject before submitting, so no event can be missed.
 */
export async function runJob(bus: MessageBus, cluster: string, spec: JobSpec, options: JobOptions): Promise<MessageOf<'job.done'>> {
  options.signal?.throwIfAborted();
  const jobId = randomBytes(12).toString('hex');
  const coordinator = subjectFor(cluster, { to: 'coordinator', verb: 'client' });
  let stopListening: () => void = () => undefined;
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    return await new Promise<MessageOf<'job.done'>>((resolve, reject) => {
      const cancel = (error: Error) => {
        reject(error);
        bus.request(coordinator, { type: 'job.cancel', jobId }, { timeoutMs: SUBMIT_TIMEOUT_MS }).catch(() => undefined);
      };
      stopListening = bus.listen(subjectFor(cluster, { to: 'job', jobId }), (event) => {
        if (event.type === 'job.progress') options.onProgress?.(event.done, event.total);
        else if (event.type === 'job.done') resolve(event);
        else if (event.type === 'job.failed') reject(fromErrorData(event.error));
        else reject(new InternalError(`unexpected ${event.type} event for job ${jobId}`));
      });
      if (options.signal !== undefined) {
        onAbort = () => cancel(new CancelledError(`job ${jobId} was cancelled`, { cause: options.signal?.reason }));
        options.signal.addEventListener('abort', onAbort, { once: true });
      }
      if (options.timeoutMs !== undefined) {
        const ms = options.timeoutMs;
        timer = setTimeout(() => cancel(new TimeoutError(`job ${jobId} did not finish within ${ms} ms`)), ms);
      }
      bus
        .call(
          coordinator,
          { type: 'job.submit', jobId, spec, ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }) },
          'job.accepted',
          { timeoutMs: SUBMIT_TIMEOUT_MS },
        )
        .then((accepted) => options.onProgress?.(0, accepted.total), reject);
    });
  } finally {
    stopListening();
    clearTimeout(timer);
    if (onAbort !== undefined) options.signal?.removeEventListener('abort', onAbort);
  }
}
