import { z } from 'zod';
import { arrayNameProblem, MAX_ARRAY_NAME_LENGTH } from './array-name.js';
import { BUILTIN_MAPS, BUILTIN_PAIR_REDUCTIONS } from './builtin-maps.js';
import { BUILTIN_OPS, MAX_HISTOGRAM_BINS } from './builtin-ops.js';
import { DTYPES } from './dtypes.js';
import { MAX_KERNEL_OUTPUT_LINE, MAX_KERNEL_OUTPUT_LINES_PER_MESSAGE } from './kernel-output.js';
import { MAX_JOB_TIMEOUT_MS } from './timeouts.js';

/**
 * Every message that crosses NATS: a union keyed by `type`. Each carries the protocol version
 * `v` and the sender `from`; `decodeMessage` validates all of it before anyone reads a field.
 */

/** Ids end up in NATS subjects: the same token rule as subjects.ts. */
const id = z.string().min(1).max(128).regex(/^[A-Za-z0-9_-]+$/, 'ids hold only letters, digits, - and _');
/**
 * Partitions of one array at most. Every partition is one entry of the array's metadata, which
 * whole messages carry (array.placed, array.info, array.listed): about 105 bytes each with two
 * copies, 125 with three, so 262,144 partitions make a message of 27–33 MB, half the 64 MiB
 * max_payload sharc's nats.conf sets (room for long agent ids), and about 60 MB of coordinator
 * memory per array. 1,000,000 would not fit one message. A partition smaller than a few
 * hundred KiB costs more in bookkeeping than it saves: use fewer, larger ones.
 */
export const MAX_PARTITIONS = 262_144;
const partitionCount = z.number().int().positive().max(MAX_PARTITIONS);
/** Copies of one partition at most (the serving one and its replicas). */
export const MAX_COPIES = 3;
const count = z.number().int().nonnegative();
const dtype = z.enum(DTYPES);
/** `[]` is a 0-d array (one element), `[rows]` 1-D, `[rows, cols]` 2-D. */
const shape = z.union([
  // z.tuple([]) infers never[]: a custom check keeps the type `readonly []`.
  z.custom<readonly []>((value) => Array.isArray(value) && value.length === 0, 'expected []'),
  z.tuple([count]).readonly(),
  z.tuple([count, count]).readonly(),
]);
/** The name of an array that exists (an older version may have stored one `newArrayName` refuses). */
const arrayName = z.string().min(1).max(MAX_ARRAY_NAME_LENGTH);
/** A name given to a new array: any client may send one, so the rule is checked here too. */
const newArrayName = z.string().superRefine((name, context) => {
  const problem = arrayNameProblem(name);
  if (problem !== undefined) context.addIssue({ code: 'custom', message: problem });
});

export const errorDataSchema: z.ZodType<import('./errors.js').ErrorData> = z.lazy(() =>
  z.object({
    name: z.string(),
    code: z.string(),
    message: z.string(),
    retryable: z.boolean(),
    stack: z.string().optional(),
    details: z.record(z.string(), z.unknown()).optional(),
    cause: errorDataSchema.optional(),
  }),
);

export const partitionMetaSchema = z.object({
  index: count,
  rowStart: count,
  rowCount: count,
  byteLength: count,
  /** The agent that serves the partition: tasks run there, reads come from there. */
  agentId: id,
  /** Other agents holding a copy (an uploaded array's replicas), promoted if `agentId` dies. */
  replicas: z.array(id).max(MAX_COPIES - 1).optional(),
});
export type PartitionMeta = z.infer<typeof partitionMetaSchema>;

/**
 * The file a file-backed array's partitions are row ranges of (`fromFile(path, { resident:
 * false })`, or a map written to a `.npy` file): agents read their rows from it as jobs run and
 * hold none of them. `size` and `mtimeMs` are the file's when it was registered (or written):
 * a file that no longer has both fails a job with a FileFormatError instead of being read as
 * something it is not.
 */
export const backingFileSchema = z.object({
  path: z.string().min(1).max(4096),
  /** Byte offset of element 0 (a .npy header's length, or a raw file's byteOffset). */
  dataOffset: count,
  size: count,
  mtimeMs: z.number().nonnegative(),
});
export type BackingFile = z.infer<typeof backingFileSchema>;

export const arrayMetaSchema = z.object({
  id,
  name: arrayName,
  dtype,
  shape,
  partitions: z.array(partitionMetaSchema),
  createdAt: z.number(),
  /**
   * Partitions lost for good (in index order): every copy's agent came back without it and it
   * has no source to rebuild it from. Such an array can only be deleted. Absent when none is.
   */
  lostPartitions: z.array(count).max(MAX_PARTITIONS).optional(),
  /** File-backed: the partitions are row ranges of this file, streamed as jobs run (no memory held). Absent: resident. */
  file: backingFileSchema.optional(),
});
export type ArrayMeta = z.infer<typeof arrayMetaSchema>;

/** Reduces clients sent straight to an agent (tasks.run), as its heartbeats count them. */
export const directCountsSchema = z.object({ batches: count, partitions: count, running: count });
export type DirectCounts = z.infer<typeof directCountsSchema>;

export const agentInfoSchema = z.object({
  id,
  host: z.string(),
  pid: count,
  dataHost: z.string(),
  dataPort: z.number().int().min(1).max(65535),
  threads: z.number().int().positive(),
  memoryBytes: count,
  usedBytes: count,
  partitions: count,
  /** Block requests running or queued on the agent's worker threads: per thread, its load. */
  workInFlight: count,
  /** Reduces clients sent straight to the agent, from its last heartbeat. */
  direct: directCountsSchema.optional(),
  /** Where the agent serves /metrics and /healthz (sharc agent --http-port); absent when it serves none. */
  httpUrl: z.string().max(2048).optional(),
});
export type AgentInfo = z.infer<typeof agentInfoSchema>;

export { BUILTIN_REDUCTIONS, type BuiltinReduction } from './builtin-names.js';

/**
 * A built-in op's parameters (builtin-ops.ts says which op takes which; the agent checks that
 * against the array's shape): `axis: 0` reduces each column of a 2-D array; `ddof` for var and
 * std; `bins` and `range` (always filled in by the client) for histogram.
 */
export const builtinParamsSchema = z.strictObject({
  axis: z.literal(0).optional(),
  ddof: count.max(Number.MAX_SAFE_INTEGER).optional(),
  bins: z.number().int().min(1).max(MAX_HISTOGRAM_BINS).optional(),
  range: z
    .tuple([z.number().finite(), z.number().finite()])
    .readonly()
    .refine(([lo, hi]) => lo < hi, 'range must be [lo, hi] with lo < hi')
    .optional(),
});

/** What a worker thread runs for one block of rows. */
export const kernelRefSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('builtin'), op: z.enum(BUILTIN_OPS), params: builtinParamsSchema.optional() }),
  z.object({
    kind: z.literal('reduce'),
    hash: id,
    module: z.string(),
    partial: z.string().min(1),
    combine: z.string().min(1),
  }),
  z.object({ kind: z.literal('map'), hash: id, module: z.string(), kernel: z.string().min(1) }),
  // Built-in operations producing a new array (map jobs) and built-in reductions over two
  // arrays (reduce jobs with `with`): see builtin-maps.ts. `params` are checked per op there.
  z.object({ kind: z.literal('builtin-map'), op: z.enum(BUILTIN_MAPS), params: z.unknown().optional() }),
  z.object({ kind: z.literal('builtin-pair'), op: z.enum(BUILTIN_PAIR_REDUCTIONS) }),
]);
export type KernelRef = z.infer<typeof kernelRefSchema>;

/** The second input array of a binary op or of `dot`: same shape as the first, its rows meet the first's on one agent. */
const withArraySchema = z.object({ arrayId: id });

export const reduceSpecSchema = z.object({
  kind: z.literal('reduce'),
  arrayId: id,
  kernel: kernelRefSchema,
  params: z.unknown().optional(),
  with: withArraySchema.optional(),
  /**
   * Only these partitions run (a client whose partials of a finished job were lost on the way
   * asks for them again). @default every partition
   */
  partitions: z.array(count).min(1).max(MAX_PARTITIONS).optional(),
});
export const mapSpecSchema = z.object({
  kind: z.literal('map'),
  arrayId: id,
  kernel: kernelRefSchema,
  params: z.unknown().optional(),
  with: withArraySchema.optional(),
  dtype,
  /** Output columns; 0 for an output of zero columns (the input may have none). */
  cols: count,
  outputName: newArrayName.optional(),
  replace: z.boolean().optional(),
  /**
   * Write the output to this `.npy` file (a path every agent can write) instead of holding it
   * in memory: the output is then a file-backed array. An existing file is refused unless
   * `replace`.
   */
  outputFile: z.string().min(1).max(4096).optional(),
});
export const jobSpecSchema = z.discriminatedUnion('kind', [reduceSpecSchema, mapSpecSchema]);
export type JobSpec = z.infer<typeof jobSpecSchema>;
export type ReduceSpec = z.infer<typeof reduceSpecSchema>;
export type MapSpec = z.infer<typeof mapSpecSchema>;

/** A job the coordinator has accepted, as `sharc status` shows it. */
export const jobStatusSchema = z.object({
  jobId: id,
  kind: z.enum(['reduce', 'map']),
  /** `queued`: waiting for one of the coordinator's `maxRunningJobs` slots (nothing allocated yet). */
  state: z.enum(['queued', 'running']),
  /** Name of the input array. */
  array: z.string(),
  doneBlocks: count,
  totalBlocks: count,
  /** When the coordinator accepted the job (it may have been queued since), in milliseconds since the epoch. */
  startedAt: count,
  /** Submitted with `cluster.submit` / `sharc submit`: it outlives its client, and its outcome is kept (see detachedJobSchema). */
  detached: z.boolean().optional(),
});
export type JobStatus = z.infer<typeof jobStatusSchema>;

/**
 * A detached job (`cluster.submit`, `sharc submit`) as `job.info` and `sharc jobs` show it:
 * queued or running, or its kept outcome once it ended (done, failed or cancelled), until the
 * coordinator's `keepResultsMs` passed.
 */
export const detachedJobSchema = z.object({
  jobId: id,
  kind: z.enum(['reduce', 'map']),
  state: z.enum(['queued', 'running', 'done', 'failed', 'cancelled']),
  /** Name of the input array. */
  array: z.string(),
  doneBlocks: count,
  totalBlocks: count,
  /** When the coordinator accepted it, in milliseconds since the epoch. */
  submittedAt: count,
  /** When it ended. */
  endedAt: count.optional(),
  /** Until when its outcome is kept (then it is forgotten). */
  expiresAt: count.optional(),
  /** A reduce's value once done (what `cluster.reduce` returns; absent for a custom reduce of no rows). */
  value: z.unknown().optional(),
  /** In a listing (jobs.list): the value was left out for its size; job.get (`sharc result`) gives it. */
  valueOmitted: z.boolean().optional(),
  /** A map's output array, by name, once done. */
  output: z.string().optional(),
  /** Why it failed or was cancelled. */
  error: errorDataSchema.optional(),
});
export type DetachedJob = z.infer<typeof detachedJobSchema>;

/** An array still being written, as `list({ all: true })` and `sharc ls --all` show it. */
export const pendingArraySchema = z.object({
  array: arrayMetaSchema,
  /** What writes it: a client's upload (put), or a running map (its output). */
  writer: z.enum(['upload', 'map']),
  /** The client whose lease keeps an upload alive: it is dropped when that client goes silent. */
  clientId: z.string().max(256).optional(),
});
export type PendingArray = z.infer<typeof pendingArraySchema>;

/** One partition's share of a job, sent to the agent that holds the partition. */
export const taskSchema = z.object({
  jobId: id,
  /** The client that submitted the job: reduce partials go straight to it. */
  clientId: id,
  arrayId: id,
  /** The input array's name, so errors can say which array a user knows it as. */
  arrayName: arrayName.optional(),
  partitionIndex: count,
  /**
   * Which attempt at this partition this is (0, then 1, 2… when an agent died and the work
   * moved). Results carry it back; only the attempt the coordinator accepted counts.
   */
  attempt: count,
  kernel: kernelRefSchema,
  params: z.unknown().optional(),
  output: z.object({ arrayId: id, dtype, cols: count }).optional(),
  /**
   * The second input of a binary op or `dot`: where the rows of this partition are in it. Each
   * source is a partition of that array overlapping these rows and the agent serving it; the
   * agent reads it in place when it holds a copy, otherwise over the holder's data port.
   */
  with: z
    .object({
      arrayId: id,
      arrayName: arrayName.optional(),
      dtype,
      shape,
      /** `local`: the task's own agent holds a copy of this partition (read in place, no transfer). */
      sources: z.array(z.object({ partition: partitionMetaSchema, holder: agentInfoSchema, local: z.boolean().optional() })).max(MAX_PARTITIONS),
      /** A file-backed second array: the agent reads its rows from the file itself (sources then only say which rows exist). */
      file: backingFileSchema.optional(),
    })
    .optional(),
  /**
   * What is left of the job's time: the agent stops the task by itself after this long, so a
   * kernel that never returns is stopped even if the coordinator's task.cancel never arrives.
   */
  timeoutMs: z.number().int().positive().optional(),
});
export type Task = z.infer<typeof taskSchema>;

/**
 * A file to read an array from. Without `format` its first bytes decide (the .npy magic or
 * not). A .npy file's header gives dtype and shape (any given must agree with it); raw bytes
 * need both, and their shape must cover the whole file unless `byteOffset` states a range.
 */
export const fileSourceSchema = z.object({
  path: z.string().min(1),
  format: z.enum(['npy', 'raw']).optional(),
  dtype: dtype.optional(),
  shape: shape.optional(),
  byteOffset: count.optional(),
});
export type FileSource = z.infer<typeof fileSourceSchema>;

/** Jobs one tasks.run may carry at most. */
/** One line a kernel printed (console.log/info/debug: stdout; console.error/warn: stderr) while it ran `rows` [start, end) of `partition`. */
export const kernelOutputLineSchema = z.object({
  partition: count,
  rowStart: count,
  rowEnd: count,
  stream: z.enum(['stdout', 'stderr']),
  // cutOutputLine's note adds a few characters to a line cut at MAX_KERNEL_OUTPUT_LINE.
  text: z.string().max(MAX_KERNEL_OUTPUT_LINE + 64),
});
export type KernelOutputLine = z.infer<typeof kernelOutputLineSchema>;

export const MAX_DIRECT_JOBS = 4096;
/**
 * Partitions one tasks.run (or tasks.done) names at most, over all its jobs: an agent answers
 * a partial for each, in one reply, so this bounds what one message makes it hold (without it,
 * 200 jobs naming 262,144 partitions each took an agent down).
 */
export const MAX_DIRECT_PARTITIONS = MAX_PARTITIONS;
/** One job of a tasks.run: the fields a reduce needs, and no more. */
const directJobSchema = z.object({
  jobId: id,
  arrayId: id,
  /** The array's name, so kernel errors say which array a user knows it as. */
  arrayName: arrayName.optional(),
  partitions: z.array(count).min(1).max(MAX_PARTITIONS),
  kernel: kernelRefSchema,
  params: z.unknown().optional(),
  /** What is left of the job's time: the agent stops the job itself this long (and a margin) after it arrived. */
  timeoutMs: z.number().int().positive().optional(),
});
export type DirectJob = z.infer<typeof directJobSchema>;
/** One job's outcome in a tasks.done: a partial per partition asked, in the order asked (absent for one with no rows), or its error. */
const directOutcomeSchema = z.object({
  jobId: id,
  partitions: z.array(z.object({ index: count, blocks: count, partial: z.unknown().optional() })).max(MAX_PARTITIONS).optional(),
  error: errorDataSchema.optional(),
});
export type DirectOutcome = z.infer<typeof directOutcomeSchema>;

const envelope = { v: z.number(), from: z.string().max(256) };
function message<T extends string, S extends z.ZodRawShape>(type: T, fields: S) {
  return z.object({ ...envelope, type: z.literal(type), ...fields });
}

export const messageSchema = z.discriminatedUnion('type', [
  // Generic replies.
  message('ok', {}),
  message('error', { error: errorDataSchema }),

  // Client -> coordinator.
  message('array.create', {
    name: newArrayName.optional(),
    dtype,
    shape,
    partitions: partitionCount.optional(),
    replace: z.boolean().optional(),
    /** Copies of each partition, on distinct agents. @default the coordinator's setting (2) */
    copies: z.number().int().min(1).max(MAX_COPIES).optional(),
  }),
  message('array.placed', { array: arrayMetaSchema, transferToken: z.string(), agents: z.array(agentInfoSchema) }),
  message('array.commit', { arrayId: id, transferToken: z.string() }),
  message('array.abort', { arrayId: id, transferToken: z.string() }),
  message('array.open', { name: arrayName }),
  message('array.locate', { arrayId: id }),
  message('array.info', { array: arrayMetaSchema, agents: z.array(agentInfoSchema) }),
  /**
   * Deletes an array by id, or by name (one of the two): a ready array, or an upload still in
   * progress (dropped; its client's put fails with CancelledError).
   */
  message('array.delete', { arrayId: id.optional(), name: z.string().min(1).max(256).optional() }),
  /** `all`: arrays still being written are listed too, in `pending`. */
  message('array.list', { all: z.boolean().optional() }),
  message('array.listed', { arrays: z.array(arrayMetaSchema), pending: z.array(pendingArraySchema).optional() }),
  message('array.load', {
    source: fileSourceSchema,
    /** Set by clients that follow the load: progress comes on the job's subject, job.cancel stops it. */
    jobId: id.optional(),
    name: newArrayName.optional(),
    partitions: partitionCount.optional(),
    replace: z.boolean().optional(),
    /** Keep loading if the client goes away (needs `name`); otherwise its death cancels the load. */
    detached: z.boolean().optional(),
    /**
     * true (default): every partition is read into agents' memory now. false: a file-backed
     * array (nothing read now; jobs stream the rows). 'auto': resident when the cluster has the
     * memory, file-backed otherwise.
     */
    resident: z.union([z.boolean(), z.literal('auto')]).optional(),
  }),
  message('kernel.put', { hash: id, code: z.string() }),
  /** Answered when the job ends: `job.done`, or an `error` reply with the job's failure. */
  /**
   * `detached`: the job keeps running if its client goes silent (a map with a named output
   * only); otherwise the client's death cancels it and frees what it allocated.
   */
  message('job.submit', { jobId: id, spec: jobSpecSchema, timeoutMs: z.number().positive().max(MAX_JOB_TIMEOUT_MS).optional(), detached: z.boolean().optional() }),
  message('job.cancel', { jobId: id }),
  /**
   * Where is this job? Asked by a client that waits on it and may have missed messages (NATS was
   * away; NATS core delivers at most once). Answered with `job.done` if it ended lately, or with
   * `job.state`: still queued or running, `failed` with its error if it failed lately (an
   * `error` reply is only ever about the job.sync itself), or `unknown` (the submission never arrived, or it
   * ended long ago): the client may submit it again under the same id (job.submit is
   * idempotent by job id: a resent one attaches to the running job or gets its outcome).
   */
  message('job.sync', { jobId: id }),
  /** `failed`: the job ended lately with `error` (what job.submit's `error` reply said). */
  message('job.state', { jobId: id, state: z.enum(['queued', 'running', 'unknown', 'failed']), error: errorDataSchema.optional() }),
  message('nodes.list', {}),
  message('nodes.listed', { agents: z.array(agentInfoSchema.extend({ state: z.enum(['alive', 'dead']) })) }),
  message('jobs.list', {}),
  /** `jobs`: queued and running jobs of every client; `finished`: the kept outcomes of detached jobs. */
  message('jobs.listed', { jobs: z.array(jobStatusSchema), finished: z.array(detachedJobSchema).max(100_000).optional() }),
  /**
   * Starts a detached job (`cluster.submit`): answered with `job.info` as soon as the job is
   * stored (it then survives its client and a coordinator restart), not when it ends. Its
   * outcome (a reduce's value, computed by the coordinator; a map's output name; its error) is
   * kept for the coordinator's keepResultsMs. Idempotent by job id (a resent one gets the
   * job's info). A map without `outputName` gets a generated one.
   */
  message('job.launch', { jobId: id, spec: jobSpecSchema, timeoutMs: z.number().positive().max(MAX_JOB_TIMEOUT_MS).optional() }),
  /** Where a detached job is: `job.info`, or a JobNotFoundError (never submitted, or its outcome expired). */
  message('job.get', { jobId: id }),
  message('job.info', { job: detachedJobSchema }),
  /**
   * Published by a client every CLIENT_HEARTBEAT_MS: it renews the lease on what the
   * coordinator holds for it (uploads in progress, running jobs). A client silent for the
   * coordinator's liveness window is gone: its uploads are dropped and its jobs cancelled.
   *
   * `uploads`: the uploads this client is writing now, by array id; a pending upload of this
   * client that its heartbeats no longer list (its put failed, or its array.create reply was
   * lost while NATS was away) is dropped, though the client lives on. `creating`: how many
   * array.create requests it still awaits; such a heartbeat cannot list the uploads they make
   * (and may be read late, after them: the coordinator was paused), so it drops nothing.
   */
  message('client.heartbeat', { uploads: z.array(id).max(100_000).optional(), creating: count.optional() }),

  /**
   * Published by a coordinator when it starts. It resumes the jobs in `resumedJobs` (their
   * state was in JetStream) and answers their submitters; clients fail every other job a
   * previous coordinator was running.
   */
  message('coordinator.started', { instanceId: id, resumedJobs: z.array(id).max(100_000).optional() }),

  // Coordinator -> client: progress on the job's subject; the end as the reply to job.submit.
  message('job.progress', { jobId: id, done: count, total: count }),
  /**
   * Agent -> client, on the job's subject (coordinator-path and direct jobs alike): lines its
   * kernel printed on this agent (the sender), in order, at most a bounded number per job per
   * agent (the agent then sends one line saying how many more it dropped).
   */
  message('job.log', { jobId: id, lines: z.array(kernelOutputLineSchema).min(1).max(MAX_KERNEL_OUTPUT_LINES_PER_MESSAGE) }),
  /**
   * Partition `partitionIndex` of the job runs again as `attempt` (its agent died, or the job
   * was resumed by a new coordinator): from now on the client counts only the partial the
   * coordinator accepts, which `job.done` names.
   */
  message('job.attempt', { jobId: id, partitionIndex: count, attempt: count }),
  /**
   * The job finished; a map's output array is in `array`. A reduce's partials came as
   * task.done; `attempts[i]` is the attempt of partition i whose partial counts (others are
   * stale: an agent declared dead that finished anyway).
   */
  message('job.done', { jobId: id, array: arrayMetaSchema.optional(), attempts: z.array(count).max(MAX_PARTITIONS).optional() }),
  /**
   * Agent -> client, on the job's subject: one partition's reduce partial. Results go straight
   * to the client (the coordinator only hears that the partition is done), which saves a hop
   * and keeps partials out of the coordinator's memory; the client keys them by partition, so
   * a repeated attempt can never count twice.
   */
  message('task.done', { jobId: id, partitionIndex: count, attempt: count, blocks: count, partial: z.unknown().optional() }),

  // Agent -> coordinator.
  /** `holds`: the partitions the agent has, by array; the coordinator moves the ones it lacks. */
  message('agent.register', {
    agent: agentInfoSchema,
    holds: z.array(z.object({ arrayId: id, partitions: z.array(count).max(MAX_PARTITIONS) })).max(100_000).optional(),
  }),
  /**
   * `tasks`: the tasks running on the agent. A task the coordinator sent that the agent's
   * heartbeats do not list, and whose result never came, was lost on the way (NATS was away):
   * it runs again as a new attempt.
   */
  message('agent.heartbeat', {
    agentId: id,
    usedBytes: count,
    partitions: count,
    workInFlight: count,
    tasks: z.array(z.object({ jobId: id, partitionIndex: count, attempt: count })).max(4 * MAX_PARTITIONS).optional(),
    /**
     * Reduces clients sent straight to this agent (tasks.run), since it started: batches and
     * partitions run, and batches running now. Never in `tasks`: the coordinator does not
     * follow direct work, it only hears of it here.
     */
    direct: directCountsSchema.optional(),
  }),
  message('kernel.get', { hash: id }),
  message('kernel.code', { hash: id, code: z.string() }),
  message('task.progress', { jobId: id, partitionIndex: count, attempt: count, blocks: count }),

  // Coordinator -> agent.
  message('partition.allocate', {
    arrayId: id,
    dtype,
    shape,
    partition: partitionMetaSchema,
    /** Set for arrays a client uploads; absent for map outputs, which only workers write. */
    transferToken: z.string().optional(),
    /** A map output written to this file (file.create made it): the partition holds no memory; threads write its rows there. */
    file: backingFileSchema.optional(),
  }),
  /**
   * partition.allocate for many partitions of one array on this agent at once: an array of
   * many partitions costs one message per agent (per ALLOCATE_BATCH partitions), not one per
   * partition. All or nothing is not promised: on an error the coordinator frees the array.
   */
  message('partitions.allocate', {
    arrayId: id,
    dtype,
    shape,
    partitions: z.array(partitionMetaSchema).min(1).max(MAX_PARTITIONS),
    transferToken: z.string().optional(),
    /** As partition.allocate's `file`. */
    file: backingFileSchema.optional(),
  }),
  message('partition.load', {
    arrayId: id,
    dtype,
    shape,
    partition: partitionMetaSchema,
    source: fileSourceSchema,
    dataOffset: count,
    /** The load's job: a task.cancel for it stops the read. */
    jobId: id.optional(),
    /**
     * A file-backed array: nothing is read now. The agent checks the file still has this size
     * and modification time, then serves the partition's rows from it as jobs run.
     */
    file: backingFileSchema.optional(),
  }),
  /**
   * Makes a copy of a partition on this agent by reading it from the data port of `holder` (a
   * copy lost with a dead agent is made again on another one).
   */
  message('partition.fetch', { arrayId: id, dtype, shape, partition: partitionMetaSchema, holder: agentInfoSchema }),
  message('partition.seal', { arrayId: id }),
  /** Frees the array's partitions on the agent, or only `partitionIndex` when given. */
  message('partition.free', { arrayId: id, partitionIndex: count.optional() }),
  message('file.inspect', { source: fileSourceSchema }),
  /** The file's size and modification time, as the agent that read it sees them. */
  message('file.info', { dtype, shape, dataOffset: count, size: count, mtimeMs: z.number().nonnegative() }),
  /**
   * Creates the `.npy` file a map writes its output to: header for `dtype` and `shape`, and
   * every data byte (zeros, sparse where the filesystem allows). An existing file is refused
   * unless `replace`. Answered with file.info.
   */
  message('file.create', { path: z.string().min(1).max(4096), dtype, shape, replace: z.boolean().optional() }),
  message('task.run', { task: taskSchema }),

  // Client -> agent, on the agent's `direct` subject: reduces without the coordinator on their path.
  /**
   * Runs, for each job, a reduce over `partitions` of array `arrayId`, every one of them held
   * (sealed) by this agent, and answers with one `tasks.done` holding every job's partials (or
   * its error) in the order asked. Jobs a client starts in the same turn share one message.
   * A job naming a partition the agent lacks fails with a retryable PartitionNotHeldError; an
   * agent with too much direct work refuses the whole message with a retryable BusyError: the
   * client then runs those jobs through the coordinator (job.submit). While a job runs on the
   * worker threads the agent sends `job.progress` (its own blocks done of its own total) on the
   * job's client subject at least every DIRECT_KEEPALIVE_MS: a client that hears nothing for the
   * liveness window gives the agent up. `task.cancel` on the same subject stops a job. Only the
   * fields a reduce needs, so that validating it, paid on every tiny job, stays cheap.
   */
  message('tasks.run', {
    /** Whose jobs: progress goes to its job subjects. */
    clientId: id,
    jobs: z
      .array(directJobSchema)
      .min(1)
      .max(MAX_DIRECT_JOBS)
      .refine((jobs) => jobs.reduce((n, job) => n + job.partitions.length, 0) <= MAX_DIRECT_PARTITIONS, `at most ${MAX_DIRECT_PARTITIONS} partitions over all jobs`),
  }),
  /** The outcome of each job of a tasks.run, in the order asked: its partials, or the error it failed with. */
  message('tasks.done', {
    jobs: z
      .array(directOutcomeSchema)
      .max(MAX_DIRECT_JOBS)
      .refine((jobs) => jobs.reduce((n, job) => n + (job.partitions?.length ?? 0), 0) <= MAX_DIRECT_PARTITIONS, `at most ${MAX_DIRECT_PARTITIONS} partials over all jobs`),
  }),
  message('task.result', { blocks: count }),
  /**
   * task.run for many partitions of one job on this agent at once (coordinator -> agent, on
   * the agent's task subject): a job of many partitions costs one message per agent, not one
   * per partition. Tasks with a second input (`with`) are sent
   * one by one. The agent lists every partition of the batch in its heartbeats until it
   * answers with `task.batchDone`; a reduce's partials go to the client before, as
   * `task.partials`.
   */
  message('task.batch', {
    task: taskSchema.omit({ partitionIndex: true, attempt: true, with: true }),
    partitions: z.array(z.object({ index: count, attempt: count })).min(1).max(MAX_PARTITIONS),
  }),
  /** The answer to task.batch: one entry per partition, in the order asked: its blocks, or its error. */
  message('task.batchDone', { results: z.array(z.object({ blocks: count.optional(), error: errorDataSchema.optional() })).max(MAX_PARTITIONS) }),
  /** Agent -> client, on the job's subject: task.done of many partitions of a task.batch in one message. */
  message('task.partials', {
    jobId: id,
    partitions: z.array(z.object({ index: count, attempt: count, blocks: count, partial: z.unknown().optional() })).max(MAX_PARTITIONS),
  }),
  /** Agent -> coordinator: task.progress of the partitions of a task.batch that progressed lately, in one message. */
  message('task.batchProgress', {
    jobId: id,
    progress: z.array(z.object({ index: count, attempt: count, blocks: count })).max(MAX_PARTITIONS),
  }),
  message('task.cancel', { jobId: id }),
  /**
   * Coordinator -> agent (on its task subject): fold a detached custom reduce's partials, left
   * to right in the order given, with the module's combine export (the coordinator never runs
   * user code). `dtype`: the input array's. Answered with the folded partial.
   */
  message('partials.combine', {
    /** The job it is for: job.cancel stops it as it stops the job's tasks. */
    jobId: id,
    kernel: kernelRefSchema,
    dtype,
    partials: z.array(z.unknown()).min(1).max(MAX_PARTITIONS),
  }),
  message('partials.combined', { partial: z.unknown().optional() }),
  /**
   * Coordinator -> agent it does not know (the coordinator restarted, or the agent was cut
   * off, or declared dead and back): the agent keeps only the partitions in `keep`, frees the
   * rest (copies whose work moved elsewhere meanwhile), and answers with `agent.register`.
   * Nothing the coordinator does not know may hold an agent's memory.
   */
  message('agent.hello', { keep: z.array(z.object({ arrayId: id, partitions: z.array(count).max(MAX_PARTITIONS) })) }),
]);

export type Message = z.infer<typeof messageSchema>;
export type MessageType = Message['type'];
export type MessageOf<T extends MessageType> = Extract<Message, { type: T }>;
/** A message as a sender writes it: the envelope (`v`, `from`) is filled in by the bus. */
export type Outgoing<T extends MessageType = MessageType> = T extends MessageType
  ? Omit<MessageOf<T>, 'v' | 'from'>
  : never;

/**
 * What each request is answered with (an `error` reply aside, which the bus throws as its
 * typed error): `bus.call(subject, message, options)` infers the reply from the request's
 * type and checks it. Messages not listed here are events (published, never asked).
 */
export const REPLIES = {
  // Client -> coordinator.
  'array.create': ['array.placed'],
  'array.commit': ['array.info'],
  'array.abort': ['ok'],
  'array.open': ['array.info'],
  'array.locate': ['array.info'],
  'array.delete': ['ok'],
  'array.list': ['array.listed'],
  'array.load': ['array.info'],
  'kernel.put': ['ok'],
  'job.submit': ['job.done'],
  'job.cancel': ['ok'],
  'job.sync': ['job.done', 'job.state'],
  'nodes.list': ['nodes.listed'],
  'jobs.list': ['jobs.listed'],
  'job.launch': ['job.info'],
  'job.get': ['job.info'],
  // Agent -> coordinator.
  'agent.register': ['ok'],
  'agent.heartbeat': ['ok'],
  'task.progress': ['ok'],
  'kernel.get': ['kernel.code'],
  // Client -> agent (direct reduces).
  'tasks.run': ['tasks.done'],
  // Coordinator -> agent.
  'partition.allocate': ['ok'],
  'partitions.allocate': ['ok'],
  'partition.load': ['ok'],
  'partition.fetch': ['ok'],
  'partition.seal': ['ok'],
  'partition.free': ['ok'],
  'file.inspect': ['file.info'],
  'file.create': ['file.info'],
  'task.run': ['task.result'],
  'task.batch': ['task.batchDone'],
  'partials.combine': ['partials.combined'],
  'agent.hello': ['agent.register'],
} as const satisfies { readonly [T in MessageType]?: readonly MessageType[] };

/** A message type that is a request: one with a reply in REPLIES. */
export type RequestType = keyof typeof REPLIES;
/** The reply types a request of type `T` is answered with. */
export type ReplyTypeOf<T extends RequestType> = (typeof REPLIES)[T][number];
/** The reply to a request of type `T`, as the requester receives it. */
export type ReplyOf<T extends RequestType> = MessageOf<ReplyTypeOf<T>>;
/** A request as a sender writes it (the bus fills in the envelope). */
export type Request<T extends RequestType = RequestType> = Outgoing<T>;

/** Whether `type` names a request (one REPLIES lists), so `bus.call` can infer its reply. */
export function isRequestType(type: string): type is RequestType {
  return Object.hasOwn(REPLIES, type);
}
