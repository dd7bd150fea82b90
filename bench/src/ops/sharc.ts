import { performance } from 'node:perf_hooks';
import { ArrayRef, type Cluster } from '@sharc/sdk';
import { testData32 } from '../data.js';
import { collectGarbage } from '../timing.js';
import { opKey, type OpDataset, type OpEntry, type OpInputs, type OpResult } from './list.js';

/** One op as sharc ran it, in the shape of the baselines' runs; `error` when the call failed. */
export interface SharcOpRun {
  key: string;
  runsMs: number[];
  bestMs: number;
  result: number[];
  error?: string;
}

/**
 * Runs every entry that has a `sharc` call on `cluster`: each dataset is stored once (one copy),
 * its entries run `warmups` untimed then `runs` timed times, and it is deleted again. A stored
 * array an op returns is deleted after each run, untimed; its checksum (`reduce 'sum'`) is the
 * result. An op that throws is reported as such and the others go on.
 */
export async function measureSharcOps(
  cluster: Cluster,
  data: Float64Array,
  entries: readonly OpEntry[],
  runs: number,
  warmups: number,
): Promise<Map<string, SharcOpRun>> {
  const measured = new Map<string, SharcOpRun>();
  const groups = new Map<string, OpEntry[]>();
  for (const entry of entries) {
    if (entry.sharc === undefined) continue;
    const group = `${entry.dataset}:${entry.dtype}`;
    groups.set(group, [...(groups.get(group) ?? []), entry]);
  }
  let data32: Float32Array | undefined; // made once, when the first float32 entry needs it
  for (const group of groups.values()) {
    const { dataset, dtype } = group[0]!;
    const values = dtype === 'float64' ? data : (data32 ??= testData32(2 * data.length));
    const stored = await store(cluster, dataset, values);
    try {
      for (const entry of group) measured.set(opKey(entry), await timeOp(cluster, entry, stored, runs, warmups));
    } finally {
      await Promise.all([stored.a, stored.b].map((array) => array?.delete()));
    }
  }
  return measured;
}

async function store(cluster: Cluster, dataset: OpDataset, values: Float64Array | Float32Array): Promise<OpInputs> {
  const once = { copies: 1 };
  switch (dataset) {
    case 'whole':
      return { a: await cluster.put(values, once) };
    case 'halves': {
      const half = values.length / 2;
      const a = await cluster.put(values.subarray(0, half), once);
      return { a, b: await cluster.put(values.subarray(half), once) };
    }
    case 'rows16':
    case 'rows256': {
      const cols = dataset === 'rows16' ? 16 : 256;
      return { a: await cluster.put(values, { ...once, shape: [values.length / cols, cols] }) };
    }
  }
}

async function timeOp(cluster: Cluster, entry: OpEntry, inputs: OpInputs, runs: number, warmups: number): Promise<SharcOpRun> {
  const key = opKey(entry);
  const runsMs: number[] = [];
  let result: number[] = [];
  try {
    for (let i = 0; i < warmups + runs; i++) {
      collectGarbage();
      const start = performance.now();
      const output = await entry.sharc!(cluster, inputs);
      const ms = performance.now() - start;
      if (i >= warmups) runsMs.push(ms);
      if (i === warmups + runs - 1) result = await resultOf(cluster, output);
      if (output instanceof ArrayRef) await output.delete();
    }
    return { key, runsMs, bestMs: Math.min(...runsMs), result };
  } catch (error) {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return { key, runsMs, bestMs: Number.NaN, result, error: message };
  }
}

/** A scalar or vector as numbers; a stored array as its checksum, the sum of its values. */
async function resultOf(cluster: Cluster, output: OpResult): Promise<number[]> {
  if (typeof output === 'number') return [output];
  if (output instanceof ArrayRef) return [Number(await cluster.reduce(output, 'sum'))];
  return Array.from(output, Number);
}
