import type { BuiltinReduction, BuiltinPartial, TypedArray } from '@sharc/protocol/core';

/**
 * Built-in reductions over one block. Each (op, array type) pair gets its own compiled loop:
 * one shared loop fed eight typed-array classes would go megamorphic in V8 and run several
 * times slower than a loop that only ever sees one class.
 */
type BlockReducer = (values: TypedArray) => BuiltinPartial;

const LOOP_BODIES: Record<BuiltinReduction, string> = {
  sum: 'let s = 0; for (let i = 0; i < n; i++) s += a[i]; return s;',
  sumsq: 'let s = 0; for (let i = 0; i < n; i++) { const v = a[i]; s += v * v; } return s;',
  count: 'return n;',
  mean: 'let s = 0; for (let i = 0; i < n; i++) s += a[i]; return [s, n];',
  min: 'let m = Infinity; for (let i = 0; i < n; i++) { const v = a[i]; if (v < m) m = v; else if (v !== v) return NaN; } return m;',
  max: 'let m = -Infinity; for (let i = 0; i < n; i++) { const v = a[i]; if (v > m) m = v; else if (v !== v) return NaN; } return m;',
};

const compiled = new Map<string, BlockReducer>();

export function builtinReducer(op: BuiltinReduction, values: TypedArray): BlockReducer {
  const key = `${op}:${values.constructor.name}`;
  let reducer = compiled.get(key);
  if (reducer === undefined) {
    // Generated from the fixed table above, never from input.
    reducer = new Function('a', `const n = a.length; ${LOOP_BODIES[op]}`) as BlockReducer;
    compiled.set(key, reducer);
  }
  return reducer;
}
