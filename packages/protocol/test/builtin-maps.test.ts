/**
 * The dtype rules and slice bounds of the built-in maps against numpy and Python themselves:
 * every pair of dtypes for `promote_types` and true division, every dtype for sqrt, and
 * Python's own reading of slice bounds.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { DTYPES, InvalidArgumentError, binaryResultDType, builtinMapOutput, promoteDTypes, resolveSlice } from '../src/index.js';

const PYTHON = '/usr/bin/python3';
const python = (code: string) => JSON.parse(execFileSync(PYTHON, ['-c', code], { encoding: 'utf8' })) as unknown;

describe('built-in map dtypes and bounds', () => {
  it('promote dtypes as numpy.promote_types, and divide as numpy.true_divide, for every pair', () => {
    const numpy = python(`
import numpy as np, json
names = ${JSON.stringify(DTYPES)}
print(json.dumps([[str(np.promote_types(a, b)), str(np.true_divide(np.ones(1, a), np.ones(1, b)).dtype)] for a in names for b in names]))`) as Array<[string, string]>;
    let i = 0;
    for (const a of DTYPES) {
      for (const b of DTYPES) {
        const [promoted, divided] = numpy[i++]!;
        // numpy's bool + bool is bool (logical or): promote_types says bool too.
        assert.equal(promoteDTypes(a, b), promoted, `promote ${a} ${b}`);
        assert.equal(binaryResultDType('div', a, b), divided, `divide ${a} ${b}`);
      }
    }
  });

  it('reads slice bounds as Python does: negatives from the end, clamped, empty when end ≤ start', () => {
    const bounds: Array<[number | null, number | null]> = [];
    for (const start of [null, -12, -10, -3, 0, 2, 9, 10, 11]) for (const end of [null, -12, -1, 0, 3, 10, 15]) bounds.push([start, end]);
    const lengths = python(`import json; r = list(range(10)); b = json.loads(${JSON.stringify(JSON.stringify(bounds))}); print(json.dumps([[len(r[s:e]), (r[s:e] or [None])[0]] for s, e in b]))`) as Array<[number, number | null]>;
    bounds.forEach(([start, end], i) => {
      const { start: from, end: to } = resolveSlice(10, start, end);
      assert.equal(to - from, lengths[i]![0], `[${start}:${end}]`);
      if (to > from) assert.equal(from, lengths[i]![1], `[${start}:${end}] first row`);
    });
    assert.throws(() => resolveSlice(10, 1.5, 3), InvalidArgumentError);
  });

  it('gives row statistics and matvec a [rows] output, and refuses what does not apply', () => {
    assert.deepEqual(builtinMapOutput('rowmean', undefined, { dtype: 'int16', shape: [5, 3] }), { dtype: 'float64', shape: [5] });
    assert.deepEqual(builtinMapOutput('rowmax', undefined, { dtype: 'int16', shape: [5, 3] }), { dtype: 'int16', shape: [5] });
    assert.deepEqual(builtinMapOutput('matvec', { v: [1, 2, 3] }, { dtype: 'uint8', shape: [5, 3] }), { dtype: 'float64', shape: [5] });
    assert.deepEqual(builtinMapOutput('sqrt', undefined, { dtype: 'float32', shape: [] }), { dtype: 'float32', shape: [] });
    assert.deepEqual(builtinMapOutput('slice', { start: 2, end: 4 }, { dtype: 'bool', shape: [9] }), { dtype: 'bool', shape: [2] });
    assert.throws(() => builtinMapOutput('slice', { start: 0, end: 1 }, { dtype: 'bool', shape: [] }), /0-d array has no rows/);
    assert.throws(() => builtinMapOutput('rowsum', undefined, { dtype: 'float64', shape: [4] }), /needs a 2-D array/);
    assert.throws(() => builtinMapOutput('add', undefined, { dtype: 'float64', shape: [4] }, { dtype: 'float64', shape: [4, 1] }), /same shape/);
    assert.throws(() => builtinMapOutput('astype', { dtype: 'complex128' }, { dtype: 'float64', shape: [4] }), /unknown dtype "complex128"/);
    assert.throws(() => builtinMapOutput('scale', { factor: Number.NaN }, { dtype: 'float64', shape: [4] }), /number/);
  });
});
