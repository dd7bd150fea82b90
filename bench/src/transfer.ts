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
  /** sharc only: `toArray()` into a new array, which pays a page fault per 4 KiB of fresh memory. */
  freshDownloadMs?: number[];
}

/**
 * Each run: put, toArray into a buffer reused across runs (as the raw baseline reuses its own),
 * toArray into a new array, check every byte came back, delete; best of TRANSFER_RUNS each
 * way after the warm-up.
 */
export async function measureSharcTransfer(cluster: Cluster, data: Float64Array, copies = 1): Promise<TransferRuns> {
  const runs: TransferRuns = { uploadMs: [], downloadMs: [], freshDownloadMs: [] };
  const sent = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const into = new Float64Array(data.length);
  for (let i = 0; i < TRANSFER_WARMUPS + TRANSFER_RUNS; i++) {
    const timed = i >= TRANSFER_WARMUPS;
    collectGarbage();
    const putStart = performance.now();
    const array = await cluster.put(data, { copies });
    if (timed) runs.uploadMs.push(performance.now() - putStart);
    try {
      into.fill(0);
      const readStart = performance.now();
      await array.toArray({ into });
      if (timed) runs.downloadMs.push(performance.now() - readStart);
      if (!sent.equals(Buffer.from(into.buffer, into.byteOffset, into.byteLength))) {
        throw new Error(`toArray({ into }) after put returned different bytes (run ${i + 1})`);
      }
      const freshStart = performance.now();
      const back = await array.toArray();
      if (timed) runs.freshDownloadMs?.push(performance.now() - freshStart);
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

/**
 * What durability costs a put: the same 1 GiB stored as 2 copies (each partition also sent to a
 * second agent, from the client, in parallel) against 1 copy, in the same run. No target: the
 * second copy is a second gigabyte to move.
 */
export function durabilityMeasurement(where: string, single: TransferRuns, replicated: TransferRuns, bytes: number): Measurement {
  const rate = gigabytesPerSecond(bytes, Math.min(...replicated.uploadMs));
  const singleRate = gigabytesPerSecond(bytes, Math.min(...single.uploadMs));
  return {
    benchmark: 'transfer',
    subject: `put 1 GiB f64 stored as 2 copies (survives an agent's death), ${where}`,
    value: rate,
    unit: 'GB/s',
    baseline: { label: 'the same put, 1 copy', value: singleRate, unit: 'GB/s' },
    ratio: rate / singleRate,
    details: { runsMs: replicated.uploadMs, baselineRunsMs: single.uploadMs, bytes },
  };
}

export function transferMeasurements(where: string, sharc: TransferRuns, raw: TransferRuns, bytes: number): Measurement[] {
  const row = (direction: string, sharcMs: number[], rawMs: number[], targeted = true): Measurement => {
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
      ...(targeted ? { target: `ratio ≥ ${TARGET_RATIO}`, pass: ratio >= TARGET_RATIO } : {}),
      details: { runsMs: sharcMs, baselineRunsMs: rawMs, bytes },
    };
  };
  return [
    row('put 1 GiB f64, 1 copy (client → agents)', sharc.uploadMs, raw.uploadMs),
    row('toArray({ into }) 1 GiB f64 (agents → client, reused buffer)', sharc.downloadMs, raw.downloadMs),
    row('toArray() 1 GiB f64 into a new array (first touch of fresh pages)', sharc.freshDownloadMs ?? [], raw.downloadMs, false),
  ];
}
