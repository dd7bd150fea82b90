import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { MAX_PARTITIONS, SharcError, connectNats, subjectFor } from '@sharc/protocol';
import { connect } from '@sharc/sdk';
import { ProtocolClient, startProcessCluster, startSimulatedAgents, type ServiceProcess } from '@sharc/test-support';
import type { CleanupStack } from './cleanup.js';
import type { Measurement } from './measurement.js';
import { percentile } from './timing.js';

/**
 * Benchmark "scale": a real nats-server and coordinator process against 10, 100 and 1,000
 * simulated agents (the real protocol over one NATS connection each, no partition bytes: see
 * @sharc/test-support's SimulatedAgent), in two processes: 90 % of the agents in one, 10 % in
 * the other, which is SIGKILLed to kill 10 % of the agents at once.
 */
export const SCALE_AGENT_COUNTS = [10, 100, 1000] as const;
/** The big array: 100,000 partitions where the protocol allows that many. */
export const SCALE_PARTITIONS = Math.min(Number(process.env.SHARC_BENCH_SCALE_PARTITIONS ?? 100_000), MAX_PARTITIONS);
const ELEMENTS_PER_PARTITION = 8;
const COPIES = 2;
const TINY_JOB_RUNS = 20;
/** Reduces over the big array (SHARC_BENCH_SCALE_BIG_JOBS=0 leaves them out, to measure the deaths alone). */
const BIG_JOB_RUNS = Number(process.env.SHARC_BENCH_SCALE_BIG_JOBS ?? 2);
const IDLE_SAMPLE_MS = 2_000;
const POLL_MS = 50;
/** The coordinator's liveness window and the agents' heartbeat period (their defaults). */
const DEAD_AFTER_MS = 3_000;
const HEARTBEAT_MS = 1_000;
/** A step that takes longer than this failed (the whole section must stay near 90 s). */
const STEP_TIMEOUT_MS = 30_000;
const CLOCK_TICKS_PER_SECOND = 100;

export interface ScaleRow {
  agents: number;
  /** From starting the agent processes until nodes() lists every agent alive. */
  registrationMs: number;
  /** agent.heartbeat messages the coordinator's agent subject carried per second at idle. */
  heartbeatsPerSecond: number;
  idle: ProcessLoad;
  /** array.create (every copy allocated on its agent) and array.commit (sealed) of the big array. */
  placeMs: number;
  placeLoad: ProcessLoad;
  /** reduce 'sum' over an array of one partition per agent, through the SDK: p50 and p99. */
  tinyJobP50Ms: number;
  tinyJobP99Ms: number;
  /** reduce 'sum' over the big array: best of BIG_JOB_RUNS (Infinity when each failed). */
  bigJobMs: number;
  jobLoad: ProcessLoad;
  killed: number;
  /** From SIGKILL until nodes() lists every killed agent dead. */
  detectMs: number;
  /** Until every partition with a copy left is served by a live agent. */
  servedMs: number;
  /** Until every such partition has its COPIES copies on live agents again. */
  copiedMs: number;
  /** Partitions whose every copy was on a killed agent (served again only if those agents come back); NaN when never seen. */
  lostPartitions: number;
  /** Coordinator CPU over recovery (from SIGKILL until every partition has its copies again) and its peak RSS (VmHWM) by then. */
  recoveryLoad: ProcessLoad;
  /** Every reduce returned the element count (the fill rule: every element is 1). */
  correct: boolean;
}

interface ProcessLoad {
  /** Coordinator CPU, % of one core, over the step. */
  cpuPercent: number;
  /** Coordinator resident memory at the end of the step. */
  rssMiB: number;
}

async function cpuTicks(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

async function rssMiB(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

/** Runs `work` and measures the coordinator's CPU over it and its RSS after it. */
async function underLoad<T>(pid: number, work: () => Promise<T>): Promise<{ result: T; load: ProcessLoad; ms: number }> {
  const ticks = await cpuTicks(pid);
  const start = performance.now();
  const result = await work();
  const ms = performance.now() - start;
  const used = (await cpuTicks(pid)) - ticks;
  return { result, ms, load: { cpuPercent: (100 * used * 1000) / CLOCK_TICKS_PER_SECOND / Math.max(ms, 1), rssMiB: await rssMiB(pid) } };
}

async function withTimeout<T>(what: string, work: Promise<T>, ms = STEP_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took over ${ms / 1000} s`)), ms)));
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Polls `check` until it holds: the time it took, or NaN when it did not within STEP_TIMEOUT_MS
 * (the row says so). A retryable refusal (a coordinator so busy its lease lapsed) is a "not yet".
 */
async function until(check: () => Promise<boolean>): Promise<number> {
  const start = performance.now();
  for (let left = STEP_TIMEOUT_MS; left > 0; left = STEP_TIMEOUT_MS - (performance.now() - start)) {
    // A coordinator busy for long answers a poll late: its time counts against the step's.
    const asked = check().catch((error: unknown) => {
      if (error instanceof SharcError && error.retryable) return false;
      throw error;
    });
    const held = await withTimeout('poll', asked, left).catch((error: unknown) => {
      if (error instanceof Error && error.message.startsWith('poll took over')) return false;
      throw error;
    });
    if (held) return performance.now() - start;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return NaN;
}

/** Counts the messages on the coordinator's agent subject (heartbeats, at idle) over `ms`. */
async function heartbeatRate(url: string, ms: number): Promise<number> {
  const transport = await connectNats({ servers: url, name: 'bench-heartbeat-counter' });
  let count = 0;
  const stop = transport.subscribe(subjectFor('default', { to: 'coordinator', verb: 'agent' }), () => void count++);
  await transport.flush?.();
  await new Promise((resolve) => setTimeout(resolve, ms));
  stop();
  await transport.close();
  return (count * 1000) / ms;
}

export async function measureScale(cleanup: CleanupStack, agentCount: number, progress: (message: string) => void): Promise<ScaleRow> {
  const processes = await startProcessCluster({ agents: 0 });
  const stopCluster = cleanup.defer('scale cluster', () => processes.stop());
  const groups: ServiceProcess[] = [];
  const stopGroups = cleanup.defer('simulated agents', async () => {
    await Promise.all(groups.map((group) => group.stop()));
  });
  const client = await ProtocolClient.connect(processes.url);
  const sdk = await connect({ servers: processes.url });
  try {
    const pid = processes.coordinator.pid!;
    const killed = Math.max(1, Math.round(agentCount / 10));
    const survivors = agentCount - killed;
    const started = performance.now();
    const [live, doomed] = await Promise.all([
      startSimulatedAgents({ servers: processes.url, prefix: 'live', count: survivors, heartbeatMs: HEARTBEAT_MS }),
      startSimulatedAgents({ servers: processes.url, prefix: 'doomed', count: killed, heartbeatMs: HEARTBEAT_MS }),
    ]);
    groups.push(live, doomed);
    if (Number.isNaN(await until(async () => (await client.nodes()).filter((n) => n.state === 'alive').length === agentCount))) {
      throw new Error(`not every one of ${agentCount} agents was registered within ${STEP_TIMEOUT_MS / 1000} s`);
    }
    const registrationMs = performance.now() - started;
    progress(`scale ${agentCount}: registered in ${registrationMs.toFixed(0)} ms`);

    await new Promise((resolve) => setTimeout(resolve, HEARTBEAT_MS));
    const idle = await underLoad(pid, () => heartbeatRate(processes.url, IDLE_SAMPLE_MS));
    let correct = true;

    const placed = await underLoad(pid, () =>
      withTimeout('placement', client.placeArray({ name: 'big', dtype: 'float64', shape: [SCALE_PARTITIONS * ELEMENTS_PER_PARTITION], partitions: SCALE_PARTITIONS, copies: COPIES })),
    );
    progress(`scale ${agentCount}: placed ${SCALE_PARTITIONS} partitions in ${placed.ms.toFixed(0)} ms`);
    await client.placeArray({ name: 'tiny', dtype: 'float64', shape: [agentCount * ELEMENTS_PER_PARTITION], partitions: agentCount, copies: 1 });

    const jobs = await underLoad(pid, async () => {
      const tiny = await sdk.open('tiny');
      const tinyMs: number[] = [];
      for (let i = 0; i < TINY_JOB_RUNS; i++) {
        const start = performance.now();
        const sum = await sdk.reduce(tiny, 'sum');
        correct &&= sum === agentCount * ELEMENTS_PER_PARTITION;
        tinyMs.push(performance.now() - start);
      }
      const big = await sdk.open('big');
      let bigJobMs = Infinity;
      for (let i = 0; i < BIG_JOB_RUNS; i++) {
        const start = performance.now();
        try {
          const sum = await withTimeout('reduce over the big array', sdk.reduce(big, 'sum'));
          correct &&= sum === SCALE_PARTITIONS * ELEMENTS_PER_PARTITION;
          bigJobMs = Math.min(bigJobMs, performance.now() - start);
        } catch (error) {
          // Shown as a failed job (not right, no time); the deaths and recovery are still measured.
          progress(`scale ${agentCount}: reduce over the big array failed: ${(error as Error).message}`);
          correct = false;
        }
      }
      return { tinyMs, bigJobMs };
    });
    progress(`scale ${agentCount}: jobs done`);

    // 10 % of the agents die at once.
    const killedAt = performance.now();
    const ticksAtKill = await cpuTicks(pid);
    await doomed.kill();
    const detectMs = await until(async () => (await client.nodes()).filter((n) => n.state === 'dead').length === killed);
    const copies = { served: NaN, copied: NaN, lost: NaN };
    await until(async () => {
      const alive = new Set((await client.nodes()).filter((n) => n.state === 'alive').map((n) => n.id));
      const big = (await client.list()).find((array) => array.name === 'big');
      if (big === undefined) throw new Error('the big array is gone');
      let unserved = 0;
      let short = 0;
      let lost = 0;
      for (const p of big.partitions) {
        const holders = [p.agentId, ...(p.replicas ?? [])];
        const live = holders.filter((id) => alive.has(id)).length;
        if (live === 0) lost++;
        else if (!alive.has(p.agentId)) unserved++;
        else if (live < COPIES) short++;
      }
      const now = performance.now() - killedAt;
      if (unserved === 0 && Number.isNaN(copies.served)) copies.served = now;
      copies.lost = lost;
      if (unserved === 0 && short === 0) copies.copied = now;
      return !Number.isNaN(copies.copied);
    });
    const recoveryMs = performance.now() - killedAt;
    const recoveryLoad = {
      cpuPercent: (100 * ((await cpuTicks(pid)) - ticksAtKill) * 1000) / CLOCK_TICKS_PER_SECOND / Math.max(recoveryMs, 1),
      rssMiB: await rssMiB(pid, 'VmHWM'),
    };
    return {
      agents: agentCount,
      registrationMs,
      heartbeatsPerSecond: idle.result,
      idle: idle.load,
      placeMs: placed.ms,
      placeLoad: placed.load,
      tinyJobP50Ms: percentile(jobs.result.tinyMs, 50),
      tinyJobP99Ms: percentile(jobs.result.tinyMs, 99),
      bigJobMs: jobs.result.bigJobMs,
      jobLoad: jobs.load,
      killed,
      detectMs: detectMs,
      servedMs: copies.served,
      copiedMs: copies.copied,
      lostPartitions: copies.lost,
      recoveryLoad,
      correct,
    };
  } finally {
    await sdk.close().catch(() => undefined);
    await client.close().catch(() => undefined);
    await stopGroups();
    await stopCluster();
  }
}

/** The scale table: one row per agent count. */
export function scaleTextTable(rows: readonly ScaleRow[]): string {
  const header = [
    'agents', 'register', 'beats/s', 'idle CPU', 'idle RSS', `place ${SCALE_PARTITIONS / 1000}k`, 'place CPU', 'place RSS',
    'tiny p50', 'tiny p99', `reduce ${SCALE_PARTITIONS / 1000}k`, 'jobs CPU', 'killed', 'detect', 'served', 'copied', 'lost', 'recovery CPU', 'peak RSS', 'right',
  ];
  const ms = (value: number) => (Number.isFinite(value) ? (value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${value.toFixed(1)} ms`) : `> ${STEP_TIMEOUT_MS / 1000} s`);
  const body = rows.map((row) => [
    String(row.agents), ms(row.registrationMs), row.heartbeatsPerSecond.toFixed(0), `${row.idle.cpuPercent.toFixed(1)} %`, `${row.idle.rssMiB.toFixed(0)} MiB`,
    ms(row.placeMs), `${row.placeLoad.cpuPercent.toFixed(0)} %`, `${row.placeLoad.rssMiB.toFixed(0)} MiB`,
    ms(row.tinyJobP50Ms), ms(row.tinyJobP99Ms), ms(row.bigJobMs), `${row.jobLoad.cpuPercent.toFixed(0)} %`,
    String(row.killed), ms(row.detectMs), ms(row.servedMs), ms(row.copiedMs), Number.isNaN(row.lostPartitions) ? '—' : String(row.lostPartitions),
    `${row.recoveryLoad.cpuPercent.toFixed(0)} %`, `${row.recoveryLoad.rssMiB.toFixed(0)} MiB`, row.correct ? 'yes' : 'NO',
  ]);
  const widths = header.map((title, i) => Math.max(title.length, ...body.map((cells) => cells[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

/** Rows for results.json and the main table: detection against the liveness guarantee. */
export function scaleMeasurements(rows: readonly ScaleRow[]): Measurement[] {
  return rows.flatMap((row) => {
    const where = `${row.agents} simulated agents`;
    const detectTarget = DEAD_AFTER_MS + HEARTBEAT_MS;
    return [
      { benchmark: 'scale', subject: `registration, ${where}`, value: row.registrationMs, unit: 'ms', details: { ...row } },
      { benchmark: 'scale', subject: `coordinator CPU at idle, ${where}`, value: row.idle.cpuPercent, unit: '% of a core' },
      { benchmark: 'scale', subject: `tiny reduce over all agents p50, ${where}`, value: row.tinyJobP50Ms, unit: 'ms' },
      {
        benchmark: 'scale',
        subject: `${row.killed} of ${row.agents} killed at once: all detected dead`,
        value: row.detectMs,
        unit: 'ms',
        target: `≤ ${detectTarget} ms`,
        pass: row.detectMs <= detectTarget,
      },
      { benchmark: 'scale', subject: `every result right, ${where}`, value: row.correct ? 1 : 0, unit: '', target: 'yes', pass: row.correct },
    ] satisfies Measurement[];
  });
}
