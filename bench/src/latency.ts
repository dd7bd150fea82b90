import { performance } from 'node:perf_hooks';
import type { Cluster } from '@sharc/sdk';
import type { Measurement } from './measurement.js';
import { collectGarbage, percentile } from './timing.js';

/**
 * Benchmark 2, tiny-job latency: reduce 'sum' over 8 float64 values, one job after the other,
 * so each figure is a full round trip (client → coordinator → agents → coordinator → client).
 */

/** Services run warm: nats-server, the coordinator and the agents keep improving for ~1000 jobs after start. */
export const LATENCY_WARMUPS = 1000;
export const LATENCY_ITERATIONS = 1000;
const TARGET_P50_MS = 1;
const TINY = Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
const TINY_SUM = 36;

export interface LatencySamples {
  samplesMs: number[];
}

export async function measureTinyJobLatency(cluster: Cluster): Promise<LatencySamples> {
  const array = await cluster.put(TINY);
  try {
    const once = async () => {
      const sum = await cluster.reduce(array, 'sum');
      if (sum !== TINY_SUM) throw new Error(`reduce 'sum' of 1..8 returned ${sum}, expected ${TINY_SUM}`);
    };
    for (let i = 0; i < LATENCY_WARMUPS; i++) await once();
    collectGarbage();
    const samplesMs: number[] = [];
    for (let i = 0; i < LATENCY_ITERATIONS; i++) {
      const start = performance.now();
      await once();
      samplesMs.push(performance.now() - start);
    }
    return { samplesMs };
  } finally {
    await array.delete();
  }
}

export function latencyMeasurements(where: string, { samplesMs }: LatencySamples): Measurement[] {
  const p50 = percentile(samplesMs, 50);
  const p99 = percentile(samplesMs, 99);
  const details = {
    iterations: samplesMs.length,
    warmups: LATENCY_WARMUPS,
    minMs: Math.min(...samplesMs),
    meanMs: samplesMs.reduce((sum, ms) => sum + ms, 0) / samplesMs.length,
    p90Ms: percentile(samplesMs, 90),
    maxMs: Math.max(...samplesMs),
  };
  return [
    {
      benchmark: 'latency',
      subject: `reduce 'sum' of 8 f64, p50, ${where}`,
      value: p50,
      unit: 'ms',
      target: `≤ ${TARGET_P50_MS} ms`,
      pass: p50 <= TARGET_P50_MS,
      details,
    },
    { benchmark: 'latency', subject: `reduce 'sum' of 8 f64, p99, ${where}`, value: p99, unit: 'ms', details },
  ];
}
