import { readFile } from 'node:fs/promises';
import type { CleanupStack } from './cleanup.js';
import { onlyAgentPid, withProcessCluster } from './clusters.js';
import { GIB, MIB } from './data.js';
import type { Measurement } from './measurement.js';
import { sleep } from './timing.js';

/**
 * Benchmark 4, agent memory: one agent process holding 1 GiB after a reduce has run on every
 * worker thread. Its resident memory should be the data plus a fixed overhead, whatever the
 * thread count: threads share the partitions' SharedArrayBuffers instead of copying them.
 */

export const THREAD_COUNTS = [1, 2, 8] as const;
/** 1.05 × the data + 150 MiB for node, V8 heaps of the threads, sockets. */
export const RSS_LIMIT_BYTES = 1.05 * GIB + 150 * MIB;
/** Largest allowed deviation of RSS from the 1-thread figure. */
const MAX_SPREAD = 0.05;
/** Lets the agent drop the socket buffers of the put before RSS is read. */
const SETTLE_MS = 500;

export interface AgentMemory {
  threads: number;
  rssBytes: number;
  peakRssBytes: number;
}

/** For each thread count, a fresh 1-agent cluster: put `data`, reduce 'sumsq', read the agent's VmRSS. */
export async function measureAgentMemory(data: Float64Array, cleanup: CleanupStack): Promise<AgentMemory[]> {
  const results: AgentMemory[] = [];
  for (const threads of THREAD_COUNTS) {
    results.push(
      await withProcessCluster(cleanup, { agents: 1, threads }, async (cluster, processes) => {
        const array = await cluster.put(data);
        try {
          await cluster.reduce(array, 'sumsq');
          await sleep(SETTLE_MS);
          const status = await processStatus(onlyAgentPid(processes));
          return { threads, rssBytes: status.VmRSS, peakRssBytes: status.VmHWM };
        } finally {
          await array.delete();
        }
      }),
    );
  }
  return results;
}

/** The VmRSS and VmHWM lines of /proc/<pid>/status, in bytes. */
export async function processStatus(pid: number): Promise<{ VmRSS: number; VmHWM: number }> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  const kibibytes = (field: string) => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(text);
    if (match?.[1] === undefined) throw new Error(`/proc/${pid}/status has no ${field} line`);
    return Number(match[1]) * 1024;
  };
  return { VmRSS: kibibytes('VmRSS'), VmHWM: kibibytes('VmHWM') };
}

export function agentMemoryMeasurements(results: AgentMemory[]): Measurement[] {
  const limitMiB = RSS_LIMIT_BYTES / MIB;
  const rows: Measurement[] = results.map((result) => ({
    benchmark: 'memory',
    subject: `agent RSS holding 1 GiB after reduce, threads=${result.threads}`,
    value: result.rssBytes / MIB,
    unit: 'MiB',
    target: `≤ ${limitMiB.toFixed(1)} MiB`,
    pass: result.rssBytes <= RSS_LIMIT_BYTES,
    details: { peakRssMiB: result.peakRssBytes / MIB, overheadMiB: (result.rssBytes - GIB) / MIB },
  }));
  const reference = results[0];
  if (reference !== undefined) {
    const deviations = results.map((result) => (result.rssBytes - reference.rssBytes) / reference.rssBytes);
    const spread = deviations.reduce((widest, d) => (Math.abs(d) > Math.abs(widest) ? d : widest), 0);
    rows.push({
      benchmark: 'memory',
      subject: `agent RSS spread over threads=${THREAD_COUNTS.join(',')} (vs threads=${reference.threads})`,
      value: spread * 100,
      unit: '%',
      target: `within ±${MAX_SPREAD * 100} %`,
      pass: Math.abs(spread) <= MAX_SPREAD,
      details: { deviationsPercent: deviations.map((d) => d * 100) },
    });
    // The zero-copy proof in absolute terms: what one more worker thread costs, next to the
    // 1 GiB a per-thread copy of the partitions would cost.
    const most = results.reduce((a, b) => (b.threads > a.threads ? b : a), reference);
    if (most.threads > reference.threads) {
      rows.push({
        benchmark: 'memory',
        subject: `RSS added per extra worker thread (threads=${reference.threads} → ${most.threads}; a copy of the data would add 1024 MiB)`,
        value: (most.rssBytes - reference.rssBytes) / (most.threads - reference.threads) / MIB,
        unit: 'MiB',
      });
    }
  }
  return rows;
}
