import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { SliceJob } from './sumsq-worker.js';

const WORKER_FILE = new URL('./sumsq-worker.js', import.meta.url);

/**
 * The compute baseline: what a careful programmer writes by hand on one machine. N worker
 * threads, started once, each sum the squares of an equal slice of one SharedArrayBuffer.
 */
export class SumsqThreads {
  private constructor(private readonly workers: Worker[]) {}

  static async start(count: number): Promise<SumsqThreads> {
    const workers = Array.from({ length: count }, () => new Worker(WORKER_FILE));
    try {
      await Promise.all(workers.map((worker) => once(worker, 'online')));
    } catch (error) {
      await Promise.all(workers.map((worker) => worker.terminate()));
      throw error;
    }
    return new SumsqThreads(workers);
  }

  /** Posts one slice to each thread; resolves with the total once every thread has answered. */
  async sumOfSquares(data: Float64Array): Promise<number> {
    if (!(data.buffer instanceof SharedArrayBuffer)) throw new TypeError('the baseline reads a SharedArrayBuffer in place');
    const buffer = data.buffer;
    const perThread = Math.ceil(data.length / this.workers.length);
    const parts = await Promise.all(
      this.workers.map((worker, index) => {
        const start = Math.min(data.length, index * perThread);
        const job: SliceJob = {
          buffer,
          byteOffset: data.byteOffset + start * Float64Array.BYTES_PER_ELEMENT,
          length: Math.min(perThread, data.length - start),
        };
        return ask(worker, job);
      }),
    );
    return parts.reduce((sum, part) => sum + part, 0);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }
}

function ask(worker: Worker, job: SliceJob): Promise<number> {
  return new Promise((resolve, reject) => {
    const onMessage = (value: unknown) => {
      worker.off('error', onError);
      if (typeof value === 'number') resolve(value);
      else reject(new TypeError(`baseline thread answered ${typeof value}, expected a number`));
    };
    const onError = (error: Error) => {
      worker.off('message', onMessage);
      reject(error);
    };
    worker.once('message', onMessage);
    worker.once('error', onError);
    worker.postMessage(job);
  });
}
