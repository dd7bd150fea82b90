import type { BuiltinReduction, BuiltinPartial, DType, TypedArray } from '@sharc/protocol/core';
import { reduceBigIntBlock } from './builtin-int64.js';

/**
 * Built-in reductions over one block. Each (op, dtype) pair gets its own compiled loop: one
 * shared loop fed eight typed-array classes would go megamorphic in V8 and run several times
 * slower than a loop that only ever sees one class. int64 and uint64 have their own exact
 * loops (builtin-int64.ts); bool has its own bodies (a bool is true when its byte is not 0).
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

/** numpy's semantics for bool: sum counts trues (sumsq too: true² is true), min is false if any is. */
const BOOL_LOOP_BODIES: Record<BuiltinReduction, string> = {
  sum: 'let s = 0; for (let i = 0; i < n; i++) if (a[i] !== 0) s++; return s;',
  sumsq: 'let s = 0; for (let i = 0; i < n; i++) if (a[i] !== 0) s++; return s;',
  count: 'return n;',
  mean: 'let s = 0; for (let i = 0; i < n; i++) if (a[i] !== 0) s++; return [s, n];',
  min: 'if (n === 0) return Infinity; for (let i = 0; i < n; i++) if (a[i] === 0) return 0; return 1;',
  max: 'if (n === 0) return -Infinity; for (let i = 0; i < n; i++) if (a[i] !== 0) return 1; return 0;',
};

const compiled = new Map<string, BlockReducer>();

export function builtinReducer(op: BuiltinReduction, dtype: DType): BlockReducer {
  const key = `${op}:${dtype}`;
  let reducer = compiled.get(key);
  if (reducer === undefined) {
    if (dtype === 'int64' || dtype === 'uint64') {
      reducer = (values) => reduceBigIntBlock(op, values as BigInt64Array | BigUint64Array);
    } else {
      const body = (dtype === 'bool' ? BOOL_LOOP_BODIES : LOOP_BODIES)[op];
      // Generated from the fixed tables above, never from input.
      reducer = new Function('a', `const n = a.length; ${body}`) as BlockReducer;
    }
    compiled.set(key, reducer);
  }
  return reducer;
}
