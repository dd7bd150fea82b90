/**
 * The statistics built-ins at the protocol level: their job and task messages (kernel
 * `{ kind: 'builtin', op, params }`) round-trip through the codec and malformed params are
 * refused; their partials (which cross NATS as Float64Arrays and bigints) survive msgpack; and
 * the merges are right: Chan's formula equals the variance of the whole, argmin/argmax keep the
 * first extreme and the first NaN, columns merge column by column, histogram edges are numpy's.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  InvalidArgumentError,
  PROTOCOL_VERSION,
  ProtocolError,
  checkBuiltinKernel,
  combineOp,
  decodeMessage,
  decodeValue,
  encodeMessage,
  encodeValue,
  finishOp,
  foldOp,
  histogramEdges,
  opIdentity,
  type BuiltinKernel,
  type Message,
  type OpPartial,
} from '../src/index.js';

const envelope = { v: PROTOCOL_VERSION, from: 'client-1' } as const;

function submit(kernel: unknown): unknown {
  return { ...envelope, type: 'job.submit', jobId: 'job-1', spec: { kind: 'reduce', arrayId: 'arr-1', kernel } };
}

describe('built-in kernels in messages', () => {
  it('speaks protocol version 4', () => {
    assert.equal(PROTOCOL_VERSION, 4);
  });

  it('round-trips every new op with its params, in job.submit and task.run', () => {
    const kernels = [
      { kind: 'builtin', op: 'argmin' },
      { kind: 'builtin', op: 'std', params: { ddof: 1 } },
      { kind: 'builtin', op: 'mean', params: { axis: 0 } },
      { kind: 'builtin', op: 'var', params: { axis: 0, ddof: 2 } },
      { kind: 'builtin', op: 'histogram', params: { bins: 12, range: [-1.5, 3] } },
      { kind: 'builtin', op: 'norm' },
    ];
    for (const kernel of kernels) {
      assert.deepEqual(decodeMessage(encodeMessage(submit(kernel) as Message)), submit(kernel));
      const task = { ...envelope, type: 'task.run', task: { jobId: 'j', clientId: 'c', arrayId: 'a', partitionIndex: 0, attempt: 0, kernel } } as Message;
      assert.deepEqual(decodeMessage(encodeMessage(task)), task);
    }
  });

  it('refuses unknown ops and malformed params with a ProtocolError naming the field', () => {
    const bad: Array<[unknown, RegExp]> = [
      [{ kind: 'builtin', op: 'median' }, /spec\.kernel\.op/],
      [{ kind: 'builtin', op: 'sum', params: { axis: 1 } }, /axis/],
      [{ kind: 'builtin', op: 'std', params: { ddof: -1 } }, /ddof/],
      [{ kind: 'builtin', op: 'histogram', params: { bins: 0, range: [0, 1] } }, /bins/],
      [{ kind: 'builtin', op: 'histogram', params: { bins: 3, range: [2, 1] } }, /lo < hi/],
      [{ kind: 'builtin', op: 'histogram', params: { bins: 3, range: [0, Infinity] } }, /range/],
      [{ kind: 'builtin', op: 'sum', params: { axes: 0 } }, /axes|Unrecognized/i],
    ];
    for (const [kernel, pattern] of bad) {
      assert.throws(
        () => decodeMessage(encodeMessage(submit(kernel) as Message)),
        (error: unknown) => error instanceof ProtocolError && pattern.test(error.message),
        JSON.stringify(kernel),
      );
    }
  });

  it('partials of every new kind survive msgpack: Float64Arrays, bigints past 2^64, NaN', () => {
    const partials: OpPartial[] = [
      [17, NaN],
      [3, -(2n ** 63n)],
      [1000, 2.5, 12.25, -1e-17],
      Float64Array.from([1, 0, 5]),
      [Float64Array.from([1, 2]), 4],
      [2n ** 70n, -3n],
      [4, Float64Array.from([1, NaN]), Float64Array.from([0.5, Infinity]), Float64Array.from([0, 1e-20])],
    ];
    for (const partial of partials) {
      const message = { ...envelope, type: 'task.done', jobId: 'j', partitionIndex: 0, attempt: 0, blocks: 1, partial } as Message;
      assert.deepEqual(decodeMessage(encodeMessage(message)), message);
      assert.deepEqual(decodeValue(encodeValue(partial)), partial);
    }
  });
});

/** The moments partial of a plain list, two-pass, as an agent computes one block's. */
function moments(values: number[]): OpPartial {
  if (values.length === 0) return [0, 0, 0, 0];
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const sd = values.reduce((a, v) => a + (v - mean), 0);
  return [values.length, mean, values.reduce((a, v) => a + (v - mean) ** 2, 0) - (sd * sd) / values.length, sd / values.length];
}

describe('merging the statistics', () => {
  it("var and std: Chan's merge of blocks equals the variance of the whole, with ddof", () => {
    const values = Array.from({ length: 1000 }, (_, i) => 1e9 + Math.sin(i) * 3);
    const blocks = [values.slice(0, 1), values.slice(1, 400), [], values.slice(400, 999), values.slice(999)];
    // Values near 1e9 minus 1e9 are exact: the variance of the offsets is the reference. (A
    // sum of squares minus the squared sum would lose every digit here, and merging means
    // near 1e9 without their corrections gets only 8 digits right.)
    const [, , m2] = moments(values.map((v) => v - 1e9)) as [number, number, number, number];
    for (const ddof of [0, 1, 5]) {
      const kernel: BuiltinKernel = { op: 'var', params: { ddof } };
      const merged = foldOp(kernel, 'float64', 1, blocks.map(moments));
      const expected = m2 / (values.length - ddof);
      const variance = finishOp(kernel, merged, 'float64') as number;
      assert.ok(Math.abs(variance - expected) < 1e-13 * expected, `${variance} vs ${expected}`);
      assert.ok(Math.abs((finishOp({ op: 'std', params: { ddof } }, merged, 'float64') as number) - Math.sqrt(expected)) < 1e-13 * Math.sqrt(expected));
    }
    assert.ok(Number.isNaN(finishOp({ op: 'var' }, opIdentity({ op: 'var' }, 'float64', 1), 'float64')), 'no elements: NaN, as numpy');
    assert.equal(finishOp({ op: 'var', params: { ddof: 2 } }, moments([1, 2]), 'float64'), Infinity, 'ddof = n: m2 / 0, as numpy');
  });

  it('argmin and argmax keep the first extreme and the first NaN, and skip empty blocks', () => {
    const argmin: BuiltinKernel = { op: 'argmin' };
    assert.equal(finishOp(argmin, foldOp(argmin, 'float64', 1, [[-1, 0], [4, 2], [9, 2], [12, 1]]), 'float64'), 12);
    assert.equal(finishOp(argmin, foldOp(argmin, 'float64', 1, [[4, 1], [9, 1]]), 'float64'), 4, 'ties: the first');
    assert.equal(finishOp(argmin, foldOp(argmin, 'float64', 1, [[4, -5], [7, NaN], [9, NaN], [12, -9]]), 'float64'), 7, 'the first NaN');
    const argmax: BuiltinKernel = { op: 'argmax' };
    assert.equal(finishOp(argmax, foldOp(argmax, 'int64', 1, [[0, 5n], [3, 2n ** 62n], [8, 2n ** 62n]]), 'int64'), 3);
  });

  it('axis-0 partials merge column by column; min/max keep the dtype; int64 sums stay exact until the end', () => {
    const sum: BuiltinKernel = { op: 'sum', params: { axis: 0 } };
    const big = foldOp(sum, 'int64', 2, [[2n ** 63n - 1n, -1n], [2n ** 63n - 1n, 1n]]);
    assert.deepEqual(finishOp(sum, big, 'int64'), Float64Array.from([Number(2n ** 64n - 2n), 0]));
    const max: BuiltinKernel = { op: 'max', params: { axis: 0 } };
    assert.deepEqual(finishOp(max, foldOp(max, 'float32', 3, [Float64Array.from([1, NaN, 3]), Float64Array.from([4, 0, -1])]), 'float32'), Float32Array.from([4, NaN, 3]));
    assert.deepEqual(finishOp(max, foldOp(max, 'int64', 2, [[5n, -Infinity], [2n, 7n]] as OpPartial[]), 'int64'), BigInt64Array.from([5n, 7n]));
    const mean: BuiltinKernel = { op: 'mean', params: { axis: 0 } };
    assert.ok(Number.isNaN((finishOp(mean, opIdentity(mean, 'float64', 2), 'float64') as Float64Array)[0]), 'mean of no rows: NaN');
    const std: BuiltinKernel = { op: 'std', params: { axis: 0, ddof: 1 } };
    const merged = combineOp(std, [2, Float64Array.from([1, 10]), Float64Array.from([0, 2]), new Float64Array(2)], [1, Float64Array.from([4, 10]), Float64Array.from([0, 0]), new Float64Array(2)]);
    // Column 0 holds 1, 1, 4: sample std sqrt(3); column 1 holds 9, 11, 10: 1.
    const result = finishOp(std, merged, 'float64') as Float64Array;
    assert.ok(Math.abs(result[0]! - Math.sqrt(3)) < 1e-12 && Math.abs(result[1]! - 1) < 1e-12, String(result));
  });

  it("histogram edges are numpy's linspace, rounded to float32 for float32 data", () => {
    assert.deepEqual(Array.from(histogramEdges(0, 1, 3, 'float64')), [0, 1 / 3, 2 / 3, 1]);
    assert.deepEqual(Array.from(histogramEdges(4.5, 5.5, 3, 'float32')), [4.5, Math.fround(4.5 + 1 / 3), Math.fround(4.5 + 2 / 3), 5.5]);
    const kernel: BuiltinKernel = { op: 'histogram', params: { bins: 3, range: [0, 1] } };
    assert.deepEqual(foldOp(kernel, 'float64', 1, [Float64Array.from([1, 0, 2]), Float64Array.from([0, 4, 1])]), Float64Array.from([1, 4, 3]));
  });

  it('checkBuiltinKernel names the problem and the fix', () => {
    const refused = (kernel: BuiltinKernel, shape: number[], pattern: RegExp) =>
      assert.throws(() => checkBuiltinKernel(kernel, shape, true), (error: unknown) => error instanceof InvalidArgumentError && pattern.test(error.message));
    refused({ op: 'sum', params: { axis: 0 } }, [10], /needs a 2-D array.*\[10\]/);
    refused({ op: 'argmin', params: { ddof: 1 } }, [10], /argmin takes no option 'ddof'/);
    refused({ op: 'histogram', params: { bins: 4 } }, [10], /needs its range/);
    refused({ op: 'std', params: { ddof: 0.5 } }, [10], /ddof must be a non-negative integer/);
    checkBuiltinKernel({ op: 'std', params: { axis: 0, ddof: 3 } }, [4, 2], true);
  });
});
