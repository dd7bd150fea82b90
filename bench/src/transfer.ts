import { performance } from 'node:perf_hooks';
import type { Cluster } from '@sharc/sdk';
import { TcpLoopbackPeer } from './baseline/tcp-loopback.js';
import type { CleanupStack } from './cleanup.js';
import type { Measurement } from './measurement.js';
import { collectGarbage, gigabytesPerSecond } from './timing.js';

/**
 * Benchmark 3, transfer: `put` of 1 GiB to the agents and `toArray()` back, against plain node
 * sockets on loopback moving the same bytes to another node process and back.
 */

export const TRANSFER_RUNS = 3;
/** One untimed round first, on both sides: it maps the receivers' pages and warms the sockets and the JIT. */
export const TRANSFER_WARMUPS = 1;
/** Higher is better: sharc rate / raw TCP rate. */
const TARGET_RATIO = 0.5;

export interface TransferRuns {
  uploadMs: number[];
  downloadMs: number[];
}

/** Each run: put, toArray, check every byte came back, delete; best of TRANSFER_RUNS each way after the warm-up. */
export async function measureSharcTransfer(cluster: Cluster, data: Float64Array): Promise<TransferRuns> {
  const runs: TransferRuns = { uploadMs: [], downloadMs: [] };
  const sent = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  for (let i = 0; i < TRANSFER_WARMUPS + TRANSFER_RUNS; i++) {
    const timed = i >= TRANSFER_WARMUPS;
    collectGarbage();
    const putStart = performance.now();
    const array = await cluster.put(data);
    if (timed) runs.uploadMs.push(performance.now() - putStart);
    try {
      const readStart = performance.now();
      const back = await array.toArray();
      if (timed) runs.downloadMs.push(performance.now() - readStart);
      if (!sent.equals(Buffer.from(back.buffer, back.byteOffset, back.byteLength))) {
        throw new Error(`toArray() after put returned different bytes (run ${i + 1})`);
      }
    } finally {
      await array.delete();
    }
  }
  collectGarbage();
  return runs;
}

/** The same bytes through raw sockets to a separate node process and back, best of TRANSFER_RUNS after the warm-up. */
export async function measureRawTransfer(data: Float64Array, cleanup: CleanupStack): Promise<TransferRuns> {
  const source = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const peer = await TcpLoopbackPeer.start(source.length);
  const stop = cleanup.defer('raw TCP peer process', () => peer.stop());
  try {
    const target = Buffer.alloc(source.length);
    const runs: TransferRuns = { uploadMs: [], downloadMs: [] };
    for (let i = 0; i < TRANSFER_WARMUPS + TRANSFER_RUNS; i++) {
      collectGarbage();
      target.fill(0);
      const { uploadMs, downloadMs } = await peer.roundTrip(source, target);
      if (i >= TRANSFER_WARMUPS) {
        runs.uploadMs.push(uploadMs);
        runs.downloadMs.push(downloadMs);
      }
      if (!source.equals(target)) throw new Error(`raw TCP round trip returned different bytes (run ${i + 1})`);
    }
    return runs;
  } finally {
    await stop();
  }
}

export function transferMeasurements(where: string, sharc: TransferRuns, raw: TransferRuns, bytes: number): Measurement[] {
  const row = (direction: string, sharcMs: number[], rawMs: number[]): Measurement => {
    const rate = gigabytesPerSecond(bytes, Math.min(...sharcMs));
    const rawRate = gigabytesPerSecond(bytes, Math.min(...rawMs));
    const ratio = rate / rawRate;
    return {
      benchmark: 'transfer',
      subject: `${direction}, ${where}`,
      value: rate,
      unit: 'GB/s',
      baseline: { label: 'raw TCP loopback', value: rawRate, unit: 'GB/s' },
      ratio,
      target: `ratio ≥ ${TARGET_RATIO}`,
      pass: ratio >= TARGET_RATIO,
      details: { runsMs: sharcMs, baselineRunsMs: rawMs, bytes },
    };
  };
  return [
    row('put 1 GiB f64 (client → agents)', sharc.uploadMs, raw.uploadMs),
    row('toArray 1 GiB f64 (agents → client)', sharc.downloadMs, raw.downloadMs),
  ];
}
