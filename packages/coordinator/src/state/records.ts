import { z } from 'zod';
import { arrayMetaSchema, detachedJobSchema, DTYPES, fileSourceSchema, mapSpecSchema, reduceSpecSchema, kernelRefSchema, SharcError } from '@sharc/protocol';

/**
 * The records a coordinator saves, as schemas: every record read back is parsed like a
 * message (never cast), and the types the coordinator uses are derived from these schemas so
 * that what is written and what is read cannot drift apart. Each schema accepts everything the
 * coordinator writes and nothing more.
 *
 * A stored record is `{ v: STATE_FORMAT_VERSION, value }`. When the shape of a value changes,
 * bump STATE_FORMAT_VERSION and add the function turning a value of the old version into the
 * new one to STATE_MIGRATIONS: older records are migrated on load (and written back), never dropped.
 */

const id = arrayMetaSchema.shape.id;
const count = z.number().int().nonnegative();

/**
 * Where an array's bytes come from, so a partition lost with its agents can be rebuilt:
 * uploads are kept as copies on several agents, a file is read again, a map output is
 * computed again from its input (its lineage).
 */
export const arrayOriginSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('upload'), copies: z.number().int().positive() }),
  z.object({ kind: z.literal('file'), source: fileSourceSchema, dataOffset: count }),
  z.object({
    kind: z.literal('map'),
    inputId: id,
    kernel: kernelRefSchema,
    params: z.unknown(),
    dtype: z.enum(DTYPES),
    /** 0 for a zero-column output (a map over an array without columns). */
    cols: count,
    /** The second input of a built-in binary op: a lineage parent too (kept while the output lives). */
    withId: id.optional(),
  }),
]);
export type ArrayOrigin = z.infer<typeof arrayOriginSchema>;

export const arrayRecordSchema = z.object({
  meta: arrayMetaSchema,
  origin: arrayOriginSchema,
  /**
   * `retired`: deleted or replaced by its user, but kept (unnamed, unlisted) while a map
   * output computed from it lives: that output's lost partitions are rebuilt from it.
   */
  state: z.enum(['pending', 'ready', 'retired']),
  /** For a pending upload: what the client must present on the data port. */
  transferToken: z.string().optional(),
  /**
   * For a pending upload: the client writing it, whose lease (ClientSessions) keeps it: the
   * upload is dropped when that client goes silent.
   */
  owner: z.string().optional(),
  /** For a pending array: whether committing it may replace a ready array of the same name. */
  replace: z.boolean(),
  createdAt: z.number(),
});
export type ArrayRecord = z.infer<typeof arrayRecordSchema>;

/**
 * A stored job's spec: as a message's, except that the output's name is read as any stored
 * array's name is (a job stored before the name rule was tightened must not stop startup).
 */
const storedJobSpecSchema = z.discriminatedUnion('kind', [
  reduceSpecSchema,
  mapSpecSchema.extend({ outputName: arrayMetaSchema.shape.name.optional() }),
]);

/** A job the coordinator runs, as kept so that a restarted coordinator can resume it. */
export const persistedJobSchema = z.object({
  jobId: id,
  clientId: z.string().min(1),
  spec: storedJobSpecSchema,
  /** Milliseconds since the epoch, and the job's whole budget from then. */
  startedAt: z.number(),
  timeoutMs: z.number().positive(),
  /**
   * Where the submitter waits for the outcome (its job.submit request's reply subject); absent
   * for a job started with job.launch (`launched`), whose outcome is kept instead.
   */
  replyTo: z.string().min(1).optional(),
  /** Started with job.launch (cluster.submit): detached, and its outcome is stored when it ends (see finishedJobSchema). */
  launched: z.boolean().optional(),
  /** A map's output array (pending while the job runs). */
  outputId: id.optional(),
  /** How many coordinators have run the job before: attempts of each get their own numbers. */
  generation: count,
  /** Keeps running when its client goes away (a map with a named output). */
  detached: z.boolean().optional(),
});
export type PersistedJob = z.infer<typeof persistedJobSchema>;

/**
 * The outcome of a detached job (job.launch) that ended, kept for the coordinator's
 * keepResultsMs after `endedAt` so that any client finds it, after its submitter went away and
 * after a coordinator restart. `expiresAt` is not stored: it follows from the setting.
 */
export const finishedJobSchema = detachedJobSchema.omit({ expiresAt: true, valueOmitted: true }).extend({
  state: z.enum(['done', 'failed', 'cancelled']),
  endedAt: count,
});
export type FinishedJob = z.infer<typeof finishedJobSchema>;

/** A kernel's bundled code, stored under its hash. */
export const kernelCodeSchema = z.string();
/** An agent that was alive (its id is the key): a restarted coordinator waits for it to rejoin. */
export const knownAgentSchema = z.literal(true);

/** Each kind of record: its key prefix and the schema of its value. */
export const RECORD_KINDS = {
  array: { prefix: 'array.', schema: arrayRecordSchema },
  kernel: { prefix: 'kernel.', schema: kernelCodeSchema },
  job: { prefix: 'job.', schema: persistedJobSchema },
  agent: { prefix: 'agent.', schema: knownAgentSchema },
  // Added after version 1 without a bump: no existing record changed shape.
  finished: { prefix: 'finished.', schema: finishedJobSchema },
} as const;
export type RecordKind = keyof typeof RECORD_KINDS;

/** The version of the records this code writes. */
export const STATE_FORMAT_VERSION = 1;

/** Turns the value of a record of one version into the next version's, given its kind. */
export type StateMigration = (value: unknown, kind: RecordKind) => unknown;

/**
 * `STATE_MIGRATIONS[n]` turns a value of version n into version n + 1; load applies them in
 * turn up to STATE_FORMAT_VERSION. Version 0 is a record without a `v` (the envelope as
 * written today minus its version field): its value has the shape of version 1, so its
 * migration is the identity. A change to a record's shape adds the next entry here.
 */
export const STATE_MIGRATIONS: readonly StateMigration[] = [(value) => value];

/**
 * Saved state that this coordinator cannot read: a record of a newer version, or one that does
 * not match its schema. The coordinator refuses to start on it rather than forget what the
 * record held (agents would then free those partitions).
 */
export class StateUnreadableError extends SharcError {
  static override readonly code: string = 'STATE_UNREADABLE';
}

/** What a stored record holds once read, migrated to the current version and validated. */
export type ParsedRecord =
  | { kind: 'array'; value: ArrayRecord }
  | { kind: 'kernel'; hash: string; code: string }
  | { kind: 'job'; value: PersistedJob }
  | { kind: 'agent'; agentId: string }
  | { kind: 'finished'; value: FinishedJob };

/**
 * Reads one stored record (already msgpack-decoded): its kind from the key, its version from
 * the envelope, migrated to the current version and validated against the kind's schema.
 * Returns the parsed record and whether it was migrated (then it should be written back);
 * throws a plain Error saying what is wrong, for the caller to name bucket and key.
 */
export function parseRecord(
  key: string,
  raw: unknown,
  migrations: readonly StateMigration[] = STATE_MIGRATIONS,
  currentVersion = STATE_FORMAT_VERSION,
): { record: ParsedRecord; migrated: boolean } {
  const kind = (Object.keys(RECORD_KINDS) as RecordKind[]).find((k) => key.startsWith(RECORD_KINDS[k].prefix));
  if (kind === undefined) {
    throw new Error(`the key is of no kind this coordinator knows (${Object.values(RECORD_KINDS).map((k) => `${k.prefix}*`).join(', ')}): a newer sharc wrote it?`);
  }
  const suffix = key.slice(RECORD_KINDS[kind].prefix.length);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || !('value' in raw)) {
    throw new Error('it is not a { v, value } record');
  }
  const envelope = raw as { v?: unknown; value: unknown };
  const version = envelope.v ?? 0;
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 0) {
    throw new Error(`its state format version ${JSON.stringify(version)} is not a version number`);
  }
  if (version > currentVersion) {
    throw new Error(`it has state format version ${version}, and this coordinator reads versions up to ${currentVersion}: a newer sharc wrote it`);
  }
  let value = envelope.value;
  for (let from = version; from < currentVersion; from++) {
    const migrate = migrations[from];
    if (migrate === undefined) throw new Error(`no migration from state format version ${from} to ${from + 1}`);
    value = migrate(value, kind);
  }
  const parsed = RECORD_KINDS[kind].schema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 3).map((issue) => `${issue.path.join('.') || '(value)'}: ${issue.message}`);
    throw new Error(`it does not match the ${kind} record of version ${currentVersion}: ${issues.join('; ')}`);
  }
  const migrated = version !== currentVersion;
  switch (kind) {
    case 'array': {
      const record = parsed.data as ArrayRecord;
      if (record.meta.id !== suffix) throw new Error(`it holds array ${record.meta.id}, not ${suffix}`);
      return { record: { kind, value: record }, migrated };
    }
    case 'job': {
      const job = parsed.data as PersistedJob;
      if (job.jobId !== suffix) throw new Error(`it holds job ${job.jobId}, not ${suffix}`);
      return { record: { kind, value: job }, migrated };
    }
    case 'finished': {
      const job = parsed.data as FinishedJob;
      if (job.jobId !== suffix) throw new Error(`it holds the outcome of job ${job.jobId}, not ${suffix}`);
      return { record: { kind, value: job }, migrated };
    }
    case 'kernel':
      return { record: { kind, hash: suffix, code: parsed.data as string }, migrated };
    case 'agent':
      if (!id.safeParse(suffix).success) throw new Error(`${JSON.stringify(suffix)} is not an agent id`);
      return { record: { kind, agentId: suffix }, migrated };
  }
}
