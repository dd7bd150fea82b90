import type { ArrayRef, BuiltinOp, Cluster, JobOptions } from '@sharc/sdk';
import { UsageError } from '../options.js';

/** The flags of `sharc reduce` that only some built-ins take, and which. */
export interface BuiltinFlags {
  axis?: 0 | 1 | undefined;
  ddof?: number | undefined;
  bins?: number | undefined;
  range?: [number, number] | undefined;
}

const TAKEN_BY: Record<keyof BuiltinFlags, readonly BuiltinOp[]> = {
  axis: ['sum', 'mean', 'min', 'max', 'var', 'std'],
  ddof: ['var', 'std'],
  bins: ['histogram'],
  range: ['histogram'],
};

/**
 * Runs built-in `op` as the ArrayRef method of the same name (`a.std({ ddof: 1 })`), or as
 * `cluster.reduce` for sumsq and count. A flag the op does not take is a usage error.
 */
export async function runBuiltin(cluster: Cluster, ref: ArrayRef, op: BuiltinOp, flags: BuiltinFlags, job: JobOptions): Promise<unknown> {
  const options = { ...job, ...builtinOptions(ref, op, flags) };
  if (op === 'sumsq' || op === 'count') return cluster.reduce(ref, op, job);
  // The option types of each method are checked at run time by the SDK (axis for each op, etc.).
  return (ref[op] as (options: object) => Promise<unknown>).call(ref, options);
}

/**
 * The options of built-in `op` from the flags given (a flag the op does not take is a usage
 * error; --axis 1 makes a new array, which `sharc op` names and stores).
 */
export function builtinOptions(ref: ArrayRef, op: BuiltinOp, flags: BuiltinFlags): { axis?: 0; ddof?: number; bins?: number; range?: [number, number] } {
  for (const [flag, ops] of Object.entries(TAKEN_BY) as [keyof BuiltinFlags, readonly BuiltinOp[]][]) {
    if (flags[flag] !== undefined && !ops.includes(op)) throw new UsageError(`--${flag} is for ${ops.join(', ')}, not ${op}`);
  }
  if (flags.axis === 1) throw new UsageError(`--axis 1 makes a new array of one value per row: run sharc op ${ref.name} ${op} --axis 1 --out NAME`);
  return {
    ...(flags.axis === undefined ? {} : { axis: flags.axis }),
    ...(flags.ddof === undefined ? {} : { ddof: flags.ddof }),
    ...(flags.bins === undefined ? {} : { bins: flags.bins }),
    ...(flags.range === undefined ? {} : { range: flags.range }),
  };
}

/** Kernel modules get their parameters from --params: the built-ins' flags are refused. */
export function refuseBuiltinFlags(flags: BuiltinFlags): void {
  const given = (Object.keys(TAKEN_BY) as (keyof BuiltinFlags)[]).filter((flag) => flags[flag] !== undefined);
  if (given.length > 0) throw new UsageError(`--${given[0]} is for the built-ins (${TAKEN_BY[given[0]!].join(', ')}); a kernel module takes its parameters with --params`);
}

/** A reduce result as plain data for --json: typed arrays as arrays (NaN and ±Infinity as null, JSON has none). */
export function plainValue(value: unknown): unknown {
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return Array.from(value as unknown as ArrayLike<number | bigint>);
  if (typeof value === 'object' && value !== null && 'counts' in value && 'edges' in value) {
    const { counts, edges } = value as { counts: Float64Array; edges: Float64Array };
    return { counts: Array.from(counts), edges: Array.from(edges) };
  }
  return value;
}

/** A reduce result as text: numbers as JS prints them (NaN, Infinity), arrays as [a, b, …], a histogram as two lines. */
export function valueText(value: unknown): string | undefined {
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return listText(value as unknown as ArrayLike<number | bigint>);
  if (typeof value === 'object' && value !== null && 'counts' in value && 'edges' in value) {
    const { counts, edges } = value as { counts: Float64Array; edges: Float64Array };
    return `counts: ${listText(counts)}\nedges: ${listText(edges)}`;
  }
  return undefined;
}

function listText(values: ArrayLike<number | bigint>): string {
  return `[${Array.from(values, String).join(', ')}]`;
}
