import { BUILTIN_OPS } from './builtin-ops.js';
import { errorDataSchema, kernelRefSchema, MAX_DIRECT_JOBS, MAX_DIRECT_PARTITIONS, MAX_PARTITIONS } from './messages.js';

/**
 * Hand-written checks of the two messages every direct reduce pays for (tasks.run, tasks.done),
 * as strict as their zod schemas in messages.ts and several times cheaper: a tiny job's whole
 * budget is a fraction of a millisecond. Rare parts (a built-in's params, a kernel of another
 * kind, an error) are still checked by zod. codec.test.ts holds them to the schemas.
 * Each returns the problem (`path: what`), or undefined when the message is well formed.
 */

const ID = /^[A-Za-z0-9_-]+$/;
const BUILTIN_OP_NAMES: ReadonlySet<string> = new Set(BUILTIN_OPS);
const MAX_ARRAY_NAME = 256;

type Fields = Record<string, unknown>;

function isObject(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value);
}

function idProblem(value: unknown, path: string): string | undefined {
  return typeof value === 'string' && value.length >= 1 && value.length <= 128 && ID.test(value) ? undefined : `${path}: expected an id (1-128 letters, digits, - and _)`;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function envelopeProblem(raw: Fields): string | undefined {
  if (typeof raw.v !== 'number') return 'v: expected a number';
  if (typeof raw.from !== 'string' || raw.from.length > 256) return 'from: expected a string of at most 256 characters';
  return undefined;
}

function kernelProblem(kernel: unknown, path: string): string | undefined {
  if (!isObject(kernel)) return `${path}: expected an object`;
  if (kernel.kind === 'builtin' && kernel.params === undefined && typeof kernel.op === 'string' && BUILTIN_OP_NAMES.has(kernel.op)) return undefined;
  if (kernel.kind === 'reduce') {
    const problem = idProblem(kernel.hash, `${path}.hash`);
    if (problem !== undefined) return problem;
    if (typeof kernel.module !== 'string') return `${path}.module: expected a string`;
    if (typeof kernel.partial !== 'string' || kernel.partial.length === 0) return `${path}.partial: expected a name`;
    if (typeof kernel.combine !== 'string' || kernel.combine.length === 0) return `${path}.combine: expected a name`;
    return undefined;
  }
  // A built-in with params, another kind, or something wrong: the schema says which.
  const parsed = kernelRefSchema.safeParse(kernel);
  return parsed.success ? undefined : `${path}: ${parsed.error.issues[0]?.message ?? 'invalid kernel'}`;
}

export function tasksRunProblem(raw: Fields): string | undefined {
  const envelope = envelopeProblem(raw);
  if (envelope !== undefined) return envelope;
  const client = idProblem(raw.clientId, 'clientId');
  if (client !== undefined) return client;
  const jobs = raw.jobs;
  if (!Array.isArray(jobs) || jobs.length < 1 || jobs.length > MAX_DIRECT_JOBS) return `jobs: expected 1 to ${MAX_DIRECT_JOBS} jobs`;
  let named = 0;
  for (let j = 0; j < jobs.length; j++) {
    const job: unknown = jobs[j];
    const path = `jobs.${j}`;
    if (!isObject(job)) return `${path}: expected an object`;
    const problem = idProblem(job.jobId, `${path}.jobId`) ?? idProblem(job.arrayId, `${path}.arrayId`);
    if (problem !== undefined) return problem;
    if (job.arrayName !== undefined && (typeof job.arrayName !== 'string' || job.arrayName.length < 1 || job.arrayName.length > MAX_ARRAY_NAME)) {
      return `${path}.arrayName: expected a name`;
    }
    const partitions = job.partitions;
    if (!Array.isArray(partitions) || partitions.length < 1 || partitions.length > MAX_PARTITIONS) return `${path}.partitions: expected 1 to ${MAX_PARTITIONS} indexes`;
    named += partitions.length;
    if (named > MAX_DIRECT_PARTITIONS) return `jobs: at most ${MAX_DIRECT_PARTITIONS} partitions over all jobs`;
    for (const index of partitions) if (!isCount(index)) return `${path}.partitions: expected non-negative integers`;
    const kernel = kernelProblem(job.kernel, `${path}.kernel`);
    if (kernel !== undefined) return kernel;
    if (job.timeoutMs !== undefined && !(typeof job.timeoutMs === 'number' && Number.isSafeInteger(job.timeoutMs) && job.timeoutMs > 0)) {
      return `${path}.timeoutMs: expected a positive integer`;
    }
  }
  return undefined;
}

export function tasksDoneProblem(raw: Fields): string | undefined {
  const envelope = envelopeProblem(raw);
  if (envelope !== undefined) return envelope;
  const jobs = raw.jobs;
  if (!Array.isArray(jobs) || jobs.length > MAX_DIRECT_JOBS) return `jobs: expected at most ${MAX_DIRECT_JOBS} outcomes`;
  let answered = 0;
  for (let j = 0; j < jobs.length; j++) {
    const outcome: unknown = jobs[j];
    const path = `jobs.${j}`;
    if (!isObject(outcome)) return `${path}: expected an object`;
    const problem = idProblem(outcome.jobId, `${path}.jobId`);
    if (problem !== undefined) return problem;
    const partitions = outcome.partitions;
    if (partitions !== undefined) {
      if (!Array.isArray(partitions) || partitions.length > MAX_PARTITIONS) return `${path}.partitions: expected at most ${MAX_PARTITIONS} partials`;
      answered += partitions.length;
      if (answered > MAX_DIRECT_PARTITIONS) return `jobs: at most ${MAX_DIRECT_PARTITIONS} partials over all jobs`;
      for (const done of partitions) {
        if (!isObject(done) || !isCount(done.index) || !isCount(done.blocks)) return `${path}.partitions: expected { index, blocks, partial }`;
      }
    }
    if (outcome.error !== undefined && !errorDataSchema.safeParse(outcome.error).success) return `${path}.error: expected an error`;
  }
  return undefined;
}
