/**
 * The chaos client's work: a stream of small jobs (reduce sum and count, a block-coverage
 * reduce, maps whose outputs are read back and deleted), two at a time, while the test process
 * SIGKILLs and restarts agents. Every result is checked against a local computation; a job that
 * fails with a retryable error is retried (at-least-once, as Ray's chaos tests do) and counted.
 *
 * Each worker keeps its own array (put with 2 copies) for a few jobs or a second and a half,
 * and after any job that needed a retry, then puts a fresh one: an array put with 2 copies
 * survives one agent's death, and the runtime does not make new copies afterwards, so no array
 * may live through two kills.
 */
import { holdersOf } from '@sharc/protocol';
import type { ArrayRef, Cluster } from '@sharc/sdk';
import { emit, sleep, untilNodes, type Commands } from './client-io.js';
import { FAULT_KERNELS, coverageProblem, faultData, firstDifference, localAffine, localSum } from './fault-data.js';
import type { BlockReport } from './kernels/fault-kernels.js';

export interface ChaosOptions {
  /** Keep going at least until this many jobs ran (and "stop" arrived). */
  minJobs: number;
  /** Stop after this long whatever happened. */
  maxMs: number;
}

const ROWS = 4000;
const COLS = 4;
const PARTITIONS = 6;
/** Two jobs in flight: the machine has two cores, shared with three agents and the services. */
const WORKERS = 2;
const JOBS_PER_ARRAY = 5;
const ARRAY_MAX_AGE_MS = 1500;
/** Retries back off 250, 500, 1000, 2000 ms, then 3 s: about 20 s in all, several liveness windows (3 s). */
const MAX_TRIES = 10;
const FIRST_RETRY_PAUSE_MS = 250;
const MAX_RETRY_PAUSE_MS = 3000;
const JOB_TIMEOUT_MS = 30_000;
const LEAK_WAIT_MS = 15_000;
const KINDS = ['sum', 'count', 'map', 'blocks'] as const;
type Kind = (typeof KINDS)[number];

class Tally {
  started = 0;
  readonly done: Record<Kind, number> = { sum: 0, count: 0, map: 0, blocks: 0 };
  puts = 0;
  retries = 0;
  readonly retriedErrors: Record<string, number> = {};
  readonly retrySamples: string[] = [];
  readonly failures: Array<{ job: number; kind: string; problem: string; at: string }> = [];

  get finished(): number {
    return Object.values(this.done).reduce((a, b) => a + b, 0);
  }
}

/** Runs `step`, again after a retryable error (counted), up to MAX_TRIES times. */
async function withRetries<T>(tally: Tally, what: string, step: (tryNumber: number) => Promise<T>): Promise<T> {
  for (let tryNumber = 1; ; tryNumber++) {
    try {
      return await step(tryNumber);
    } catch (error) {
      const retryable = (error as { retryable?: unknown }).retryable === true;
      if (!retryable || tryNumber >= MAX_TRIES) throw error;
      const name = (error as Error).name;
      tally.retries += 1;
      tally.retriedErrors[name] = (tally.retriedErrors[name] ?? 0) + 1;
      if (tally.retrySamples.length < 12) tally.retrySamples.push(`${new Date().toISOString()} ${what} (try ${tryNumber}): ${name}: ${(error as Error).message.slice(0, 300)}`);
      await sleep(Math.min(MAX_RETRY_PAUSE_MS, FIRST_RETRY_PAUSE_MS * 2 ** (tryNumber - 1)));
    }
  }
}

/** Deletes an array; one already gone (a retried delete whose first reply was lost) counts as deleted. */
async function deleteArray(tally: Tally, cluster: Cluster, ref: ArrayRef): Promise<void> {
  await withRetries(tally, `delete ${ref.name}`, async () => {
    try {
      await ref.delete();
    } catch (error) {
      if ((error as Error).name !== 'ArrayNotFoundError') throw error;
    }
  });
}

/** One job: runs it (with retries) and returns what is wrong with its result, or undefined. */
async function runJob(tally: Tally, cluster: Cluster, kind: Kind, ref: ArrayRef, data: Float64Array): Promise<string | undefined> {
  const options = { timeoutMs: JOB_TIMEOUT_MS };
  switch (kind) {
    case 'sum': {
      const sum = await withRetries(tally, 'sum', () => cluster.reduce(ref, 'sum', options));
      return sum === localSum(data) ? undefined : `sum ${sum}, expected ${localSum(data)}`;
    }
    case 'count': {
      const count = await withRetries(tally, 'count', () => cluster.reduce(ref, 'count', options));
      return count === data.length ? undefined : `count ${count}, expected ${data.length}`;
    }
    case 'blocks': {
      const kernel = { module: FAULT_KERNELS, partial: 'reportBlock', combine: 'concatReports', params: { ms: 0 } };
      const reports = await withRetries(tally, 'blocks', () => cluster.reduce<BlockReport[]>(ref, kernel, options));
      return coverageProblem(reports, ROWS, COLS);
    }
    case 'map': {
      const output = await withRetries(tally, 'map', () => cluster.map(ref, { module: FAULT_KERNELS, kernel: 'slowAffine', params: { ms: 0 } }, options));
      try {
        // A retry opens the output again: its placement may have moved since (recomputed from the input).
        const got = await withRetries(tally, 'map read-back', async (n) => (n === 1 ? output : await cluster.open(output.name)).toArray(options));
        return firstDifference(got, localAffine(data));
      } finally {
        await deleteArray(tally, cluster, output);
      }
    }
  }
}

/** Runs jobs until told to stop; returns the tally and the checks the test asserts on. */
export async function runChaos(cluster: Cluster, commands: Commands, options: ChaosOptions): Promise<Record<string, unknown>> {
  const tally = new Tally();
  const before = new Set((await cluster.list()).map((a) => a.name));
  const startedAt = Date.now();
  const shouldStop = () => Date.now() - startedAt > options.maxMs || (tally.started >= options.minJobs && commands.has('stop'));
  let announced = false;

  const worker = async (w: number) => {
    let current: { ref: ArrayRef; data: Float64Array; putAt: number; jobs: number } | undefined;
    for (let epoch = 0; !shouldStop(); ) {
      if (current === undefined || current.jobs >= JOBS_PER_ARRAY || Date.now() - current.putAt > ARRAY_MAX_AGE_MS) {
        if (current !== undefined) await deleteArray(tally, cluster, current.ref);
        const data = faultData(1000 * w + epoch++, ROWS * COLS);
        const ref = await withRetries(tally, 'put', () => cluster.put(data, { shape: [ROWS, COLS], partitions: PARTITIONS, copies: 2, timeoutMs: JOB_TIMEOUT_MS }));
        tally.puts += 1;
        current = { ref, data, putAt: Date.now(), jobs: 0 };
      }
      const job = tally.started++;
      const kind = KINDS[job % KINDS.length]!;
      current.jobs += 1;
      const retriesBefore = tally.retries;
      let problem: string | undefined;
      try {
        problem = await runJob(tally, cluster, kind, current.ref, current.data);
      } catch (error) {
        problem = `failed: ${(error as Error).name}: ${(error as Error).message}`;
      }
      // A job that needed a retry lived through a kill: its array lost a copy, so the next job gets a fresh one.
      if (tally.retries > retriesBefore) current.jobs = JOBS_PER_ARRAY;
      if (problem === undefined) tally.done[kind] += 1;
      else tally.failures.push({ job, kind, problem, at: new Date().toISOString() });
      if (!announced) {
        announced = true;
        emit('started');
      }
      if (tally.started % 50 === 0) emit('progress', { started: tally.started, retries: tally.retries, failures: tally.failures.length });
    }
    if (current !== undefined) await deleteArray(tally, cluster, current.ref);
  };
  await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
  const wallMs = Date.now() - startedAt;

  // Nothing left behind: every array of the run deleted, and each live agent's memory what the
  // arrays still stored place on it (no orphan partitions).
  const leftovers = (await cluster.list()).map((a) => a.name).filter((name) => !before.has(name));
  const placed = new Map<string, number>();
  for (const p of (await cluster.list()).flatMap((a) => a.placement)) {
    for (const id of holdersOf(p)) placed.set(id, (placed.get(id) ?? 0) + p.byteLength);
  }
  const leak = await untilNodes(cluster, 'every live agent holding only what is placed on it', (nodes) => nodes.filter((n) => n.state === 'alive').every((n) => n.usedBytes === (placed.get(n.id) ?? 0)), LEAK_WAIT_MS).then(
    () => undefined,
    (error: Error) => error.message,
  );
  const checks = {
    allCorrect: { ok: tally.failures.length === 0, detail: JSON.stringify(tally.failures.slice(0, 10)) },
    noneLost: { ok: tally.finished + tally.failures.length === tally.started, detail: `${tally.started} started, ${tally.finished} correct, ${tally.failures.length} failed` },
    enoughJobs: { ok: tally.started >= options.minJobs, detail: `${tally.started} jobs, at least ${options.minJobs} wanted` },
    nothingLeft: { ok: leftovers.length === 0 && leak === undefined, detail: leak ?? `arrays left: ${JSON.stringify(leftovers)}` },
  };
  return { checks, jobs: tally.started, done: tally.done, puts: tally.puts, retries: tally.retries, retriedErrors: tally.retriedErrors, retrySamples: tally.retrySamples, wallMs };
}
