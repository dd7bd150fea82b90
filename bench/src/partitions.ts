import { performance } from 'node:perf_hooks';
import type { Cluster } from '@sharc/sdk';
import type { Measurement } from './measurement.js';

/**
 * The cost of partitions: put, reduce 'sum', a built-in map (scale) and toArray of a small
 * array cut into 100 … 100,000 partitions. A job's cost per partition must be constant, so
 * the time per 1,000 partitions should stay flat along the curve.
 */

export const PARTITION_COUNTS = [100, 1_000, 10_000, 100_000] as const;
/** 2 MiB of float64: every partition holds at least 2 rows at 100,000 partitions. */
const ELEMENTS = 2 ** 18;
const TARGET_REDUCE_10K_MS = 300;
/** 100,000 partitions within this factor of 10,000 (10× the partitions: linear). */
const TARGET_100K_FACTOR = 10;
const STEPS = ['put', 'reduce', 'map', 'toArray'] as const;
type Step = (typeof STEPS)[number];

export type PartitionCurve = Array<{ partitions: number; ms: Record<Step, number> }>;

export async function measurePartitionCurve(cluster: Cluster, counts: readonly number[] = PARTITION_COUNTS): Promise<PartitionCurve> {
  const data = Float64Array.from({ length: ELEMENTS }, (_, i) => i % 8);
  const sum = data.reduce((total, x) => total + x, 0);
  const curve: PartitionCurve = [];
  // One round on few partitions first: services, kernels and connections warm.
  for (const partitions of [100, ...counts]) {
    const timed = async <T>(work: () => Promise<T>): Promise<[number, T]> => {
      const start = performance.now();
      const result = await work();
      return [performance.now() - start, result];
    };
    const [put, a] = await timed(() => cluster.put(data, { partitions }));
    try {
      const [reduce, total] = await timed(() => cluster.reduce(a, 'sum'));
      if (total !== sum) throw new Error(`reduce 'sum' over ${partitions} partitions returned ${String(total)}, expected ${sum}`);
      const [map, b] = await timed(() => a.scale(2));
      try {
        const [toArray, back] = await timed(() => b.toArray());
        if (back.length !== data.length || back[ELEMENTS - 1] !== data[ELEMENTS - 1]! * 2) throw new Error(`toArray after scale over ${partitions} partitions is wrong`);
        curve.push({ partitions, ms: { put, reduce, map, toArray } });
      } finally {
        await b.delete();
      }
    } finally {
      await a.delete();
    }
  }
  // The warm-up round is not kept.
  return curve.slice(1);
}

export function partitionMeasurements(where: string, curve: PartitionCurve): Measurement[] {
  const reduceAt = (n: number) => curve.find((point) => point.partitions === n)?.ms.reduce;
  const reduce10k = reduceAt(10_000);
  return curve.flatMap(({ partitions, ms }) =>
    STEPS.map((step): Measurement => {
      const value = ms[step];
      const perThousand = (value / partitions) * 1000;
      let target: Pick<Measurement, 'target' | 'pass'> = {};
      if (step === 'reduce' && partitions === 10_000) target = { target: `≤ ${TARGET_REDUCE_10K_MS} ms`, pass: value <= TARGET_REDUCE_10K_MS };
      if (step === 'reduce' && partitions === 100_000 && reduce10k !== undefined) {
        target = { target: `≤ ${TARGET_100K_FACTOR}× 10,000's (${(TARGET_100K_FACTOR * reduce10k).toFixed(0)} ms)`, pass: value <= TARGET_100K_FACTOR * reduce10k };
      }
      return {
        benchmark: 'partitions',
        subject: `${step} of 2 MiB f64 in ${partitions.toLocaleString('en-US')} partitions (${perThousand.toFixed(0)} ms per 1,000), ${where}`,
        value,
        unit: 'ms',
        ...target,
        details: { partitions, msPer1000Partitions: perThousand },
      };
    }),
  );
}
