/**
 * Saved coordinator records are parsed like messages: what the coordinator writes reads back
 * the same, an older version is migrated (never dropped), and a record of a newer version or
 * one that does not match its schema is refused, saying what is wrong.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeValue, encodeValue } from '@sharc/protocol';
import { parseRecord, STATE_FORMAT_VERSION, type ArrayRecord, type FinishedJob, type PersistedJob, type StateMigration } from '../src/state/records.js';

const meta = {
  id: 'arr-1',
  name: 'frames',
  dtype: 'float64' as const,
  shape: [100, 3] as const,
  partitions: [
    { index: 0, rowStart: 0, rowCount: 50, byteLength: 1200, agentId: 'agent-1', replicas: ['agent-2'] },
    { index: 1, rowStart: 50, rowCount: 50, byteLength: 1200, agentId: 'agent-2' },
  ],
  createdAt: 1_700_000_000_000,
};
const records: ArrayRecord[] = [
  { meta, origin: { kind: 'upload', copies: 2 }, state: 'ready', replace: false, createdAt: 1 },
  { meta, origin: { kind: 'file', source: { path: '/data/x.npy' }, dataOffset: 128 }, state: 'ready', replace: false, createdAt: 1 },
  {
    meta,
    origin: { kind: 'file', source: { path: '/data/x.f32', format: 'raw', dtype: 'float32', shape: [10, 2], byteOffset: 400 }, dataOffset: 400 },
    state: 'retired',
    replace: false,
    createdAt: 1,
  },
  {
    meta,
    origin: { kind: 'map', inputId: 'arr-0', kernel: { kind: 'map', hash: 'abc123', module: 'k.ts', kernel: 'scale' }, params: { factor: 2, w: new Float64Array([1, 2]) }, dtype: 'float32', cols: 3 },
    state: 'pending',
    transferToken: 'tok',
    replace: true,
    createdAt: 1,
  },
  // A map output without columns, a 0-d upload owned by a client, an array with lost partitions.
  {
    meta: { ...meta, shape: [10, 0] },
    origin: { kind: 'map', inputId: 'arr-0', kernel: { kind: 'map', hash: 'abc123', module: 'k.ts', kernel: 'none' }, params: undefined, dtype: 'int64', cols: 0 },
    state: 'ready',
    replace: false,
    createdAt: 1,
  },
  { meta: { ...meta, dtype: 'bool', shape: [] }, origin: { kind: 'upload', copies: 1 }, state: 'pending', transferToken: 't', owner: 'client-9', replace: false, createdAt: 1 },
  { meta: { ...meta, lostPartitions: [0] }, origin: { kind: 'upload', copies: 1 }, state: 'ready', replace: false, createdAt: 1 },
];
const job: PersistedJob = {
  jobId: 'job-1',
  clientId: 'client-1',
  spec: { kind: 'reduce', arrayId: 'arr-1', kernel: { kind: 'builtin', op: 'sum' } },
  startedAt: 1_700_000_000_000,
  timeoutMs: 86_400_000,
  replyTo: '_INBOX.abc',
  generation: 0,
};

/** As stored and read back: msgpack of the { v, value } envelope. */
const stored = (value: unknown, v: number | null = STATE_FORMAT_VERSION) => decodeValue(encodeValue(v === null ? { value } : { v, value }));

function refused(key: string, raw: unknown, pattern: RegExp, migrations?: readonly StateMigration[], currentVersion?: number): void {
  assert.throws(
    () => parseRecord(key, raw, migrations, currentVersion),
    (error: unknown) => {
      assert.match((error as Error).message, pattern);
      return true;
    },
  );
}

describe('saved coordinator records', () => {
  it('read back every kind of record the coordinator writes, unchanged', () => {
    for (const record of records) {
      assert.deepEqual(parseRecord('array.arr-1', stored(record)), { record: { kind: 'array', value: record }, migrated: false });
    }
    assert.deepEqual(parseRecord('job.job-1', stored(job)), { record: { kind: 'job', value: job }, migrated: false });
    // A detached job of job.launch (no reply subject), and the kept outcomes of detached jobs.
    const launched: PersistedJob = { jobId: 'job-2', clientId: 'client-1', spec: job.spec, startedAt: 1, timeoutMs: 1000, generation: 1, detached: true, launched: true };
    assert.deepEqual(parseRecord('job.job-2', stored(launched)), { record: { kind: 'job', value: launched }, migrated: false });
    const outcomes: FinishedJob[] = [
      { jobId: 'job-3', kind: 'reduce', state: 'done', array: 'frames', doneBlocks: 4, totalBlocks: 4, submittedAt: 1, endedAt: 2, value: 2n ** 62n },
      { jobId: 'job-3', kind: 'reduce', state: 'done', array: 'frames', doneBlocks: 4, totalBlocks: 4, submittedAt: 1, endedAt: 2, value: new Float64Array([1, 2]) },
      { jobId: 'job-3', kind: 'map', state: 'done', array: 'frames', doneBlocks: 4, totalBlocks: 4, submittedAt: 1, endedAt: 2, output: 'out' },
      { jobId: 'job-3', kind: 'map', state: 'failed', array: 'frames', doneBlocks: 0, totalBlocks: 4, submittedAt: 1, endedAt: 2, error: { name: 'KernelError', code: 'KERNEL_ERROR', message: 'boom', retryable: false } },
    ];
    for (const outcome of outcomes) {
      assert.deepEqual(parseRecord('finished.job-3', stored(outcome)), { record: { kind: 'finished', value: outcome }, migrated: false });
    }
    // A detached map stored before names were checked for characters that do not print.
    const map: PersistedJob = {
      ...job,
      spec: { kind: 'map', arrayId: 'arr-1', kernel: { kind: 'map', hash: 'abc123', module: 'k.ts', kernel: 'f' }, dtype: 'float64', cols: 1, outputName: 'out\u00a0v2' },
      outputId: 'arr-2',
      detached: true,
    };
    assert.deepEqual(parseRecord('job.job-1', stored(map)), { record: { kind: 'job', value: map }, migrated: false });
    assert.deepEqual(parseRecord('kernel.abc123', stored('export const f = 1;')), { record: { kind: 'kernel', hash: 'abc123', code: 'export const f = 1;' }, migrated: false });
    assert.deepEqual(parseRecord('agent.agent-1', stored(true)), { record: { kind: 'agent', agentId: 'agent-1' }, migrated: false });
  });

  it('migrates a record of version 0 (no version field) instead of dropping it', () => {
    const record = records[0]!;
    assert.deepEqual(parseRecord('array.arr-1', stored(record, null)), { record: { kind: 'array', value: record }, migrated: true });
    assert.deepEqual(parseRecord('agent.agent-1', stored(true, null)), { record: { kind: 'agent', agentId: 'agent-1' }, migrated: true });
  });

  it('applies each migration in turn up to the current version', () => {
    // Suppose version 0 stored kernel code as { code }: its migration turns that into the string.
    const unwrapCode: StateMigration = (value, kind) => (kind === 'kernel' ? (value as { code: unknown }).code : value);
    const expected = { record: { kind: 'kernel', hash: 'abc', code: 'export const f = 1;' }, migrated: true };
    assert.deepEqual(parseRecord('kernel.abc', stored({ code: 'export const f = 1;' }, 0), [unwrapCode], 1), expected);
    // Two versions on, each step runs once, in order.
    const seen: string[] = [];
    const traced = [unwrapCode, (value: unknown) => value].map((migrate, from): StateMigration => (value, kind) => (seen.push(`${kind} ${from}->${from + 1}`), migrate(value, kind)));
    assert.deepEqual(parseRecord('kernel.abc', stored({ code: 'export const f = 1;' }, 0), traced, 2), expected);
    assert.deepEqual(seen, ['kernel 0->1', 'kernel 1->2']);
    refused('kernel.abc', stored('code', 1), /no migration from state format version 1 to 2/, [unwrapCode], 2);
  });

  it('refuses a record of a newer version, naming both versions', () => {
    refused('array.arr-1', stored(records[0], STATE_FORMAT_VERSION + 1), new RegExp(`it has state format version ${STATE_FORMAT_VERSION + 1}, and this coordinator reads versions up to ${STATE_FORMAT_VERSION}: a newer sharc wrote it`));
    refused('array.arr-1', stored(records[0], 'one' as never), /its state format version "one" is not a version number/);
  });

  it('refuses a record that does not match its schema, saying where', () => {
    refused('array.arr-1', stored({ ...records[0], meta: { ...meta, shape: 'big' } }), /does not match the array record of version 1: meta\.shape: /);
    refused('array.arr-1', stored({ ...records[0], origin: { kind: 'copied' } }), /origin\.kind: /);
    refused('array.arr-1', stored({ ...records[0], state: undefined }), /state: /);
    refused('job.job-1', stored({ ...job, spec: { kind: 'reduce' } }), /does not match the job record of version 1: spec\./);
    refused('kernel.abc', stored(42), /does not match the kernel record/);
    refused('agent.agent-1', stored('yes'), /does not match the agent record/);
    refused('array.arr-1', 17, /it is not a \{ v, value \} record/);
    refused('array.arr-1', { v: 1 }, /it is not a \{ v, value \} record/);
  });

  it('refuses a record stored under another key than its own id, and a key of no known kind', () => {
    refused('array.arr-2', stored(records[0]), /it holds array arr-1, not arr-2/);
    refused('job.job-2', stored(job), /it holds job job-1, not job-2/);
    refused('agent.bad id', stored(true), /"bad id" is not an agent id/);
    refused('lease.x', stored(true), /the key is of no kind this coordinator knows \(array\.\*, kernel\.\*, job\.\*, agent\.\*, finished\.\*\): a newer sharc wrote it\?/);
  });
});
