/**
 * The msgpack codec: messages survive a round trip with their typed arrays intact, and every
 * kind of bad payload is refused with a ProtocolError instead of being half-read.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MAX_DIRECT_PARTITIONS,
  MAX_MESSAGE_DEPTH,
  PROTOCOL_VERSION,
  ProtocolError,
  decodeMessage,
  decodeValue,
  encodeMessage,
  encodeValue,
  messageSchema,
  toErrorData,
  NameTakenError,
  type Message,
  type MessageOf,
} from '../src/index.js';

const envelope = { v: PROTOCOL_VERSION, from: 'client-1' } as const;

/** A deterministic byte generator, so a failing case can be replayed. */
function pseudoRandomBytes(seed: number, length: number): Uint8Array {
  let state = seed >>> 0;
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    bytes[i] = state >>> 24;
  }
  return bytes;
}

function roundTrip(message: Message): Message {
  return decodeMessage(encodeMessage(message));
}

describe('encodeMessage / decodeMessage round trips', () => {
  it('keeps messages without fields', () => {
    const ok: Message = { ...envelope, type: 'ok' };
    const list: Message = { ...envelope, type: 'nodes.list' };
    assert.deepEqual(roundTrip(ok), ok);
    assert.deepEqual(roundTrip(list), list);
  });

  it('keeps an array.create with optional fields', () => {
    const message: Message = {
      ...envelope,
      type: 'array.create',
      name: 'temperatures',
      dtype: 'float32',
      shape: [1000, 3],
      partitions: 4,
      replace: true,
    };
    assert.deepEqual(roundTrip(message), message);
  });

  it('keeps the new dtypes, a 0-d shape [] and a zero-column shape', () => {
    for (const [dtype, shape] of [['int64', []], ['uint64', [3]], ['bool', [5, 0]]] as const) {
      const message: Message = { ...envelope, type: 'array.create', dtype, shape };
      assert.deepEqual(roundTrip(message), message);
    }
  });

  it('refuses a 3-D shape in a message', () => {
    const bytes = encodeValue({ ...envelope, type: 'array.create', dtype: 'float64', shape: [2, 2, 2] });
    assert.throws(() => decodeMessage(bytes), ProtocolError);
  });

  it('keeps exact bigint reduce partials of any size in task.done (int64 sums past 2^64)', () => {
    for (const partial of [2n ** 62n + 1n, -(2n ** 63n), 2n ** 80n + 7n, -(2n ** 70n) - 1n, [2n ** 65n, 3]]) {
      const message: Message = { ...envelope, type: 'task.done', jobId: 'j1', partitionIndex: 0, attempt: 0, blocks: 2, partial };
      assert.deepEqual(roundTrip(message), message);
    }
  });

  it('keeps an array.info with nested array metadata and agents', () => {
    const message: Message = {
      ...envelope,
      type: 'array.info',
      array: {
        id: 'arr-1',
        name: 'x',
        dtype: 'int16',
        shape: [10],
        partitions: [
          { index: 0, rowStart: 0, rowCount: 5, byteLength: 10, agentId: 'agent-a' },
          { index: 1, rowStart: 5, rowCount: 5, byteLength: 10, agentId: 'agent-b' },
        ],
        createdAt: 1_700_000_000_000,
      },
      agents: [
        {
          id: 'agent-a',
          host: 'host-a',
          pid: 42,
          dataHost: '10.0.0.1',
          dataPort: 7000,
          threads: 8,
          memoryBytes: 2 ** 33,
          usedBytes: 10,
          partitions: 1,
          workInFlight: 0,
        },
      ],
    };
    assert.deepEqual(roundTrip(message), message);
  });

  it('keeps an error reply with its error data, details and cause', () => {
    const error = toErrorData(new NameTakenError('name taken', { details: { name: 'x' }, cause: new Error('inner') }));
    const message: Message = { ...envelope, type: 'error', error };
    const decoded = roundTrip(message);
    assert.equal(decoded.type, 'error');
    const { error: decodedError } = decoded as MessageOf<'error'>;
    assert.equal(decodedError.code, 'NAME_TAKEN');
    assert.equal(decodedError.message, 'name taken');
    assert.deepEqual(decodedError.details, { name: 'x' });
    assert.equal(decodedError.cause?.message, 'inner');
  });

  it('keeps a Float64Array and an Int32Array inside job.submit params exactly', () => {
    const weights = new Float64Array([0.1, -0, NaN, Infinity, -Infinity, Number.MIN_VALUE, Number.MAX_VALUE, 1 / 3]);
    const indices = new Int32Array([0, -1, 2147483647, -2147483648, 123456]);
    const message: Message = {
      ...envelope,
      type: 'job.submit',
      jobId: 'job-1',
      spec: {
        kind: 'reduce',
        arrayId: 'arr-1',
        kernel: { kind: 'reduce', hash: 'abc123', module: 'export {}', partial: 'partial', combine: 'combine' },
        params: { weights, nested: { indices }, label: 'w' },
      },
      timeoutMs: 30_000,
    };

    const decoded = roundTrip(message) as MessageOf<'job.submit'>;

    const params = decoded.spec.params as { weights: unknown; nested: { indices: unknown }; label: unknown };
    assert.ok(params.weights instanceof Float64Array, 'weights stays a Float64Array');
    assert.ok(params.nested.indices instanceof Int32Array, 'indices stays an Int32Array');
    assert.equal(params.label, 'w');
    // Compare bit patterns so NaN and -0 count too.
    assert.deepEqual(
      new Uint8Array(params.weights.buffer, params.weights.byteOffset, params.weights.byteLength),
      new Uint8Array(weights.buffer),
    );
    assert.deepEqual(Array.from(params.nested.indices), Array.from(indices));
    assert.equal(decoded.jobId, 'job-1');
    assert.equal(decoded.timeoutMs, 30_000);
  });

  it('keeps a task.done whose reduce partial is a typed array', () => {
    const partial = new Float64Array([1e-300, 2.5, -7]);
    const decoded = roundTrip({ ...envelope, type: 'task.done', jobId: 'job-1', partitionIndex: 3, attempt: 1, blocks: 12, partial });
    assert.equal(decoded.type, 'task.done');
    assert.equal(decoded.partitionIndex, 3);
    assert.equal(decoded.attempt, 1);
    assert.ok(decoded.partial instanceof Float64Array);
    assert.deepEqual(Array.from(decoded.partial), [1e-300, 2.5, -7]);
  });

  it('encodeValue / decodeValue keep plain data and typed arrays', () => {
    const value = { sums: new Float32Array([1.5, 2.5]), counts: [1, 2, 3], big: 2n ** 40n };
    assert.deepEqual(decodeValue(encodeValue(value)), value);
  });
});

describe('decodeMessage refuses bad payloads with ProtocolError', () => {
  it('refuses random bytes', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const bytes = pseudoRandomBytes(seed, 1 + (seed % 64));
      assert.throws(() => decodeMessage(bytes), ProtocolError, `seed ${seed}`);
    }
  });

  it('refuses truncated msgpack and says so', () => {
    // A 2-element array with one element; a 4 GiB string with one byte.
    for (const truncated of [[0x92, 0x01], [0xdb, 0xff, 0xff, 0xff, 0xff, 0x41]]) {
      assert.throws(() => decodeMessage(new Uint8Array(truncated)), (error: unknown) => {
        assert.ok(error instanceof ProtocolError);
        assert.match(error.message, /not valid msgpack/);
        return true;
      });
    }
  });

  it('refuses the reserved msgpack byte 0xc1', () => {
    assert.throws(() => decodeMessage(new Uint8Array([0xc1])), ProtocolError);
  });

  it('refuses an empty payload', () => {
    assert.throws(() => decodeMessage(new Uint8Array(0)), ProtocolError);
  });

  it('refuses msgpack values that are not objects', () => {
    for (const value of [42, 'ok', null, true]) {
      assert.throws(() => decodeMessage(encodeValue(value)), ProtocolError, `value ${JSON.stringify(value)}`);
    }
  });

  it('refuses a message of another protocol version and names the version', () => {
    const newer = PROTOCOL_VERSION + 1;
    const bytes = encodeValue({ v: newer, from: 'newer-peer', type: 'nodes.list' });
    assert.throws(() => decodeMessage(bytes), (error: unknown) => {
      assert.ok(error instanceof ProtocolError);
      assert.match(error.message, new RegExp(`version ${newer}`));
      assert.match(error.message, new RegExp(`speaks ${PROTOCOL_VERSION}`));
      assert.deepEqual(error.details, { version: newer });
      return true;
    });
  });

  it('refuses a message without a version', () => {
    assert.throws(() => decodeMessage(encodeValue({ from: 'x', type: 'nodes.list' })), ProtocolError);
  });

  it('refuses a known type whose fields have the wrong shape', () => {
    const bytes = encodeValue({ v: PROTOCOL_VERSION, from: 'x', type: 'array.create', dtype: 'float64', shape: [-1] });
    assert.throws(() => decodeMessage(bytes), (error: unknown) => {
      assert.ok(error instanceof ProtocolError);
      assert.match(error.message, /array\.create/);
      assert.match(error.message, /shape/);
      return true;
    });
  });

  it('refuses other malformed fields: unknown dtype, 3-D shape, missing id', () => {
    const malformed = [
      { v: PROTOCOL_VERSION, from: 'x', type: 'array.create', dtype: 'float16', shape: [3] },
      { v: PROTOCOL_VERSION, from: 'x', type: 'array.create', dtype: 'float64', shape: [1, 2, 3] },
      { v: PROTOCOL_VERSION, from: 'x', type: 'array.create', dtype: 'float64', shape: [1.5] },
      { v: PROTOCOL_VERSION, from: 'x', type: 'array.commit' },
      { v: PROTOCOL_VERSION, from: 'x', type: 'array.commit', arrayId: '' },
      { v: PROTOCOL_VERSION, type: 'nodes.list' },
    ];
    for (const raw of malformed) {
      assert.throws(() => decodeMessage(encodeValue(raw)), ProtocolError, JSON.stringify(raw));
    }
  });

  it('refuses an unknown message type', () => {
    assert.throws(() => decodeMessage(encodeValue({ v: PROTOCOL_VERSION, from: 'x', type: 'format.disk' })), ProtocolError);
  });

  it('refuses an error whose cause chain nests deeper than MAX_MESSAGE_DEPTH', () => {
    // Written by hand: msgpackr decodes this nesting, but packing it would overflow the stack.
    const field = (key: string, value: unknown) => [encodeValue(key), encodeValue(value)];
    const link = Buffer.concat([Buffer.from([0x85]), ...field('name', 'E'), ...field('code', 'X'), ...field('message', 'm'), ...field('retryable', false), encodeValue('cause')]);
    const chain = Buffer.concat([...Array<Buffer>(1000).fill(link), encodeValue({ name: 'E', code: 'X', message: 'm', retryable: false })]);
    const message = Buffer.concat([Buffer.from([0x84]), ...field('v', PROTOCOL_VERSION), ...field('from', 'x'), ...field('type', 'error'), encodeValue('error'), chain]);
    assert.throws(() => decodeMessage(message), (e: Error) => e instanceof ProtocolError && /nests deeper than 256 levels/.test(e.message));
  });

  it('keeps params nested to MAX_MESSAGE_DEPTH and refuses one level more', () => {
    const nested = (levels: number): unknown => (levels === 0 ? 1 : [nested(levels - 1)]);
    const submit = (params: unknown) =>
      encodeValue({ ...envelope, type: 'job.submit', jobId: 'j', spec: { kind: 'reduce', arrayId: 'a', kernel: { kind: 'builtin', op: 'sum' }, params } });
    // The message itself and its spec are two levels: params may take the rest.
    assert.equal(decodeMessage(submit(nested(MAX_MESSAGE_DEPTH - 2))).type, 'job.submit');
    assert.throws(() => decodeMessage(submit(nested(MAX_MESSAGE_DEPTH - 1))), ProtocolError);
  });
});

describe('tasks.run and tasks.done: checked by hand as strictly as their schemas', () => {
  const job = { jobId: 'job-1', arrayId: 'arr-1', arrayName: 'a b', partitions: [0, 3], kernel: { kind: 'builtin', op: 'sum' }, timeoutMs: 500 };
  const run = { ...envelope, type: 'tasks.run', clientId: 'client-1', jobs: [job] };
  const done = { ...envelope, type: 'tasks.done', jobs: [{ jobId: 'job-1', partitions: [{ index: 0, blocks: 1, partial: 36n }] }, { jobId: 'job-2', error: toErrorData(new NameTakenError('x')) }] };
  const variants: Array<[string, Record<string, unknown>]> = [
    ['well formed', run],
    ['a module kernel', { ...run, jobs: [{ ...job, kernel: { kind: 'reduce', hash: 'h1', module: 'k.ts', partial: 'p', combine: 'c' } }] }],
    ['a built-in with params', { ...run, jobs: [{ ...job, kernel: { kind: 'builtin', op: 'histogram', params: { bins: 4, range: [0, 1] } } }] }],
    ['bad built-in params', { ...run, jobs: [{ ...job, kernel: { kind: 'builtin', op: 'histogram', params: { bins: 0 } } }] }],
    ['an unknown op', { ...run, jobs: [{ ...job, kernel: { kind: 'builtin', op: 'median' } }] }],
    ['no jobs', { ...run, jobs: [] }],
    ['jobs not a list', { ...run, jobs: job }],
    ['a job id with a dot', { ...run, jobs: [{ ...job, jobId: 'a.b' }] }],
    ['a negative partition', { ...run, jobs: [{ ...job, partitions: [-1] }] }],
    ['a fractional partition', { ...run, jobs: [{ ...job, partitions: [0.5] }] }],
    ['no partitions', { ...run, jobs: [{ ...job, partitions: [] }] }],
    ['more partitions over all jobs than one message may name', { ...run, jobs: [job, { ...job, partitions: new Array<number>(MAX_DIRECT_PARTITIONS).fill(0) }] }],
    ['as many partitions over all jobs as one message may name', { ...run, jobs: [job, { ...job, partitions: new Array<number>(MAX_DIRECT_PARTITIONS - 2).fill(0) }] }],
    ['a zero timeout', { ...run, jobs: [{ ...job, timeoutMs: 0 }] }],
    ['an empty array name', { ...run, jobs: [{ ...job, arrayName: '' }] }],
    ['no client id', { ...run, clientId: undefined }],
    ['a module kernel without combine', { ...run, jobs: [{ ...job, kernel: { kind: 'reduce', hash: 'h1', module: 'k.ts', partial: 'p' } }] }],
    ['outcomes', done],
    ['an outcome without job id', { ...done, jobs: [{ partitions: [] }] }],
    ['a partial without blocks', { ...done, jobs: [{ jobId: 'j', partitions: [{ index: 0 }] }] }],
    ['a malformed error', { ...done, jobs: [{ jobId: 'j', error: { message: 'x' } }] }],
    ['outcomes not a list', { ...done, jobs: {} }],
    ['more partials over all outcomes than one message may hold', { ...done, jobs: [done.jobs[0], { jobId: 'j', partitions: new Array(MAX_DIRECT_PARTITIONS).fill({ index: 0, blocks: 1 }) }] }],
  ];
  for (const [what, message] of variants) {
    it(`agrees with the schema on ${what}`, () => {
      const schema = messageSchema.safeParse(message).success;
      let decoded: Message | undefined;
      try {
        decoded = decodeMessage(encodeMessage(message as unknown as Message));
      } catch (error) {
        assert.ok(error instanceof ProtocolError, String(error));
        assert.match(error.message, /^malformed "tasks\.(run|done)" message: /);
      }
      assert.equal(decoded !== undefined, schema, `hand check ${decoded === undefined ? 'refused' : 'accepted'}, the schema ${schema ? 'accepts' : 'refuses'}`);
      if (decoded !== undefined) assert.deepEqual(decoded, messageSchema.parse(message));
    });
  }
});
