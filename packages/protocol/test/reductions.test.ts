/**
 * The built-in reductions: identities, how partials merge, and the value a user finally sees,
 * with numpy's NaN and empty-array behaviour, and exact bigint partials for int64/uint64.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BUILTIN_REDUCTIONS,
  InvalidArgumentError,
  combineBuiltin,
  emptyReductionError,
  finishBuiltin,
  identityOf,
  type BuiltinPartial,
  type BuiltinReduction,
  type DType,
} from '../src/index.js';

/** Folds per-element partials left to right, the way agents and the client do. */
function reduce(op: BuiltinReduction, partials: BuiltinPartial[], dtype: DType = 'float64'): number | bigint {
  return finishBuiltin(op, partials.reduce<BuiltinPartial>((acc, p) => combineBuiltin(op, acc, p), identityOf(op, dtype)));
}

describe('identityOf', () => {
  it('gives the neutral element of each reduction', () => {
    assert.equal(identityOf('sum', 'float64'), 0);
    assert.equal(identityOf('sumsq', 'float32'), 0);
    assert.equal(identityOf('count', 'int64'), 0);
    assert.equal(identityOf('min', 'float64'), Infinity);
    assert.equal(identityOf('max', 'float64'), -Infinity);
    assert.deepEqual(identityOf('mean', 'float64'), [0, 0]);
  });

  it('is a bigint zero for the sums of int64 and uint64', () => {
    for (const dtype of ['int64', 'uint64'] as const) {
      assert.equal(identityOf('sum', dtype), 0n);
      assert.equal(identityOf('sumsq', dtype), 0n);
      assert.deepEqual(identityOf('mean', dtype), [0n, 0]);
      assert.equal(identityOf('count', dtype), 0, 'a count stays a number');
    }
  });

  for (const op of BUILTIN_REDUCTIONS) {
    it(`${op}: combining with the identity changes nothing`, () => {
      const partial: BuiltinPartial = op === 'mean' ? [10, 4] : 2.5;
      assert.deepEqual(combineBuiltin(op, identityOf(op, 'float64'), partial), partial);
      assert.deepEqual(combineBuiltin(op, partial, identityOf(op, 'float64')), partial);
    });
    if (op !== 'count') {
      it(`${op} of int64: combining a bigint partial with the identity changes nothing`, () => {
        const partial: BuiltinPartial = op === 'mean' ? [-(2n ** 70n), 4] : -(2n ** 70n);
        assert.deepEqual(combineBuiltin(op, identityOf(op, 'int64'), partial), partial);
        assert.deepEqual(combineBuiltin(op, partial, identityOf(op, 'int64')), partial);
      });
    }
  }
});

describe('combineBuiltin and finishBuiltin', () => {
  it('sum, sumsq and count add their partials', () => {
    assert.equal(reduce('sum', [1, 2, 3.5]), 6.5);
    assert.equal(reduce('sumsq', [1, 4, 9]), 14);
    assert.equal(reduce('count', [10, 20, 0]), 30);
  });

  it('min and max pick the extremes', () => {
    assert.equal(reduce('min', [3, -2, 7]), -2);
    assert.equal(reduce('max', [3, -2, 7]), 7);
  });

  it('min and max of nothing are the identities', () => {
    assert.equal(reduce('min', []), Infinity);
    assert.equal(reduce('max', []), -Infinity);
  });

  it('min and max propagate NaN from either side and in any position', () => {
    for (const op of ['min', 'max'] as const) {
      assert.ok(Number.isNaN(combineBuiltin(op, NaN, 1)), `${op}(NaN, 1)`);
      assert.ok(Number.isNaN(combineBuiltin(op, 1, NaN)), `${op}(1, NaN)`);
      assert.ok(Number.isNaN(reduce(op, [NaN, 1, 2])), `${op} NaN first`);
      assert.ok(Number.isNaN(reduce(op, [1, NaN, 2])), `${op} NaN in the middle`);
      assert.ok(Number.isNaN(reduce(op, [1, 2, NaN])), `${op} NaN last`);
    }
  });

  it('sum propagates NaN as well', () => {
    assert.ok(Number.isNaN(reduce('sum', [1, NaN, 2])));
  });

  it('mean merges [sum, count] pairs and divides at the end', () => {
    assert.deepEqual(combineBuiltin('mean', [10, 4], [5, 1]), [15, 5]);
    assert.equal(reduce('mean', [[10, 4], [5, 1]]), 3);
    assert.equal(finishBuiltin('mean', [7, 2]), 3.5);
  });

  it('mean of an empty array is NaN', () => {
    assert.ok(Number.isNaN(finishBuiltin('mean', identityOf('mean', 'float64'))));
    assert.ok(Number.isNaN(finishBuiltin('mean', identityOf('mean', 'int64'))));
    assert.ok(Number.isNaN(reduce('mean', [[0, 0], [0, 0]])));
  });

  it('finishes the other reductions as their combined partial', () => {
    assert.equal(finishBuiltin('sum', 42), 42);
    assert.equal(finishBuiltin('count', 0), 0);
    assert.equal(finishBuiltin('min', -1), -1);
  });
});

describe('int64 and uint64 partials', () => {
  it('sum exactly past 2^53 and past 2^64, where float64 would round', () => {
    const big = 2n ** 62n + 1n;
    const total = reduce('sum', [big, big, big, big, 3n], 'int64');
    assert.equal(total, 4n * big + 3n);
    assert.equal(typeof total, 'bigint');
    assert.notEqual(BigInt(Number(big) * 4 + 3), 4n * big + 3n, 'float64 would have been wrong');
    assert.equal(reduce('sum', [2n ** 64n - 1n, 2n ** 64n - 1n], 'uint64'), 2n ** 65n - 2n);
  });

  it('min and max compare bigints, and ±Infinity partials (empty blocks) drop out', () => {
    const values: BuiltinPartial[] = [Infinity, 2n ** 63n - 1n, -(2n ** 63n), 5n];
    assert.equal(reduce('min', values, 'int64'), -(2n ** 63n));
    assert.equal(reduce('max', [-Infinity, 5n, -Infinity, 2n ** 63n - 1n], 'int64'), 2n ** 63n - 1n);
    assert.equal(reduce('max', [-Infinity, 7n, -Infinity], 'uint64'), 7n);
  });

  it('mean divides the exact sum by the count', () => {
    const big = 2n ** 62n;
    assert.equal(reduce('mean', [[big, 1], [big, 1], [-big, 1], [-big + 4n, 1]], 'int64'), 1);
  });
});

describe('emptyReductionError', () => {
  it('refuses min and max of an array with no elements, as numpy does, naming the shape', () => {
    for (const [op, numpyName] of [['min', 'minimum'], ['max', 'maximum']] as const) {
      const error = emptyReductionError(op, [5, 0]);
      assert.ok(error instanceof InvalidArgumentError);
      assert.match(error.message, /no elements \(shape \[5, 0\]\)/);
      assert.match(error.message, new RegExp(`zero-size array to reduction operation ${numpyName} which has no identity`));
    }
  });

  it('lets sum, sumsq, count (0) and mean (NaN) of an empty array through, as numpy', () => {
    for (const op of ['sum', 'sumsq', 'count', 'mean'] as const) assert.equal(emptyReductionError(op, [0]), undefined);
  });
});
