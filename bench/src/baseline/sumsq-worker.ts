/**
 * Worker side of the compute baseline: sums the squares of the slice of a SharedArrayBuffer it
 * is sent, with the very loop sharc's built-in 'sumsq' runs, and posts the number back.
 */
import { parentPort } from 'node:worker_threads';

export interface SliceJob {
  buffer: SharedArrayBuffer;
  byteOffset: number;
  length: number;
}

function sumOfSquares(a: Float64Array): number {
  const n = a.length;
  let s = 0;
  for (let i = 0; i < n; i++) {
    const v = a[i]!;
    s += v * v;
  }
  return s;
}

const port = parentPort;
if (port === null) throw new Error('sumsq-worker.js runs as a worker thread, not as a program');
port.on('message', (job: SliceJob) => {
  port.postMessage(sumOfSquares(new Float64Array(job.buffer, job.byteOffset, job.length)));
});
