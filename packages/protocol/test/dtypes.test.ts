/**
 * dtypes and shapes: the names sharc accepts, the typed arrays they map to, and the shapes a
 * caller may pass, with errors that say what to fix.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DTYPES,
  InvalidArgumentError,
  bytesPerElement,
  colsOf,
  dtypeOf,
  elementCount,
  firstNonBoolIndex,
  isBigIntDType,
  isDType,
  parseDType,
  parseShape,
  rowsOf,
  typedArrayConstructor,
  viewOf,
  type DType,
  type TypedArray,
} from '../src/index.js';

const SAMPLES: Array<[DType, TypedArray, number]> = [
  ['float64', new Float64Array(2), 8],
  ['float32', new Float32Array(2), 4],
  ['int64', new BigInt64Array(2), 8],
  ['uint64', new BigUint64Array(2), 8],
  ['int32', new Int32Array(2), 4],
  ['uint32', new Uint32Array(2), 4],
  ['int16', new Int16Array(2), 2],
  ['uint16', new Uint16Array(2), 2],
  ['int8', new Int8Array(2), 1],
  ['uint8', new Uint8Array(2), 1],
];

describe('dtypes', () => {
  it('lists exactly the ten numeric dtypes and bool', () => {
    assert.deepEqual([...DTYPES].sort(), [...SAMPLES.map(([dtype]) => dtype), 'bool'].sort());
  });

  it('holds bool in a Uint8Array of one byte per element; a Uint8Array is uint8 unless declared bool', () => {
    assert.equal(typedArrayConstructor('bool'), Uint8Array);
    assert.equal(bytesPerElement('bool'), 1);
    assert.equal(dtypeOf(Uint8Array.of(0, 1)), 'uint8');
    assert.equal(parseDType('bool'), 'bool');
  });

  it('tells bigint dtypes apart', () => {
    assert.deepEqual(DTYPES.filter(isBigIntDType), ['int64', 'uint64']);
  });

  it('finds the first byte of a bool array that is neither 0 nor 1', () => {
    assert.equal(firstNonBoolIndex(Uint8Array.of(0, 1, 1, 0)), -1);
    assert.equal(firstNonBoolIndex(Uint8Array.of(0, 1, 2, 255)), 2);
    assert.equal(firstNonBoolIndex(new Uint8Array(0)), -1);
  });

  for (const [dtype, sample, bytes] of SAMPLES) {
    it(`maps ${dtype} to ${sample.constructor.name} and back`, () => {
      assert.equal(dtypeOf(sample), dtype);
      assert.equal(typedArrayConstructor(dtype), sample.constructor);
      assert.equal(bytesPerElement(dtype), bytes);
      assert.equal(parseDType(dtype), dtype);
      assert.equal(isDType(dtype), true);
    });
  }

  it('has no dtype for arrays sharc cannot store', () => {
    assert.equal(dtypeOf(new Uint8ClampedArray(1)), undefined);
    assert.equal(dtypeOf(new DataView(new ArrayBuffer(8))), undefined);
  });

  it('sees a Node Buffer as uint8', () => {
    assert.equal(dtypeOf(Buffer.from([1, 2, 3])), 'uint8');
  });

  it('refuses float16 and lists the accepted names', () => {
    assert.throws(
      () => parseDType('float16'),
      (error: unknown) => {
        assert.ok(error instanceof InvalidArgumentError);
        assert.match(error.message, /"float16"/);
        for (const dtype of DTYPES) assert.ok(error.message.includes(dtype), `lists ${dtype}`);
        return true;
      },
    );
  });

  it('names the field in the error', () => {
    assert.throws(() => parseDType('float16', 'output dtype'), /unknown output dtype "float16"/);
  });

  it('refuses non-strings and other spellings', () => {
    for (const value of [undefined, null, 8, 'Float64', 'f8', '<f8', {}]) {
      assert.throws(() => parseDType(value), InvalidArgumentError, String(value));
      assert.equal(isDType(value), false);
    }
  });

  it('viewOf gives BigInt64Array views of int64 bytes', () => {
    const buffer = new ArrayBuffer(24);
    const view = viewOf('int64', buffer, 8, 2);
    assert.ok(view instanceof BigInt64Array);
    view[1] = -(2n ** 62n);
    assert.equal(new BigInt64Array(buffer)[2], -(2n ** 62n));
  });

  it('viewOf shares the buffer at the given offset', () => {
    const buffer = new ArrayBuffer(32);
    const view = viewOf('int32', buffer, 8, 3);
    assert.ok(view instanceof Int32Array);
    assert.equal(view.length, 3);
    view[0] = 7;
    assert.equal(new Int32Array(buffer)[2], 7);
  });
});

describe('parseShape', () => {
  it('accepts [n] and [rows, cols], and [] for a 0-d array of one element', () => {
    assert.deepEqual(parseShape([]), []);
    assert.deepEqual(parseShape([], 1), []);
    assert.throws(() => parseShape([], 2), /holds 1 elements but the data has 2/);
    assert.deepEqual(parseShape([5]), [5]);
    assert.deepEqual(parseShape([0]), [0]);
    assert.deepEqual(parseShape([3, 4]), [3, 4]);
    assert.deepEqual(parseShape([0, 4]), [0, 4]);
  });

  it('accepts a shape that matches the data length', () => {
    assert.deepEqual(parseShape([12], 12), [12]);
    assert.deepEqual(parseShape([3, 4], 12), [3, 4]);
  });

  it('returns a copy the caller cannot change afterwards', () => {
    const input = [3, 4];
    const shape = parseShape(input);
    input[0] = 99;
    assert.deepEqual(shape, [3, 4]);
  });

  it('refuses dimensions that are not non-negative integers', () => {
    for (const shape of [[1.5], [3, 0.5], [-1], [3, -4], [NaN], [Infinity], ['3'], [2 ** 53], [null]]) {
      assert.throws(
        () => parseShape(shape),
        (error: unknown) => {
          assert.ok(error instanceof InvalidArgumentError, JSON.stringify(shape));
          assert.match(error.message, /non-negative integer/);
          return true;
        },
      );
    }
  });

  it('refuses 3-D shapes', () => {
    for (const shape of [[2, 3, 4], [1, 1, 1, 1]]) {
      assert.throws(() => parseShape(shape), /shape must be \[rows\], \[rows, cols\] or \[\]/, JSON.stringify(shape));
    }
  });

  it('refuses values that are not arrays', () => {
    for (const shape of [5, '5', undefined, null, { 0: 5, length: 1 }, new Int32Array([5])]) {
      assert.throws(() => parseShape(shape), InvalidArgumentError, String(shape));
    }
  });

  it('refuses a shape that does not match the data length and says both counts', () => {
    assert.throws(
      () => parseShape([2, 3], 5),
      (error: unknown) => {
        assert.ok(error instanceof InvalidArgumentError);
        assert.match(error.message, /holds 6 elements but the data has 5/);
        return true;
      },
    );
    assert.throws(() => parseShape([4], 5), /holds 4 elements but the data has 5/);
  });

  it('rowsOf, colsOf and elementCount read 0-D, 1-D and 2-D shapes', () => {
    assert.equal(rowsOf([]), 1);
    assert.equal(colsOf([]), 1);
    assert.equal(elementCount([]), 1);
    assert.equal(rowsOf([7]), 7);
    assert.equal(colsOf([7]), 1);
    assert.equal(elementCount([7]), 7);
    assert.equal(rowsOf([3, 4]), 3);
    assert.equal(colsOf([3, 4]), 4);
    assert.equal(elementCount([3, 4]), 12);
  });
});
