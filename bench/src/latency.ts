import { performance } from 'node:perf_hooks';
import type { Cluster } from '@sharc/sdk';
import type { Measurement } from './measurement.js';
import { collectGarbage, percentile } from './timing.js';

/**
 * Benchmark 2, tiny-job latency: reduce 'sum' over 8 float64 values, one job after the other,
 * so each figure is a full round trip (client → agent → client: a reduce goes straight to an
 * agent holding the partitions), then the same jobs LATENCY_IN_FLIGHT at a time from one client.
 */

/** Services run warm: nats-server, the coordinator and the agents keep improving for ~1000 jobs after start. */
export const LATENCY_WARMUPS = 1000;
export const LATENCY_ITERATIONS = 1000;
const TARGET_P50_MS = 0.4;
const TARGET_P99_MS = 2;
const TARGET_SEQUENTIAL_JOBS_PER_S = 2_500;
const TARGET_IN_FLIGHT_JOBS_PER_S = 15_000;
/** Jobs started together (Promise.all) from one client, and how many such rounds (best of). */
export const LATENCY_IN_FLIGHT = 1000;
const IN_FLIGHT_ROUNDS = 3;
/**
 * Jobs started at once in the last step: far past what the coordinator admits (64 running,
 * 1,024 queued) and what a client sends at once (maxJobsInFlight): the rest wait in the client.
 */
export const MANY_AT_ONCE = 100_000;
const TINY = Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
const TINY_SUM = 36;

export interface LatencySamples {
  samplesMs: number[];
  /** Wall time of the LATENCY_ITERATIONS sequential jobs. */
  sequentialMs: number;
  /** Wall time of each round of LATENCY_IN_FLIGHT jobs at once. */
  inFlightRoundsMs: number[];
  /** Wall time of MANY_AT_ONCE jobs at once, every result checked. */
  manyAtOnceMs: number;
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
    const sequentialStart = performance.now();
    for (let i = 0; i < LATENCY_ITERATIONS; i++) {
      const start = performance.now();
      await once();
      samplesMs.push(performance.now() - start);
    }
    const sequentialMs = performance.now() - sequentialStart;
    const inFlightRoundsMs: number[] = [];
    for (let round = 0; round < IN_FLIGHT_ROUNDS; round++) {
      collectGarbage();
      const start = performance.now();
      await Promise.all(Array.from({ length: LATENCY_IN_FLIGHT }, once));
      inFlightRoundsMs.push(performance.now() - start);
    }
    collectGarbage();
    const manyStart = performance.now();
    await Promise.all(Array.from({ length: MANY_AT_ONCE }, once));
    const manyAtOnceMs = performance.now() - manyStart;
    return { samplesMs, sequentialMs, inFlightRoundsMs, manyAtOnceMs };
  } finally {
    await array.delete();
  }
}

export function latencyMeasurements(where: string, { samplesMs, sequentialMs, inFlightRoundsMs, manyAtOnceMs }: LatencySamples): Measurement[] {
  const p50 = percentile(samplesMs, 50);
  const p99 = percentile(samplesMs, 99);
  const sequential = (samplesMs.length / sequentialMs) * 1000;
  const inFlight = (LATENCY_IN_FLIGHT / Math.min(...inFlightRoundsMs)) * 1000;
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
    { benchmark: 'latency', subject: `reduce 'sum' of 8 f64, p99, ${where}`, value: p99, unit: 'ms', target: `≤ ${TARGET_P99_MS} ms`, pass: p99 <= TARGET_P99_MS, details },
    {
      benchmark: 'latency',
      subject: `reduce 'sum' of 8 f64, sequential jobs/s, ${where}`,
      value: sequential,
      unit: 'jobs/s',
      target: `≥ ${TARGET_SEQUENTIAL_JOBS_PER_S} jobs/s`,
      pass: sequential >= TARGET_SEQUENTIAL_JOBS_PER_S,
      details: { jobs: samplesMs.length, ms: sequentialMs },
    },
    {
      benchmark: 'latency',
      subject: `reduce 'sum' of 8 f64, ${LATENCY_IN_FLIGHT} in flight, jobs/s, ${where}`,
      value: inFlight,
      unit: 'jobs/s',
      target: `≥ ${TARGET_IN_FLIGHT_JOBS_PER_S} jobs/s`,
      pass: inFlight >= TARGET_IN_FLIGHT_JOBS_PER_S,
      details: { jobsPerRound: LATENCY_IN_FLIGHT, roundsMs: inFlightRoundsMs, best: 'of the rounds' },
    },
    {
      benchmark: 'latency',
      subject: `reduce 'sum' of 8 f64, ${MANY_AT_ONCE.toLocaleString('en-US')} at once (Promise.all), every result right, ${where}`,
      value: manyAtOnceMs / 1000,
      unit: 's',
      details: { jobs: MANY_AT_ONCE, jobsPerS: (MANY_AT_ONCE / manyAtOnceMs) * 1000 },
    },
  ];
}
