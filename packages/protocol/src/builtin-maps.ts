import { DTYPES, bytesPerElement, type DType } from './dtypes.js';
import { InvalidArgumentError } from './errors.js';
import { colsOf, rowsOf, type Shape } from './shape.js';

/**
 * The built-in operations that produce a new stored array (map jobs whose kernel is
 * `{ kind: 'builtin-map', op, params }`), and the built-in reductions over two arrays (reduce
 * jobs whose kernel is `{ kind: 'builtin-pair', op }`). The second array of a binary op or of
 * `dot` is the job spec's `with: { arrayId }`. Shared by the SDK (to check a call before it is
 * sent), the coordinator (to check a job and shape its output) and the agents (to run it).
 *
 * Output dtypes (numpy's, except where said):
 * - `astype(dtype)`: the dtype asked for. float → integer truncates toward zero and saturates
 *   at the integer type's bounds; NaN → 0 (numpy leaves NaN and out-of-range values undefined;
 *   this is WebAssembly's `trunc_sat` rule). Integer → narrower integer wraps (as numpy). int64
 *   and uint64 → float64 round to nearest (to float32: via float64). Anything → bool: nonzero
 *   (NaN is true).
 * - `scale(x, { offset })` (a·x + offset): float32 stays float32 (computed as numpy does with a
 *   Python float: each step rounded to float32), every other dtype gives float64.
 * - `clip(lo, hi)`, `abs()`: the input's dtype (numpy: `abs` of the most negative integer
 *   wraps to itself; integer `clip` keeps the integers inside [lo, hi]).
 * - `sqrt()`: float32 stays float32, every other dtype gives float64 (numpy gives float16 for
 *   int8/uint8/bool and float32 for int16/uint16; sharc has no float16).
 * - `add`/`sub`/`mul`: numpy's promotion of the two dtypes (`promoteDTypes`), integers wrap;
 *   `div`: float64, or float32 when both are float32 or float32 with an 8/16-bit integer or
 *   bool (numpy's true_divide). bool + bool is logical or, bool · bool logical and, bool − bool
 *   refused (numpy refuses it too).
 * - row statistics of a 2-D array (axis 1): `rowsum`, `rowmean`, `rowstd` give float64
 *   (accumulated in float64; numpy keeps float32 for float32 and int64 for integer sums);
 *   `rowmin`/`rowmax` keep the dtype. Output shape [rows].
 * - `matvec(v)`: float64 [rows], Σ_j a[i, j]·v[j] accumulated in float64.
 * - `slice(start, end)`: the rows [start, end), the input's dtype.
 * - `dot(a, b)` (a reduction): Σ a·b over every element, in float64 (int64/uint64 elements are
 *   converted to float64 first: not exact past 2^53).
 */
export const BUILTIN_MAPS = [
  'astype',
  'scale',
  'clip',
  'abs',
  'sqrt',
  'add',
  'sub',
  'mul',
  'div',
  'rowsum',
  'rowmean',
  'rowmin',
  'rowmax',
  'rowstd',
  'matvec',
  'slice',
] as const;
export type BuiltinMap = (typeof BUILTIN_MAPS)[number];

export const BINARY_MAPS = ['add', 'sub', 'mul', 'div'] as const;
export type BinaryMap = (typeof BINARY_MAPS)[number];
export const ROW_STATISTICS = ['rowsum', 'rowmean', 'rowmin', 'rowmax', 'rowstd'] as const;
export type RowStatistic = (typeof ROW_STATISTICS)[number];

/** Built-in reductions over two arrays of the same shape. */
export const BUILTIN_PAIR_REDUCTIONS = ['dot'] as const;
export type BuiltinPairReduction = (typeof BUILTIN_PAIR_REDUCTIONS)[number];

/** Each op's parameters, once checked (`parseBuiltinMapParams`). */
export interface BuiltinMapParams {
  astype: { dtype: DType };
  scale: { factor: number; offset: number };
  /** A bound left out is none (numpy's None). */
  clip: { lo?: number | bigint; hi?: number | bigint };
  abs: undefined;
  sqrt: undefined;
  add: undefined;
  sub: undefined;
  mul: undefined;
  div: undefined;
  rowsum: undefined;
  rowmean: undefined;
  rowmin: undefined;
  rowmax: undefined;
  rowstd: { ddof: number };
  matvec: { v: Float64Array };
  /** Already resolved against the row count: 0 ≤ start ≤ end ≤ rows. */
  slice: { start: number; end: number };
}

export function isBinaryMap(op: BuiltinMap): op is BinaryMap {
  return (BINARY_MAPS as readonly string[]).includes(op);
}

export function isRowStatistic(op: BuiltinMap): op is RowStatistic {
  return (ROW_STATISTICS as readonly string[]).includes(op);
}

/** The dtypes of numpy's `promote_types` table, by kind and size. */
const INTEGER_BITS: Partial<Record<DType, number>> = { int8: 8, int16: 16, int32: 32, int64: 64, uint8: 8, uint16: 16, uint32: 32, uint64: 64 };

function isUnsigned(dtype: DType): boolean {
  return dtype.startsWith('uint');
}

/** The smallest float that holds every value of `dtype` as numpy picks it (float32 for ≤16-bit integers). */
function floatFor(dtype: DType): 'float32' | 'float64' {
  if (dtype === 'float32' || dtype === 'bool') return 'float32';
  const bits = INTEGER_BITS[dtype];
  return bits !== undefined && bits <= 16 ? 'float32' : 'float64';
}

/**
 * numpy's `np.promote_types(a, b)` for sharc's dtypes (float16 never arises: no dtype here
 * promotes to it). int64 with uint64 gives float64, as in numpy.
 */
export function promoteDTypes(a: DType, b: DType): DType {
  if (a === b) return a;
  if (a === 'bool') return b;
  if (b === 'bool') return a;
  if (a === 'float64' || b === 'float64') return 'float64';
  if (a === 'float32' || b === 'float32') {
    const other = a === 'float32' ? b : a;
    return floatFor(other);
  }
  const bitsA = INTEGER_BITS[a]!;
  const bitsB = INTEGER_BITS[b]!;
  if (isUnsigned(a) === isUnsigned(b)) return bitsA >= bitsB ? a : b;
  const [signedBits, unsignedBits] = isUnsigned(a) ? [bitsB, bitsA] : [bitsA, bitsB];
  if (signedBits > unsignedBits) return isUnsigned(a) ? b : a;
  if (unsignedBits === 64) return 'float64';
  return `int${unsignedBits * 2}` as DType;
}

/** The dtype of `a op b` for arrays of dtypes `a`, `b`. */
export function binaryResultDType(op: BinaryMap, a: DType, b: DType): DType {
  if (op === 'div') {
    // numpy's true_divide: float32 when the operands promote to float32, float64 otherwise (integers and bool too).
    return promoteDTypes(a, b) === 'float32' ? 'float32' : 'float64';
  }
  if (op === 'sub' && a === 'bool' && b === 'bool') {
    throw new InvalidArgumentError('sub of two bool arrays is not defined (numpy refuses it too): use astype to a number dtype first');
  }
  return promoteDTypes(a, b);
}

/** The dtype `sqrt` and `scale` give: float32 stays, everything else is float64. */
function floatResult(dtype: DType): 'float32' | 'float64' {
  return dtype === 'float32' ? 'float32' : 'float64';
}

/** numpy's reading of a slice `[start:end]` over `rows` rows: negatives count from the end, out of range clamps. */
export function resolveSlice(rows: number, start?: number | null, end?: number | null): { start: number; end: number } {
  const bound = (value: number | null | undefined, fallback: number, what: string): number => {
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
      throw new InvalidArgumentError(`slice ${what} must be an integer (or undefined), got ${String(value)}`);
    }
    const from = value < 0 ? rows + value : value;
    return Math.min(rows, Math.max(0, from));
  };
  const from = bound(start, 0, 'start');
  const to = bound(end, rows, 'end');
  return { start: from, end: Math.max(from, to) };
}

/** Checks and normalises the parameters of `op` (they come from any client). */
export function parseBuiltinMapParams<O extends BuiltinMap>(op: O, params: unknown): BuiltinMapParams[O] {
  const record = (typeof params === 'object' && params !== null ? params : {}) as Record<string, unknown>;
  const finite = (key: string, value: unknown): number => {
    if (typeof value !== 'number' || Number.isNaN(value)) throw new InvalidArgumentError(`${op} needs ${key} as a number, got ${String(value)}`);
    return value;
  };
  switch (op) {
    case 'astype': {
      const dtype = record.dtype;
      if (typeof dtype !== 'string' || !(DTYPES as readonly string[]).includes(dtype)) {
        throw new InvalidArgumentError(`astype to unknown dtype ${JSON.stringify(dtype)}: use one of ${DTYPES.join(', ')}`);
      }
      return { dtype } as BuiltinMapParams[O];
    }
    case 'scale':
      return { factor: finite('a factor', record.factor ?? 1), offset: finite('offset', record.offset ?? 0) } as BuiltinMapParams[O];
    case 'clip': {
      const bound = (key: 'lo' | 'hi'): number | bigint | undefined => {
        const value = record[key];
        if (value === undefined || value === null) return undefined;
        if (typeof value === 'bigint') return value;
        if (typeof value !== 'number' || Number.isNaN(value)) throw new InvalidArgumentError(`clip's ${key} must be a number, a bigint or undefined, got ${String(value)}`);
        return value;
      };
      const lo = bound('lo');
      const hi = bound('hi');
      if (lo === undefined && hi === undefined) throw new InvalidArgumentError('clip needs lo or hi (or both), as numpy does');
      return { ...(lo === undefined ? {} : { lo }), ...(hi === undefined ? {} : { hi }) } as BuiltinMapParams[O];
    }
    case 'rowstd': {
      const ddof = record.ddof ?? 0;
      if (typeof ddof !== 'number' || !Number.isSafeInteger(ddof) || ddof < 0) throw new InvalidArgumentError(`ddof must be a non-negative integer, got ${String(ddof)}`);
      return { ddof } as BuiltinMapParams[O];
    }
    case 'matvec': {
      const v = record.v;
      if (v instanceof Float64Array) return { v } as BuiltinMapParams[O];
      if (Array.isArray(v) && v.every((x) => typeof x === 'number')) return { v: Float64Array.from(v as number[]) } as BuiltinMapParams[O];
      throw new InvalidArgumentError('matvec needs v as a Float64Array (or an array of numbers)');
    }
    case 'slice': {
      const { start, end } = record;
      if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || (start as number) < 0 || (end as number) < (start as number)) {
        throw new InvalidArgumentError(`slice needs resolved rows 0 ≤ start ≤ end, got ${String(start)}..${String(end)}`);
      }
      return { start, end } as BuiltinMapParams[O];
    }
    default:
      if (params !== undefined && params !== null && Object.keys(record).length > 0) {
        throw new InvalidArgumentError(`${op} takes no parameters, got ${Object.keys(record).join(', ')}`);
      }
      return undefined as BuiltinMapParams[O];
  }
}

export interface ArrayShapeInfo {
  dtype: DType;
  shape: Shape;
}

/**
 * The output array of a built-in map: its dtype and shape, after checking that the op applies
 * to the input (and to the second array `other` of a binary op). Throws InvalidArgumentError
 * naming the problem and the fix.
 */
export function builtinMapOutput(op: BuiltinMap, params: unknown, input: ArrayShapeInfo, other?: ArrayShapeInfo): ArrayShapeInfo {
  const parsed = parseBuiltinMapParams(op, params);
  if (isBinaryMap(op)) {
    if (other === undefined) throw new InvalidArgumentError(`${op} needs a second array`);
    checkSameShape(op, input.shape, other.shape);
    return { dtype: binaryResultDType(op, input.dtype, other.dtype), shape: input.shape };
  }
  if (other !== undefined) throw new InvalidArgumentError(`${op} takes one array`);
  switch (op) {
    case 'astype':
      return { dtype: (parsed as BuiltinMapParams['astype']).dtype, shape: input.shape };
    case 'scale':
    case 'sqrt':
      return { dtype: floatResult(input.dtype), shape: input.shape };
    case 'clip':
      if (input.dtype === 'bool') throw new InvalidArgumentError("clip of a bool array is not supported: astype('uint8') first");
      return input;
    case 'abs':
      return input;
    case 'slice':
      if (input.shape.length === 0) throw new InvalidArgumentError('a 0-d array has no rows to slice (numpy: too many indices); put it as [1] first');
      return { dtype: input.dtype, shape: slicedShape(input.shape, parsed as BuiltinMapParams['slice']) };
    case 'matvec': {
      const cols = requireMatrix(op, input.shape);
      const { v } = parsed as BuiltinMapParams['matvec'];
      if (v.length !== cols) {
        throw new InvalidArgumentError(`matvec of a [${input.shape.join(', ')}] array needs v of length ${cols} (its columns), got ${v.length}`);
      }
      return { dtype: 'float64', shape: [rowsOf(input.shape)] };
    }
    default: {
      // Row statistics (axis 1).
      const cols = requireMatrix(op, input.shape);
      if ((op === 'rowmin' || op === 'rowmax') && cols === 0 && rowsOf(input.shape) > 0) {
        throw new InvalidArgumentError(
          `${op === 'rowmin' ? 'min' : 'max'} along axis 1 of an array with no columns has no value: numpy raises "zero-size array to reduction operation"; check the shape first`,
        );
      }
      const dtype = op === 'rowmin' || op === 'rowmax' ? input.dtype : 'float64';
      return { dtype, shape: [rowsOf(input.shape)] };
    }
  }
}

/** Checks the two arrays of a binary op or of `dot`: numpy would broadcast; sharc needs equal shapes. */
export function checkSameShape(op: string, a: Shape, b: Shape): void {
  if (a.length !== b.length || a.some((dim, i) => dim !== b[i])) {
    throw new InvalidArgumentError(
      `${op} needs two arrays of the same shape, got [${a.join(', ')}] and [${b.join(', ')}] (sharc does not broadcast): slice or reshape them to match`,
    );
  }
}

function requireMatrix(op: BuiltinMap, shape: Shape): number {
  if (shape.length !== 2) {
    const what = op === 'matvec' ? 'matvec' : `${op.slice(3)} along axis 1`;
    throw new InvalidArgumentError(`${what} needs a 2-D array, got shape [${shape.join(', ')}]: axis 1 exists only for [rows, cols] arrays`);
  }
  return shape[1];
}

function slicedShape(shape: Shape, { start, end }: { start: number; end: number }): Shape {
  const rows = rowsOf(shape);
  if (end > rows) throw new InvalidArgumentError(`slice end ${end} is past the array's ${rows} rows`);
  return shape.length === 2 ? [end - start, shape[1]] : [end - start];
}

/** An output partition of a slice: the input partition of the same index, trimmed to [start, end) and renumbered from 0. */
export function slicedPartition(
  partition: { index: number; rowStart: number; rowCount: number },
  slice: { start: number; end: number },
  rowBytes: number,
): { index: number; rowStart: number; rowCount: number; byteLength: number } {
  const from = Math.min(Math.max(partition.rowStart, slice.start), slice.end);
  const to = Math.max(Math.min(partition.rowStart + partition.rowCount, slice.end), from);
  return { index: partition.index, rowStart: from - slice.start, rowCount: to - from, byteLength: (to - from) * rowBytes };
}

/** The bytes of one row of an array (a 0-d array is one row of one element). */
export function rowBytesOf(array: ArrayShapeInfo): number {
  return colsOf(array.shape) * bytesPerElement(array.dtype);
}

