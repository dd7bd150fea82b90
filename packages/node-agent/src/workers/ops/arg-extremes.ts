import type { ArgPartial, DType, TypedArray } from '@sharc/protocol/core';
import { extremeIndexOf } from '../builtin-int64.js';
import type { BigIntArray } from './int64-words.js';

/**
 * argmin / argmax over one block: `[flat index, value]` of the first extreme, a NaN winning
 * at once (numpy returns the first NaN's index), `[-1, 0]` for a block with no elements.
 * `first` is the flat index of the block's first element in the whole array. One compiled loop
 * per (op, dtype): a loop fed several typed-array classes goes megamorphic in V8.
 */
export type ArgBlockOp = (values: TypedArray, first: number) => ArgPartial;

const BODIES = {
  argmin:
    'if (n === 0) return [-1, 0]; let best = 0; let m = a[0]; if (m !== m) return [first, m]; ' +
    'for (let i = 1; i < n; i++) { const v = a[i]; if (v < m) { m = v; best = i; } else if (v !== v) return [first + i, v]; } return [first + best, m];',
  argmax:
    'if (n === 0) return [-1, 0]; let best = 0; let m = a[0]; if (m !== m) return [first, m]; ' +
    'for (let i = 1; i < n; i++) { const v = a[i]; if (v > m) { m = v; best = i; } else if (v !== v) return [first + i, v]; } return [first + best, m];',
};

const compiled = new Map<string, ArgBlockOp>();

export function argBlockOp(op: 'argmin' | 'argmax', dtype: DType): ArgBlockOp {
  const key = `${op}:${dtype}`;
  let loop = compiled.get(key);
  if (loop === undefined) {
    if (dtype === 'int64' || dtype === 'uint64') {
      loop = (values, first) => {
        const index = extremeIndexOf(values as BigIntArray, op === 'argmax');
        return index < 0 ? [-1, 0] : [first + index, (values as BigIntArray)[index]!];
      };
    } else {
      // Generated from the fixed table above, never from input. bool: a Uint8Array of 0/1.
      loop = new Function('a', 'first', `const n = a.length; ${BODIES[op]}`) as ArgBlockOp;
    }
    compiled.set(key, loop);
  }
  return loop;
}
