import {
  InvalidArgumentError,
  builtinMapOutput,
  checkSameShape,
  colsOf,
  keysOf,
  resolveSlice,
  rowsOf,
  type ArrayMeta,
  type BuiltinMap,
  type DType,
  type JobSpec,
  type RowStatistic,
} from '@sharc/protocol';
import { JOB_OPTION_KEYS, type JobOptions, type JobResult } from '../jobs/run-job.js';
import { checkArrayRef, checkDetached, checkJobOptions, checkNewName } from '../validate.js';
import { checkOutputFile } from '../files/file-backed.js';

/**
 * The built-in operations that make a new stored array (astype, scale, clip, abs, sqrt, add,
 * sub, mul, div, row statistics along axis 1, matvec, slice) and `dot`, as the SDK sends
 * them: checked here first (the same checks the coordinator makes), then run as a map job with
 * kernel `{ kind: 'builtin-map', op, params }` (or, for dot, a reduce job with
 * `{ kind: 'builtin-pair', op: 'dot' }`), the second array in the spec's `with`.
 */

/** Options of every call making a new array with a built-in op: the output's, and the job's. */
export interface OpOptions extends JobOptions {
  /** Name of the output array. @default a generated one */
  name?: string;
  /** Overwrite an array of the same name (only once the new one is complete). @default false */
  replace?: boolean;
  /** Keep running if this client goes away (needs `name`); see MapOptions.detached. @default false */
  detached?: boolean;
  /** Write the output to this `.npy` file on the agents' disk (a file-backed array); see MapOptions.file. @default held in memory */
  file?: string;
}
export const OP_OPTION_KEYS = keysOf<OpOptions>()([...JOB_OPTION_KEYS, 'name', 'replace', 'detached', 'file']);

/** `scale`'s options: the offset b of a·x + b, and the output's. */
export interface ScaleOptions extends OpOptions {
  /** Added after the product. @default 0 */
  offset?: number;
}
export const SCALE_OPTION_KEYS = keysOf<ScaleOptions>()([...OP_OPTION_KEYS, 'offset']);

/** Options of a statistic along axis 1 (`std` takes ddof). */
export interface RowStatisticOptions extends OpOptions {
  /** `std` only: the divisor is cols − ddof. @default 0 */
  ddof?: number;
}
export const ROW_STATISTIC_OPTION_KEYS = keysOf<RowStatisticOptions>()([...OP_OPTION_KEYS, 'ddof']);

/** The arguments of ArrayRef's op methods, as given (checked by arrayOpParams). */
export interface ArrayOpArgs {
  astype: { dtype: unknown };
  scale: { factor: unknown };
  clip: { lo: unknown; hi: unknown };
  abs: Record<string, never>;
  sqrt: Record<string, never>;
  slice: { start?: number | null | undefined; end?: number | null | undefined };
  matvec: { v: unknown };
}

/** An ArrayRef op method's arguments as the op's params, and the output's options. */
export function arrayOpParams<O extends keyof ArrayOpArgs>(op: O, array: OpArray, args: ArrayOpArgs[O], options: ScaleOptions): { params: unknown; options: OpOptions } {
  switch (op) {
    case 'scale':
      return scaleParams((args as ArrayOpArgs['scale']).factor, options);
    case 'clip': {
      const { lo, hi } = args as ArrayOpArgs['clip'];
      return { params: { ...(lo == null ? {} : { lo }), ...(hi == null ? {} : { hi }) }, options };
    }
    case 'slice': {
      const { start, end } = args as ArrayOpArgs['slice'];
      return { params: sliceParams(array, start, end), options };
    }
    case 'matvec':
      return { params: matvecParams((args as ArrayOpArgs['matvec']).v), options };
    case 'astype':
      return { params: { dtype: (args as ArrayOpArgs['astype']).dtype }, options };
    default:
      return { params: undefined, options };
  }
}

/** What the ops need of an array handle (an ArrayRef). */
export interface OpArray {
  readonly id: string;
  readonly dtype: DType;
  readonly meta: ArrayMeta;
  readonly shape: ArrayMeta['shape'];
}

/** What the ops need of the cluster: to run a job. */
export type RunJob = (spec: JobSpec, input: OpArray, options: JobOptions, detached: boolean) => Promise<JobResult>;

/** The statistics along axis 1, by the names the SDK's `sum`/`mean`/… take. */
export const ROW_STATISTIC_OF = { sum: 'rowsum', mean: 'rowmean', min: 'rowmin', max: 'rowmax', std: 'rowstd' } as const satisfies Record<string, RowStatistic>;
export type RowStatisticName = keyof typeof ROW_STATISTIC_OF;

/**
 * Runs built-in map `op` over `array` (and `other`, a binary op's second array): the output's
 * dtype and shape are the op's (builtinMapOutput). Resolves with the output's metadata.
 */
export async function runBuiltinMap(
  run: RunJob,
  op: BuiltinMap,
  array: OpArray,
  params: unknown,
  options: OpOptions,
  other?: OpArray,
): Promise<ArrayMeta> {
  checkArrayRef(array);
  if (other !== undefined) checkArrayRef(other);
  const checked = checkJobOptions(options, { of: op, here: 'the options', keys: OP_OPTION_KEYS });
  if (checked.name !== undefined) checkNewName(checked.name);
  const detached = checkDetached(checked.detached, checked.name, 'map');
  const outputFile = checked.file === undefined ? undefined : checkOutputFile(checked.file, op);
  const output = builtinMapOutput(op, params, array, other);
  const done = await run(
    {
      kind: 'map',
      arrayId: array.id,
      kernel: { kind: 'builtin-map', op, ...(params === undefined ? {} : { params }) },
      dtype: output.dtype,
      cols: colsOf(output.shape),
      ...(other === undefined ? {} : { with: { arrayId: other.id } }),
      ...(checked.name === undefined ? {} : { outputName: checked.name }),
      ...(checked.replace === undefined ? {} : { replace: checked.replace }),
      ...(outputFile === undefined ? {} : { outputFile }),
    },
    array,
    checked,
    detached,
  );
  if (done.array === undefined) throw new InvalidArgumentError(`${op} finished without an output array`);
  return done.array;
}

/** Σ a·b over every element of two arrays of the same shape, in float64 (see builtin-maps.ts). */
export async function runDot(run: RunJob, a: OpArray, b: OpArray, options: JobOptions): Promise<number> {
  checkArrayRef(a);
  checkArrayRef(b);
  const checked = checkJobOptions(options, { of: 'dot', here: 'the options', keys: JOB_OPTION_KEYS });
  checkSameShape('dot', a.shape, b.shape);
  const done = await run({ kind: 'reduce', arrayId: a.id, kernel: { kind: 'builtin-pair', op: 'dot' }, with: { arrayId: b.id } }, a, checked, false);
  // Partials by partition, in row order, summed left to right: deterministic.
  return (done.partials as number[]).reduce((sum, partial) => sum + partial, 0);
}

/** Splits `scale`'s options into its offset and the output's options. */
export function scaleParams(factor: unknown, options: ScaleOptions): { params: { factor: number; offset: number }; options: OpOptions } {
  const { offset, ...rest } = checkJobOptions(options, { of: 'scale', here: 'the options', keys: SCALE_OPTION_KEYS });
  if (typeof factor !== 'number' || Number.isNaN(factor)) throw new InvalidArgumentError(`scale needs a number factor, got ${String(factor)}`);
  if (offset !== undefined && (typeof offset !== 'number' || Number.isNaN(offset))) throw new InvalidArgumentError(`scale's offset must be a number, got ${String(offset)}`);
  return { params: { factor, offset: offset ?? 0 }, options: rest };
}

/** Splits a row statistic's options into its op's params (ddof for std) and the output's options. */
export function rowStatisticParams(name: RowStatisticName, options: RowStatisticOptions): { op: RowStatistic; params: unknown; options: OpOptions } {
  const op = ROW_STATISTIC_OF[name];
  if (op === undefined) throw new InvalidArgumentError(`no statistic '${String(name)}' along axis 1: use one of ${Object.keys(ROW_STATISTIC_OF).join(', ')}`);
  const { ddof, ...rest } = checkJobOptions(options, { of: name, here: 'the options', keys: ROW_STATISTIC_OPTION_KEYS });
  if (ddof !== undefined && name !== 'std') throw new InvalidArgumentError(`ddof is for std (and var), not ${name}`);
  return { op, params: name === 'std' ? { ddof: ddof ?? 0 } : undefined, options: rest };
}

/** `slice(start, end)`'s resolved rows (numpy's reading: negatives from the end, out of range clamped). */
export function sliceParams(array: OpArray, start?: number | null, end?: number | null): { start: number; end: number } {
  if (array.shape.length === 0) throw new InvalidArgumentError('a 0-d array has no rows to slice (numpy: too many indices); put it as [1] first');
  return resolveSlice(rowsOf(array.shape), start, end);
}

/** `matvec`'s vector, as a Float64Array (any numeric typed array or number[] is converted). */
export function matvecParams(v: unknown): { v: Float64Array } {
  if (v instanceof Float64Array) return { v };
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
    if (v instanceof BigInt64Array || v instanceof BigUint64Array) return { v: Float64Array.from(v, Number) };
    return { v: Float64Array.from(v as unknown as ArrayLike<number>) };
  }
  if (Array.isArray(v) && v.every((x) => typeof x === 'number')) return { v: Float64Array.from(v) };
  throw new InvalidArgumentError('matvec needs v as a typed array (or an array of numbers) of length cols');
}
