/**
 * The built-in reductions: identities, how partials merge, and the value a user finally sees,
 * with numpy's NaN and empty-array behaviour.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BUILTIN_REDUCTIONS,
  combineBuiltin,
  finishBuiltin,
  identityOf,
  type BuiltinPartial,
  type BuiltinReduction,
} from '../src/index.js';

/** Folds per-element partials left to right, the way agents and the coordinator do. */
function reduce(op: BuiltinReduction, partials: BuiltinPartial[]): number {
  return finishBuiltin(op, partials.reduce<BuiltinPartial>((acc, p) => combineBuiltin(op, acc, p), identityOf(op)));
}

describe('identityOf', () => {
  it('gives the neutral element of each reduction', () => {
    assert.equal(identityOf('sum'), 0);
    assert.equal(identityOf('sumsq'), 0);
    assert.equal(identityOf('count'), 0);
    assert.equal(identityOf('min'), Infinity);
    assert.equal(identityOf('max'), -Infinity);
    assert.deepEqual(identityOf('mean'), [0, 0]);
  });

  for (const op of BUILTIN_REDUCTIONS) {
    it(`${op}: combining with the identity changes nothing`, () => {
      const partial: BuiltinPartial = op === 'mean' ? [10, 4] : 2.5;
      assert.deepEqual(combineBuiltin(op, identityOf(op), partial), partial);
      assert.deepEqual(combineBuiltin(op, partial, identityOf(op)), partial);
    });
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
    assert.ok(Number.isNaN(finishBuiltin('mean', identityOf('mean'))));
    assert.ok(Number.isNaN(reduce('mean', [[0, 0], [0, 0]])));
  });

  it('finishes the other reductions as their combined partial', () => {
    assert.equal(finishBuiltin('sum', 42), 42);
    assert.equal(finishBuiltin('count', 0), 0);
    assert.equal(finishBuiltin('min', -1), -1);
  });
});
