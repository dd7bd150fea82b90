/**
 * Typed errors survive a hop: flattened with toErrorData and rebuilt with fromErrorData they
 * are the same class with the same code, retryability, details, message and stack.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ArrayNotFoundError,
  JobNotFoundError,
  CancelledError,
  BusyError,
  ConnectionError,
  FileFormatError,
  InsufficientMemoryError,
  InternalError,
  InvalidArgumentError,
  KernelError,
  NameTakenError,
  NoAgentsError,
  ProtocolError,
  SharcError,
  TimeoutError,
  decodeMessage,
  encodeMessage,
  fromErrorData,
  toErrorData,
  fixOf,
  describeFix,
  PROTOCOL_VERSION,
  type ErrorData,
} from '../src/index.js';

const ERROR_CLASSES: Array<[typeof SharcError, string]> = [
  [SharcError, 'SHARC_ERROR'],
  [InvalidArgumentError, 'INVALID_ARGUMENT'],
  [NameTakenError, 'NAME_TAKEN'],
  [ArrayNotFoundError, 'ARRAY_NOT_FOUND'],
  [JobNotFoundError, 'JOB_NOT_FOUND'],
  [KernelError, 'KERNEL_ERROR'],
  [FileFormatError, 'FILE_ERROR'],
  [InsufficientMemoryError, 'INSUFFICIENT_MEMORY'],
  [NoAgentsError, 'NO_AGENTS'],
  [ConnectionError, 'CONNECTION_ERROR'],
  [ProtocolError, 'PROTOCOL_ERROR'],
  [TimeoutError, 'TIMEOUT'],
  [CancelledError, 'CANCELLED'],
  [BusyError, 'BUSY'],
  [InternalError, 'INTERNAL'],
];

/** What crosses NATS: the error data inside an encoded `error` message. */
function overTheWire(data: ErrorData): ErrorData {
  const decoded = decodeMessage(encodeMessage({ v: PROTOCOL_VERSION, from: 'peer', type: 'error', error: data }));
  assert.equal(decoded.type, 'error');
  return decoded.error;
}

describe('typed errors', () => {
  for (const [cls, code] of ERROR_CLASSES) {
    it(`${cls.name} has name ${cls.name}, code ${code} and is a SharcError and an Error`, () => {
      const error = new cls('what went wrong');
      assert.equal(error.name, cls.name);
      assert.equal(error.code, code);
      assert.equal(cls.code, code);
      assert.ok(error instanceof SharcError);
      assert.ok(error instanceof Error);
      assert.equal(error.retryable, false, 'not retryable unless told');
      assert.deepEqual(error.details, {});
    });

    it(`${cls.name} is rebuilt as the same class after toErrorData/fromErrorData`, () => {
      const original = new cls(`${cls.name} happened`, { retryable: true, details: { arrayId: 'arr-1', bytes: 1024 } });

      const rebuilt = fromErrorData(overTheWire(toErrorData(original)));

      assert.ok(rebuilt instanceof cls, `rebuilt as ${rebuilt.constructor.name}`);
      assert.equal(rebuilt.constructor, cls);
      assert.equal(rebuilt.name, cls.name);
      assert.equal(rebuilt.code, code);
      assert.equal(rebuilt.retryable, true);
      assert.deepEqual(rebuilt.details, { arrayId: 'arr-1', bytes: 1024 });
      assert.equal(rebuilt.message, `${cls.name} happened`);
      assert.equal(rebuilt.stack, original.stack);
    });
  }

  it('keeps the cause chain of a typed error', () => {
    const root = new ConnectionError('socket closed', { retryable: true });
    const middle = new TimeoutError('no reply', { cause: root });
    const top = new KernelError('kernel failed', { cause: middle, details: { block: 3 } });

    const rebuilt = fromErrorData(overTheWire(toErrorData(top)));

    assert.ok(rebuilt instanceof KernelError);
    assert.ok(rebuilt.cause instanceof TimeoutError);
    assert.equal(rebuilt.cause.message, 'no reply');
    assert.ok(rebuilt.cause.cause instanceof ConnectionError);
    assert.equal(rebuilt.cause.cause.message, 'socket closed');
    assert.equal(rebuilt.cause.cause.retryable, true);
    assert.equal(rebuilt.cause.cause.cause, undefined);
  });

  it('keeps a plain Error cause of a typed error as InternalError with its message and stack', () => {
    const inner = new RangeError('offset out of range');
    const outer = new FileFormatError('cannot read file', { cause: inner });

    const rebuilt = fromErrorData(overTheWire(toErrorData(outer)));

    assert.ok(rebuilt instanceof FileFormatError);
    assert.ok(rebuilt.cause instanceof InternalError);
    assert.equal(rebuilt.cause.message, 'offset out of range');
    assert.equal(rebuilt.cause.stack, inner.stack);
  });

  it('flattens a plain Error to InternalError data', () => {
    const error = new TypeError('x is not a function');
    const data = toErrorData(error);
    assert.equal(data.code, 'INTERNAL');
    assert.equal(data.name, 'TypeError');
    assert.equal(data.message, 'x is not a function');
    assert.equal(data.retryable, false);
    assert.equal(data.stack, error.stack);

    const rebuilt = fromErrorData(data);
    assert.ok(rebuilt instanceof InternalError);
    assert.equal(rebuilt.message, 'x is not a function');
  });

  it('flattens thrown non-Error values to InternalError data with their text', () => {
    assert.deepEqual(toErrorData('boom'), { name: 'Error', code: 'INTERNAL', message: 'boom', retryable: false });
    assert.equal(toErrorData(42).message, '42');
    assert.ok(fromErrorData(toErrorData(undefined)) instanceof InternalError);
  });

  it('rebuilds an unknown code as a plain SharcError that keeps the message', () => {
    const rebuilt = fromErrorData({ name: 'FutureError', code: 'SOMETHING_NEW', message: 'from a newer peer', retryable: true });
    assert.equal(rebuilt.constructor, SharcError);
    assert.equal(rebuilt.message, 'from a newer peer');
    assert.equal(rebuilt.retryable, true);
  });

  it('keeps the fix of an error as data across a hop: the SDK wording in the message, the parts in details', () => {
    const error = new NameTakenError("an array named 'a' already exists", {
      fix: { option: 'replace', value: true, alternative: 'pick another name' },
      details: { name: 'a' },
    });
    assert.equal(error.message, "an array named 'a' already exists: pick another name or pass { replace: true }");
    const decoded = decodeMessage(encodeMessage({ v: PROTOCOL_VERSION, from: 'peer', type: 'error', error: toErrorData(error) }));
    assert.equal(decoded.type, 'error');
    const rebuilt = fromErrorData((decoded as { error: ErrorData }).error);
    assert.equal(rebuilt.message, error.message, 'the fix is not added twice');
    const found = fixOf(rebuilt)!;
    assert.deepEqual(found, { problem: "an array named 'a' already exists", fix: { option: 'replace', value: true, alternative: 'pick another name' } });
    assert.equal(describeFix(found.fix, 'use --replace'), 'pick another name or use --replace');
    assert.equal(new ArrayNotFoundError("no array named 'b'", { fix: { call: 'list' } }).message, "no array named 'b': list the stored arrays with cluster.list()");
    assert.equal(fixOf(new NameTakenError('x', { details: { problem: 'x', fix: { call: 'format-disk' } } })), undefined, 'an unknown call is no fix');
  });
});
