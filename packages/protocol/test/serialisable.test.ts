/**
 * Kernel partials must be plain data to cross a thread and NATS; anything else is refused
 * with a KernelError that says what the value is and where it sits.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KernelError } from '@sharc/protocol';
import { assertSerialisable } from '../src/plain-data.js';

function assertRefused(value: unknown, pattern: RegExp): void {
  assert.throws(
    () => assertSerialisable(value, 'the partial of kernel sumOfSquares'),
    (error: unknown) => {
      assert.ok(error instanceof KernelError, `got ${String(error)}`);
      assert.match(error.message, /^the partial of kernel sumOfSquares is not serialisable: /);
      assert.match(error.message, pattern);
      return true;
    },
  );
}

class Accumulator {
  total = 0;
}

describe('assertSerialisable', () => {
  it('accepts numbers, strings, booleans, null, undefined and bigint', () => {
    for (const value of [0, -1.5, NaN, Infinity, 'text', true, false, null, undefined, 2n ** 70n]) {
      assert.doesNotThrow(() => assertSerialisable(value, 'partial'), String(value));
    }
  });

  it('accepts nested plain objects and arrays', () => {
    const value = { sum: 1, stats: { min: -1, max: 2, hist: [1, 2, [3, 4]] }, tags: ['a', 'b'], nothing: null };
    assert.doesNotThrow(() => assertSerialisable(value, 'partial'));
  });

  it('accepts typed arrays at any depth', () => {
    const value = {
      sums: new Float64Array([1, 2]),
      rows: [new Int32Array(3), new Uint8Array(2)],
      nested: { f32: new Float32Array(4), big: new BigInt64Array(1) },
    };
    assert.doesNotThrow(() => assertSerialisable(value, 'partial'));
    assert.doesNotThrow(() => assertSerialisable(new Float32Array(8), 'partial'));
  });

  it('accepts objects without a prototype', () => {
    const value = Object.assign(Object.create(null) as Record<string, unknown>, { a: 1 });
    assert.doesNotThrow(() => assertSerialisable(value, 'partial'));
  });

  it('accepts the same object referenced twice, which is not a cycle', () => {
    const shared = { x: 1 };
    assert.doesNotThrow(() => assertSerialisable({ a: shared, b: shared, list: [shared, shared] }, 'partial'));
  });

  it('refuses functions and names where they are', () => {
    assertRefused(() => 1, /the value is a function/);
    assertRefused({ stats: { combine: () => 0 } }, /stats\.combine is a function/);
    assertRefused([1, 2, function named() {}], /\[2\] is a function/);
  });

  it('refuses symbols and names where they are', () => {
    assertRefused(Symbol('x'), /the value is a symbol/);
    assertRefused({ list: [1, { tag: Symbol('t') }] }, /list\[1\]\.tag is a symbol/);
  });

  it('refuses class instances and names the class', () => {
    assertRefused(new Accumulator(), /the value is a Accumulator instance/);
    assertRefused({ acc: new Accumulator() }, /acc is a Accumulator instance/);
    assertRefused({ when: new Date(0) }, /when is a Date instance/);
    assertRefused({ lookup: new Map([[1, 2]]) }, /lookup is a Map instance/);
    assertRefused([new Set([1])], /\[0\] is a Set instance/);
  });

  it('refuses cycles and names where the value refers to itself', () => {
    const node: { value: number; next?: unknown } = { value: 1 };
    node.next = node;
    assertRefused(node, /next refers to itself/);

    const list: unknown[] = [1];
    list.push(list);
    assertRefused(list, /\[1\] refers to itself/);

    const deep: { a: { b: unknown[] } } = { a: { b: [] } };
    deep.a.b.push(deep.a);
    assertRefused(deep, /a\.b\[0\] refers to itself/);
  });
});
