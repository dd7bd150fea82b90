import type { BuiltinMapParams, DType, RowStatistic, TypedArray } from '@sharc/protocol/core';
import { compiledLoop, readNumber, wordViews } from './compile.js';

/**
 * Built-ins along axis 1 of a 2-D block (`a` holds `n` rows of `p.cols` elements, row-major;
 * `o` one element per row), and the `dot` partial over one block of two arrays. Sums
 * accumulate in float64, left to right along the row.
 */

const ROW_BODIES: Record<Exclude<RowStatistic, 'rowmin' | 'rowmax'>, (read: string) => string> = {
  rowsum: (read) => `let s = 0; for (let c = 0; c < cols; c++) s += ${read}; o[r] = s;`,
  rowmean: (read) => `let s = 0; for (let c = 0; c < cols; c++) s += ${read}; o[r] = s / cols;`,
  // Two passes (the mean, then squared deviations), as numpy computes var; divided by
  // max(cols - ddof, 0) as numpy does (a zero gives inf, or NaN for 0/0).
  rowstd: (read) =>
    `let s = 0; for (let c = 0; c < cols; c++) s += ${read}; const m = s / cols; let q = 0; ` +
    `for (let c = 0; c < cols; c++) { const d = ${read} - m; q += d * d; } o[r] = Math.sqrt(q / Math.max(cols - ddof, 0));`,
};

/** One row statistic for each of the `rows` rows of `a` (`cols` elements each) into `o`. */
export function rowStatisticBlock(op: RowStatistic, a: TypedArray, dtype: DType, o: TypedArray, rows: number, cols: number, params: BuiltinMapParams['rowstd'] | undefined): void {
  compiledLoop(`${op}:${dtype}`, () => {
    const head = `${wordViews('a', dtype)} const cols = p.cols; const ddof = p.ddof;`;
    if (op === 'rowmin' || op === 'rowmax') return `${head} for (let r = 0; r < n; r++) { ${extremeBody(op === 'rowmax', dtype)} }`;
    return `${head} for (let r = 0; r < n; r++) { const base = r * cols; ${ROW_BODIES[op](readNumber('a', dtype, 'base + c'))} }`;
  })(a, undefined, o, rows, { cols, ddof: params?.ddof ?? 0 });
}

/** The least (greatest) element of row r, NaN if any is NaN (numpy); int64 compared as bigints. */
function extremeBody(greatest: boolean, dtype: DType): string {
  const better = greatest ? '>' : '<';
  if (dtype === 'int64' || dtype === 'uint64') {
    return `const base = r * cols; let m = a[base]; for (let c = 1; c < cols; c++) { const v = a[base + c]; if (v ${better} m) m = v; } o[r] = m;`;
  }
  return (
    `const base = r * cols; let m = a[base]; if (m === m) for (let c = 1; c < cols; c++) { const v = a[base + c]; ` +
    `if (v ${better} m) m = v; else if (v !== v) { m = v; break; } } o[r] = m;`
  );
}

/** `o[r] = Σ_c a[r, c] · v[c]` for each of the `rows` rows of `a`, in float64. */
export function matvecBlock(a: TypedArray, dtype: DType, o: TypedArray, rows: number, cols: number, v: Float64Array): void {
  compiledLoop(`matvec:${dtype}`, () => {
    const read = readNumber('a', dtype, 'base + c');
    return `${wordViews('a', dtype)} const v = p.v; const cols = v.length; for (let r = 0; r < n; r++) { const base = r * cols; let s = 0; for (let c = 0; c < cols; c++) s += ${read} * v[c]; o[r] = s; }`;
  })(a, undefined, o, rows, { v, cols });
}

/** Σ a[i] · b[i] over one block of two arrays, in float64 (64-bit integers converted first). */
export function dotBlock(a: TypedArray, typeA: DType, b: TypedArray, typeB: DType): number {
  return compiledLoop(`dot:${typeA}:${typeB}`, () => {
    return `${wordViews('a', typeA)} ${wordViews('b', typeB)} let s = 0; for (let i = 0; i < n; i++) s += ${readNumber('a', typeA, 'i')} * ${readNumber('b', typeB, 'i')}; return s;`;
  })(a, b, undefined, a.length, undefined) as number;
}
