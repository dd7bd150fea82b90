#!/usr/bin/env node
/**
 * The fault client: a user's program that keeps working while the test process breaks the
 * cluster under it. Started by the netns backend in the client namespace (startFaultClient);
 * prints JSON event lines (client-io.ts), the last `{ "event": "result", ... }`, and exits 0,
 * or says why on stderr and exits 1. What is checked against local computations is in `checks`;
 * the test asserts on them and on the raw reports.
 *
 *   fault-client.js kill      --servers URL --job reduce|map --victim AGENT
 *       a slow job over 12 partitions; prints "running" once its first blocks are done (the test
 *       SIGKILLs the victim then); checks the result, then the arrays read back exactly.
 *   fault-client.js partition --servers URL --victim AGENT
 *       a long reduce, once without a fault (its duration is the baseline), then again: prints
 *       "running" (the test cuts the victim's network, 10 s); watches
 *       nodes() for the victim going dead and coming back; returns the block reports and memory.
 *   fault-client.js coordinator --servers URL --job reduce|map
 *       a slow job; prints "running" (the test SIGKILLs the coordinator and starts a new one,
 *       which resumes the job from JetStream); checks the result and the arrays.
 *   fault-client.js blip      --servers URL --job reduce|map [--retry]
 *       a slow job; prints "running" (the test kills nats-server and starts it again after a
 *       pause); checks the result (with --retry, a retryable error is allowed once, and the job
 *       is run again), that no job is left running, and the arrays.
 *   fault-client.js chaos     --servers URL [--min-jobs N] [--max-ms MS]
 *       small jobs until "stop" arrives on stdin (see chaos-jobs.ts).
 *   fault-client.js alive     --servers URL --agents A,B,C [--clean]
 *       waits until those agents are alive; --clean then deletes every array
 */
import { parseArgs } from 'node:util';
import { holdersOf } from '@sharc/protocol';
import { connect, type ArrayRef, type Cluster } from '@sharc/sdk';
import { runChaos } from './chaos-jobs.js';
import { Commands, emit, sleep, stateIs, untilNodes, type Sighting } from './client-io.js';
import { FAULT_KERNELS, coverageProblem, faultData, firstDifference, localAffine, localSum } from './fault-data.js';
import type { BlockReport } from './kernels/fault-kernels.js';

const CONNECT_TIMEOUT_MS = 10_000;
/** Far above any job here: a job that hangs fails instead of waiting forever. */
const JOB_TIMEOUT_MS = 120_000;
/** A generous bound on the cluster's verdict on a returning agent (its liveness window is 3 s). */
const REJOIN_WAIT_MS = 40_000;
/** Agents report their memory in heartbeats, once a second. */
const MEMORY_WAIT_MS = 15_000;
const POLL_MS = 250;
const COLS = 4;
const REPORT = { module: FAULT_KERNELS, partial: 'reportBlock', combine: 'concatReports' } as const;

interface Check {
  ok: boolean;
  detail?: string;
}

const check = (problem: string | undefined, okDetail?: string): Check => (problem === undefined ? { ok: true, ...(okDetail === undefined ? {} : { detail: okDetail }) } : { ok: false, detail: problem });

/** What a slow job is made of: rows split into one-block partitions, each taking `ms`. */
interface SlowJob {
  rows: number;
  partitions: number;
  ms: number;
  seed: number;
}

const KILL_JOB: SlowJob = { rows: 12_000, partitions: 12, ms: 1500, seed: 71 };
const PARTITION_JOB: SlowJob = { rows: 24_000, partitions: 24, ms: 2000, seed: 73 };

/** Puts the job's array (2 copies) and runs its kernel once quickly, so every agent has it cached before the slow run. */
async function prepare(cluster: Cluster, job: SlowJob, name: string, victim: string, kind: 'reduce' | 'map') {
  const data = faultData(job.seed, job.rows * COLS);
  const input = await cluster.put(data, { shape: [job.rows, COLS], partitions: job.partitions, copies: 2, name, timeoutMs: JOB_TIMEOUT_MS });
  const single = input.placement.filter((p) => new Set(holdersOf(p)).size !== 2).map((p) => p.index);
  const victimPartitions = input.placement.filter((p) => p.agentId === victim).map((p) => p.index);
  if (victimPartitions.length === 0) throw new Error(`${victim} serves no partition of ${name}: ${JSON.stringify(input.placement)}`);
  if (kind === 'reduce') await cluster.reduce(input, { ...REPORT, params: { ms: 0 } }, { timeoutMs: JOB_TIMEOUT_MS });
  else await (await cluster.map(input, { module: FAULT_KERNELS, kernel: 'slowAffine', params: { ms: 0 } }, { timeoutMs: JOB_TIMEOUT_MS })).delete();
  return { data, input, victimPartitions, copies: check(single.length === 0 ? undefined : `partitions ${single.join(', ')} lack a second copy on another agent`) };
}

/** Job options that print "running" once the first block is done: the job is computing on every agent. */
function announcingProgress(victim: string, victimPartitions: number[]) {
  let announced = false;
  return {
    timeoutMs: JOB_TIMEOUT_MS,
    onProgress: (done: number, total: number) => {
      if (done < 1 || announced) return;
      announced = true;
      emit('running', { victim, victimPartitions, done, total });
    },
  };
}

/** After the victim's death: the input (and output) are served elsewhere and read back exactly. */
async function checkIntact(cluster: Cluster, name: string, expected: Float64Array, victim: string, checks: Record<string, Check>, label: string) {
  const ref = await cluster.open(name);
  const stillOnVictim = ref.placement.filter((p) => p.agentId === victim).map((p) => p.index);
  checks[`${label}Moved`] = check(stillOnVictim.length === 0 ? undefined : `partitions ${stillOnVictim.join(', ')} still served by ${victim}`);
  checks[`${label}ReadBack`] = check(firstDifference(await ref.toArray({ timeoutMs: JOB_TIMEOUT_MS }), expected), `${expected.length} values equal`);
  return ref;
}

/**
 * Watches nodes() while a job runs (the test strikes once "running" is out): when the victim is
 * first seen dead, and (with `rejoin`) alive again after that.
 */
async function watchVictim(cluster: Cluster, victim: string, rejoin: boolean): Promise<{ deadSeen: Sighting; aliveSeen?: Sighting }> {
  const dead = await untilNodes(cluster, `${victim} reported dead`, (n) => stateIs(n, victim, 'dead'), JOB_TIMEOUT_MS);
  emit('dead', { seen: dead.seen });
  if (!rejoin) return { deadSeen: dead.seen };
  const alive = await untilNodes(cluster, `${victim} alive again`, (n) => stateIs(n, victim, 'alive'), JOB_TIMEOUT_MS + REJOIN_WAIT_MS);
  emit('rejoined', { seen: alive.seen });
  return { deadSeen: dead.seen, aliveSeen: alive.seen };
}

async function killDuringJob(cluster: Cluster, kind: 'reduce' | 'map', victim: string): Promise<Record<string, unknown>> {
  const name = `kill-${kind}`;
  const { data, input, victimPartitions, copies } = await prepare(cluster, KILL_JOB, name, victim, kind);
  const checks: Record<string, Check> = { copies };
  const options = announcingProgress(victim, victimPartitions);
  const startedAt = Date.now();
  const watch = watchVictim(cluster, victim, false);
  let reports: BlockReport[] = [];
  let output: ArrayRef | undefined;
  if (kind === 'reduce') reports = await cluster.reduce<BlockReport[]>(input, { ...REPORT, params: { ms: KILL_JOB.ms } }, options);
  else output = await cluster.map(input, { module: FAULT_KERNELS, kernel: 'slowAffine', params: { ms: KILL_JOB.ms } }, { name: `${name}-out`, ...options });
  const doneAt = Date.now();
  const { deadSeen } = await watch;
  if (kind === 'reduce') checks.eachRowOnce = check(coverageProblem(reports, KILL_JOB.rows, COLS), `${reports.length} blocks cover ${KILL_JOB.rows} rows once`);
  if (output !== undefined) await checkIntact(cluster, output.name, localAffine(data), victim, checks, 'output');
  const reopened = await checkIntact(cluster, name, data, victim, checks, 'input');
  const sum = await cluster.reduce(reopened, 'sum', { timeoutMs: JOB_TIMEOUT_MS });
  checks.sum = check(sum === localSum(data) ? undefined : `sum ${sum}, expected ${localSum(data)}`);
  if (output !== undefined) await output.delete();
  await reopened.delete();
  return { checks, reports, victimPartitions, placement: input.placement, startedAt, doneAt, deadSeen };
}

/** A slow job while the test SIGKILLs the coordinator and starts a new one: the new one resumes it. */
async function coordinatorDiesDuringJob(cluster: Cluster, kind: 'reduce' | 'map'): Promise<Record<string, unknown>> {
  const name = `coordinator-${kind}`;
  const data = faultData(KILL_JOB.seed, KILL_JOB.rows * COLS);
  const input = await cluster.put(data, { shape: [KILL_JOB.rows, COLS], partitions: KILL_JOB.partitions, name, timeoutMs: JOB_TIMEOUT_MS });
  if (kind === 'reduce') await cluster.reduce(input, { ...REPORT, params: { ms: 0 } }, { timeoutMs: JOB_TIMEOUT_MS });
  else await (await cluster.map(input, { module: FAULT_KERNELS, kernel: 'slowAffine', params: { ms: 0 } }, { timeoutMs: JOB_TIMEOUT_MS })).delete();
  const checks: Record<string, Check> = {};
  const options = announcingProgress('coordinator', []);
  const startedAt = Date.now();
  let output: ArrayRef | undefined;
  if (kind === 'reduce') {
    const reports = await cluster.reduce<BlockReport[]>(input, { ...REPORT, params: { ms: KILL_JOB.ms } }, options);
    checks.eachRowOnce = check(coverageProblem(reports, KILL_JOB.rows, COLS), `${reports.length} blocks cover ${KILL_JOB.rows} rows once`);
  } else {
    output = await cluster.map(input, { module: FAULT_KERNELS, kernel: 'slowAffine', params: { ms: KILL_JOB.ms } }, { name: `${name}-out`, ...options });
  }
  const doneAt = Date.now();
  if (output !== undefined) {
    const stored = await cluster.open(output.name);
    checks.outputReadBack = check(firstDifference(await stored.toArray({ timeoutMs: JOB_TIMEOUT_MS }), localAffine(data)), 'the resumed map output is stored and exact');
    await stored.delete();
  }
  const reopened = await cluster.open(name);
  checks.inputReadBack = check(firstDifference(await reopened.toArray({ timeoutMs: JOB_TIMEOUT_MS }), data), `${data.length} values equal`);
  const sum = await cluster.reduce(reopened, 'sum', { timeoutMs: JOB_TIMEOUT_MS });
  checks.sum = check(sum === localSum(data) ? undefined : `sum ${sum}, expected ${localSum(data)}`);
  await reopened.delete();
  return { checks, startedAt, doneAt };
}

/**
 * A slow job while the test stops nats-server for a while: the job's answer is right (an outage
 * within the liveness window is only latency); with `retry`, a longer outage may fail it, but
 * only with a retryable error, and the same job then runs right. Afterwards no job is left
 * holding a slot and the arrays read back exactly.
 */
async function blipDuringJob(cluster: Cluster, kind: 'reduce' | 'map', retry: boolean): Promise<Record<string, unknown>> {
  const name = `blip-${kind}`;
  const data = faultData(KILL_JOB.seed, KILL_JOB.rows * COLS);
  const input = await cluster.put(data, { shape: [KILL_JOB.rows, COLS], partitions: KILL_JOB.partitions, name, timeoutMs: JOB_TIMEOUT_MS });
  if (kind === 'reduce') await cluster.reduce(input, { ...REPORT, params: { ms: 0 } }, { timeoutMs: JOB_TIMEOUT_MS });
  else await (await cluster.map(input, { module: FAULT_KERNELS, kernel: 'slowAffine', params: { ms: 0 } }, { timeoutMs: JOB_TIMEOUT_MS })).delete();
  const checks: Record<string, Check> = {};
  const startedAt = Date.now();
  const run = async (options: { timeoutMs: number; onProgress?: (done: number, total: number) => void }) => {
    if (kind === 'reduce') {
      const reports = await cluster.reduce<BlockReport[]>(input, { ...REPORT, params: { ms: KILL_JOB.ms } }, options);
      checks.eachRowOnce = check(coverageProblem(reports, KILL_JOB.rows, COLS), `${reports.length} blocks cover ${KILL_JOB.rows} rows once`);
      return undefined;
    }
    return cluster.map(input, { module: FAULT_KERNELS, kernel: 'slowAffine', params: { ms: KILL_JOB.ms } }, { ...options, name: `${name}-out` });
  };
  let failedWith: string | undefined;
  let output: ArrayRef | undefined;
  try {
    output = await run(announcingProgress('nats-server', []));
  } catch (error) {
    const { name: errorName, message, retryable } = error as Error & { retryable?: boolean };
    failedWith = `${errorName}: ${message}`;
    if (!retry || retryable !== true) throw error;
    emit('retrying', { error: failedWith });
    output = await run({ timeoutMs: JOB_TIMEOUT_MS });
  }
  const doneAt = Date.now();
  if (output !== undefined) {
    checks.outputReadBack = check(firstDifference(await output.toArray({ timeoutMs: JOB_TIMEOUT_MS }), localAffine(data)), 'the map output is exact');
    await output.delete();
  }
  // The job's running slot is free again: nothing is left running or queued.
  const deadline = Date.now() + MEMORY_WAIT_MS;
  let left = await cluster.runningJobs();
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(POLL_MS);
    left = await cluster.runningJobs();
  }
  checks.noJobLeft = check(left.length === 0 ? undefined : `jobs still listed after the blip: ${JSON.stringify(left)}`);
  const reopened = await cluster.open(name);
  checks.inputReadBack = check(firstDifference(await reopened.toArray({ timeoutMs: JOB_TIMEOUT_MS }), data), `${data.length} values equal`);
  const sum = await cluster.reduce(reopened, 'sum', { timeoutMs: JOB_TIMEOUT_MS });
  checks.sum = check(sum === localSum(data) ? undefined : `sum ${sum}, expected ${localSum(data)}`);
  await reopened.delete();
  return { checks, startedAt, doneAt, failedWith };
}

async function partitionDuringReduce(cluster: Cluster, victim: string): Promise<Record<string, unknown>> {
  const name = 'partitioned';
  const { data, input, victimPartitions, copies } = await prepare(cluster, PARTITION_JOB, name, victim, 'reduce');
  const checks: Record<string, Check> = { copies };
  const usedBefore = (await victimMemory(cluster, victim)).used;
  // The same job without a fault first: what the cut costs is the difference.
  const baselineStartedAt = Date.now();
  const baseline = await cluster.reduce<BlockReport[]>(input, { ...REPORT, params: { ms: PARTITION_JOB.ms } }, { timeoutMs: JOB_TIMEOUT_MS });
  const baselineMs = Date.now() - baselineStartedAt;
  checks.baselineEachRowOnce = check(coverageProblem(baseline, PARTITION_JOB.rows, COLS));
  const startedAt = Date.now();
  let doneAt: number | undefined;
  const job = cluster.reduce<BlockReport[]>(input, { ...REPORT, params: { ms: PARTITION_JOB.ms } }, announcingProgress(victim, victimPartitions));
  job.then(() => (doneAt = Date.now())).catch(() => undefined);
  const watch = watchVictim(cluster, victim, true);
  const reports = await job;
  emit('done', { doneAt });
  checks.eachRowOnce = check(coverageProblem(reports, PARTITION_JOB.rows, COLS), `${reports.length} blocks cover ${PARTITION_JOB.rows} rows once`);
  const { deadSeen, aliveSeen } = await watch;
  const after = await cluster.open(name);
  // Back, it keeps only the copies the coordinator still places on it (no stale partitions).
  const memory = await victimMemory(cluster, victim);
  checks.memory = check(memory.used === memory.placed ? undefined : `${victim} uses ${memory.used} bytes; the coordinator places ${memory.placed} on it`, `${memory.used} bytes used = placed`);
  checks.inputReadBack = check(firstDifference(await after.toArray({ timeoutMs: JOB_TIMEOUT_MS }), data), `${data.length} values equal`);
  const sum = await cluster.reduce(after, 'sum', { timeoutMs: JOB_TIMEOUT_MS });
  checks.sum = check(sum === localSum(data) ? undefined : `sum ${sum}, expected ${localSum(data)}`);
  await after.delete();
  return { checks, reports, victimPartitions, placementBefore: input.placement, placementAfter: after.placement, startedAt, doneAt, baselineMs, deadSeen, aliveSeen, memory: { ...memory, usedBefore } };
}

/**
 * What the agent uses (its heartbeats, up to a second late) and what the coordinator places on
 * it (every copy of every array), polled until they agree or MEMORY_WAIT_MS is up.
 */
async function victimMemory(cluster: Cluster, victim: string): Promise<{ used: number | undefined; placed: number }> {
  const deadline = Date.now() + MEMORY_WAIT_MS;
  for (;;) {
    const arrays = await cluster.list();
    const placed = arrays.flatMap((a) => a.placement).filter((p) => holdersOf(p).includes(victim)).reduce((n, p) => n + p.byteLength, 0);
    const used = (await cluster.nodes()).find((n) => n.id === victim)?.usedBytes;
    if (used === placed || Date.now() > deadline) return { used, placed };
    await sleep(POLL_MS);
  }
}

async function main(): Promise<Record<string, unknown>> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      servers: { type: 'string' },
      job: { type: 'string' },
      victim: { type: 'string' },
      agents: { type: 'string' },
      'min-jobs': { type: 'string' },
      'max-ms': { type: 'string' },
      clean: { type: 'boolean' },
      retry: { type: 'boolean' },
    },
  });
  const [command] = positionals;
  if (values.servers === undefined) throw new Error('--servers nats://host:port is required');
  const victim = () => values.victim ?? (() => { throw new Error(`${command} needs --victim AGENT`); })();
  let run: (cluster: Cluster) => Promise<Record<string, unknown>>;
  switch (command) {
    case 'kill': {
      const kind = values.job;
      if (kind !== 'reduce' && kind !== 'map') throw new Error('kill needs --job reduce|map');
      run = (cluster) => killDuringJob(cluster, kind, victim());
      break;
    }
    case 'partition':
      run = (cluster) => partitionDuringReduce(cluster, victim());
      break;
    case 'coordinator': {
      const kind = values.job;
      if (kind !== 'reduce' && kind !== 'map') throw new Error('coordinator needs --job reduce|map');
      run = (cluster) => coordinatorDiesDuringJob(cluster, kind);
      break;
    }
    case 'blip': {
      const kind = values.job;
      if (kind !== 'reduce' && kind !== 'map') throw new Error('blip needs --job reduce|map');
      run = (cluster) => blipDuringJob(cluster, kind, values.retry === true);
      break;
    }
    case 'chaos':
      run = (cluster) => runChaos(cluster, new Commands(), { minJobs: Number(values['min-jobs'] ?? 200), maxMs: Number(values['max-ms'] ?? 150_000) });
      break;
    case 'alive': {
      const agents = (values.agents ?? '').split(',').filter(Boolean);
      run = async (cluster) => {
        const { nodes } = await untilNodes(cluster, `${agents.join(', ')} alive`, (n) => agents.every((a) => stateIs(n, a, 'alive')), REJOIN_WAIT_MS);
        // What a failed scenario left behind would skew the next one's placement.
        const deleted = values.clean === true ? await Promise.all((await cluster.list()).map(async (a) => (await a.delete(), a.name))) : [];
        return { nodes, deleted };
      };
      break;
    }
    default:
      throw new Error(`unknown command ${JSON.stringify(command)}: use kill, coordinator, blip, partition, chaos or alive`);
  }
  const cluster = await connect({ servers: values.servers, connectTimeoutMs: CONNECT_TIMEOUT_MS });
  try {
    return await run(cluster);
  } finally {
    await cluster.close();
  }
}

main().then(
  (result) => {
    emit('result', result);
    process.stdout.write('', () => process.exit(0));
  },
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`, () => process.exit(1));
  },
);
