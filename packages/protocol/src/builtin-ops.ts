import { BUILTIN_REDUCTIONS } from './builtin-names.js';
import type { DType } from './dtypes.js';
import { InvalidArgumentError } from './errors.js';

/**
 * The built-in operations a `reduce` job can run (kernel `{ kind: 'builtin', op, params }`):
 * the six first reductions, plus the statistics numpy users reach for. What each returns, and
 * how its partials merge, is in statistics.ts and column-reductions.ts.
 */
export const BUILTIN_STATISTICS = ['argmin', 'argmax', 'var', 'std', 'norm', 'histogram'] as const;
export const BUILTIN_OPS = [...BUILTIN_REDUCTIONS, ...BUILTIN_STATISTICS] as const;
export type BuiltinOp = (typeof BUILTIN_OPS)[number];
/** The ops `cluster.reduce(array, name)` runs by name: every op with no required parameter. */
export const NAMED_REDUCTIONS = BUILTIN_OPS.filter((op): op is Exclude<BuiltinOp, 'histogram'> => op !== 'histogram');
export type NamedReduction = (typeof NAMED_REDUCTIONS)[number];
/** The ops that also run along axis 0 of a 2-D array (one value per column). */
export const AXIS_OPS = ['sum', 'mean', 'min', 'max', 'var', 'std'] as const;
export type AxisOp = (typeof AXIS_OPS)[number];

/**
 * More bins than this is a mistake: each block's partial holds one float64 count per bin, and a
 * partition's partial must fit one NATS message (sharc's nats.conf allows 64 MiB).
 */
export const MAX_HISTOGRAM_BINS = 1_000_000;

/** What a built-in op takes besides its name. */
export interface BuiltinParams {
  /** 0: one value per column of a 2-D array (AXIS_OPS only). @default the whole array */
  axis?: 0;
  /** var, std: the divisor is `n - ddof` (numpy's delta degrees of freedom). @default 0 */
  ddof?: number;
  /** histogram: number of equal-width bins. */
  bins?: number;
  /** histogram: the outer edges [lo, hi], lo < hi, both finite (on the wire: always given). */
  range?: readonly [number, number];
}

/** A built-in op with its parameters, as a job's kernel names it. */
export interface BuiltinKernel {
  op: BuiltinOp;
  params?: BuiltinParams | undefined;
}

/** Which parameters each op accepts (every other is refused). */
const PARAMS_OF: Record<BuiltinOp, readonly (keyof BuiltinParams)[]> = {
  sum: ['axis'],
  mean: ['axis'],
  min: ['axis'],
  max: ['axis'],
  sumsq: [],
  count: [],
  argmin: [],
  argmax: [],
  var: ['axis', 'ddof'],
  std: ['axis', 'ddof'],
  norm: [],
  histogram: ['bins', 'range'],
};

/** The parameter names `op` accepts. */
export function paramsOf(op: BuiltinOp): readonly (keyof BuiltinParams)[] {
  return PARAMS_OF[op];
}

/**
 * Checks a built-in kernel against the array it runs on; throws InvalidArgumentError naming the
 * problem and the fix. Run by the client before it submits and by the agent before it computes
 * (a message from another client is checked too). `requireRange`: the histogram's range must be
 * given (on the wire, where the client has filled in the default).
 */
export function checkBuiltinKernel(kernel: BuiltinKernel, shape: readonly number[], requireRange: boolean): void {
  const { op } = kernel;
  const params: Record<string, unknown> = (kernel.params ?? {}) as Record<string, unknown>;
  const accepted = PARAMS_OF[op] as readonly string[];
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined) continue;
    if (!accepted.includes(key)) {
      throw new InvalidArgumentError(
        `${op} takes no option '${key}'` + (accepted.length === 0 ? '' : ` (it takes ${accepted.join(', ')})`),
        { details: { op, option: key } },
      );
    }
  }
  if (params.axis !== undefined) {
    if (params.axis !== 0) throw new InvalidArgumentError(`axis must be 0 or 1 (axis 1 is a new stored array, not a reduce job), got ${JSON.stringify(params.axis)}`, { details: { op } });
    if (shape.length !== 2) {
      throw new InvalidArgumentError(
        `${op} along axis 0 needs a 2-D array, this one has shape [${shape.join(', ')}]: leave axis out to reduce every element`,
        { details: { op, shape: [...shape] } },
      );
    }
  }
  if (params.ddof !== undefined && !(Number.isSafeInteger(params.ddof) && (params.ddof as number) >= 0)) {
    throw new InvalidArgumentError(`ddof must be a non-negative integer, got ${JSON.stringify(params.ddof)}`, { details: { op } });
  }
  if (op === 'histogram') {
    const bins = params.bins;
    if (!(Number.isSafeInteger(bins) && (bins as number) >= 1 && (bins as number) <= MAX_HISTOGRAM_BINS)) {
      throw new InvalidArgumentError(`histogram needs bins: a positive integer up to ${MAX_HISTOGRAM_BINS}, got ${JSON.stringify(bins)}`, { details: { op } });
    }
    const range = params.range;
    if (range === undefined) {
      if (requireRange) throw new InvalidArgumentError('a histogram job needs its range [lo, hi]', { details: { op } });
    } else if (
      !Array.isArray(range) ||
      range.length !== 2 ||
      !range.every((edge) => typeof edge === 'number' && Number.isFinite(edge)) ||
      !((range[0] as number) < (range[1] as number))
    ) {
      throw new InvalidArgumentError(`histogram range must be [lo, hi] with lo < hi, both finite numbers, got ${JSON.stringify(range)}`, { details: { op } });
    }
  }
}

/**
 * The bin edges numpy.histogram returns for `bins` equal bins over [lo, hi]: numpy.linspace in
 * float64 (the last edge is `hi` itself), rounded to float32 for float32 data (numpy computes
 * the edges in the data's float type; integer and bool data get float64 edges).
 */
export function histogramEdges(lo: number, hi: number, bins: number, dtype: DType): Float64Array {
  const edges = new Float64Array(bins + 1);
  const delta = hi - lo;
  const step = delta / bins;
  for (let i = 0; i <= bins; i++) edges[i] = step === 0 ? (i / bins) * delta + lo : i * step + lo;
  edges[bins] = hi;
  if (dtype === 'float32') for (let i = 0; i <= bins; i++) edges[i] = Math.fround(edges[i]!);
  return edges;
}
