import type { BaselineOpRun, BaselineOps } from '../baseline/child-json.js';
import { relativeDifference } from '../data.js';
import { gigabytesPerSecond } from '../timing.js';
import { opKey, type OpEntry, type OpTarget } from './list.js';
import type { SharcOpRun } from './sharc.js';

/** The four columns of the ops table, in order. */
export const OP_COLUMNS = ['C', 'numpy', 'embedded', 'NATS'] as const;
export type OpColumn = (typeof OP_COLUMNS)[number];

export interface OpCell {
  bestMs: number;
  gigabytesPerSecond: number;
  runsMs: number[];
  result: number[];
  error?: string;
}

/** One row of the ops table: an op over one dtype, by C, numpy and sharc (embedded, over NATS). */
export interface OpRow {
  key: string;
  label: string;
  dtype: string;
  bytes: number;
  cells: Partial<Record<OpColumn, OpCell>>;
  /** sharc time ÷ baseline time, inverted: higher is better (≥ 1 is faster than the baseline). */
  ratios: { embeddedVsC?: number; natsVsC?: number; embeddedVsNumpy?: number; natsVsNumpy?: number };
  target: OpTarget;
  /** "ok", or which result differs from C's and by how much. */
  check: string;
  /** sharc's results match C's (a baseline that disagrees with C is reported in `check`, not here). */
  correct: boolean;
  /** Whether sharc met the target (absent while sharc does not run this op, or the row has no target). */
  pass?: boolean;
}

const MIN_VS_C: Record<OpTarget, number | undefined> = { 'whole-array': 0.9, 'axis0-astype': 0.8, none: undefined };
const MIN_VS_NUMPY: Record<OpTarget, number | undefined> = { 'whole-array': 1.0, 'axis0-astype': undefined, none: undefined };

export function targetText(target: OpTarget): string {
  const parts = [];
  if (MIN_VS_C[target] !== undefined) parts.push(`≥ ${MIN_VS_C[target]!.toFixed(1)}× C`);
  if (MIN_VS_NUMPY[target] !== undefined) parts.push(`≥ ${MIN_VS_NUMPY[target]!.toFixed(1)}× numpy`);
  return parts.join(', ');
}

function cellOf(run: BaselineOpRun | SharcOpRun | undefined, bytes: number): OpCell | undefined {
  if (run === undefined) return undefined;
  const cell: OpCell = { bestMs: run.bestMs, gigabytesPerSecond: gigabytesPerSecond(bytes, run.bestMs), runsMs: run.runsMs, result: run.result };
  if ('error' in run && run.error !== undefined) cell.error = run.error;
  return cell;
}

/** The largest relative difference between two results, 0 when equal (NaN equals NaN), Infinity when their lengths differ. */
export function resultDifference(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (Number.isNaN(x) && Number.isNaN(y)) continue;
    if (x === y) continue;
    worst = Math.max(worst, Number.isNaN(x) || Number.isNaN(y) ? Number.POSITIVE_INFINITY : relativeDifference(x, y));
  }
  return worst;
}

function ratio(baseline: OpCell | undefined, sharc: OpCell | undefined): number | undefined {
  if (baseline === undefined || sharc === undefined || sharc.error !== undefined) return undefined;
  return baseline.bestMs / sharc.bestMs;
}

/** Combines the baselines' and sharc's runs into the rows of the ops table, checking every result against C's. */
export function opRows(
  entries: readonly OpEntry[],
  datasetBytes: number,
  c: BaselineOps | undefined,
  numpy: BaselineOps | undefined,
  embedded: ReadonlyMap<string, SharcOpRun> | undefined,
  nats: ReadonlyMap<string, SharcOpRun> | undefined,
): OpRow[] {
  return entries.map((entry) => {
    const key = opKey(entry);
    const bytes = entry.traffic * datasetBytes;
    const cells: OpRow['cells'] = {};
    const sources: Record<OpColumn, BaselineOpRun | SharcOpRun | undefined> = {
      C: c?.runs.get(key),
      numpy: numpy?.runs.get(key),
      embedded: embedded?.get(key),
      NATS: nats?.get(key),
    };
    for (const column of OP_COLUMNS) {
      const cell = cellOf(sources[column], bytes);
      if (cell !== undefined) cells[column] = cell;
    }
    const ratios = {
      embeddedVsC: ratio(cells.C, cells.embedded),
      natsVsC: ratio(cells.C, cells.NATS),
      embeddedVsNumpy: ratio(cells.numpy, cells.embedded),
      natsVsNumpy: ratio(cells.numpy, cells.NATS),
    };
    const problems: string[] = [];
    const baselineProblems: string[] = [];
    const reference = cells.C ?? cells.numpy;
    if (reference === undefined) problems.push('no baseline result');
    for (const column of OP_COLUMNS) {
      const cell = cells[column];
      if (cell === undefined || reference === undefined || cell === reference) continue;
      const found = column === 'numpy' ? baselineProblems : problems;
      if (cell.error !== undefined) {
        found.push(`${column}: ${cell.error}`);
        continue;
      }
      const tolerance = column === 'numpy' || reference === cells.numpy ? entry.numpyTolerance : entry.tolerance;
      const difference = resultDifference(cell.result, reference.result);
      if (difference > tolerance) found.push(`${column} differs from ${reference === cells.C ? 'C' : 'numpy'} by ${difference.toExponential(1)} (allowed ${tolerance})`);
    }
    const correct = problems.length === 0;
    const check = [...problems, ...baselineProblems].join('; ') || 'ok';
    const sharcRatios = { C: [ratios.embeddedVsC, ratios.natsVsC], numpy: [ratios.embeddedVsNumpy, ratios.natsVsNumpy] };
    const ranSharc = cells.embedded !== undefined || cells.NATS !== undefined;
    const sharcFailed = cells.embedded?.error !== undefined || cells.NATS?.error !== undefined;
    const meets = (values: Array<number | undefined>, min: number | undefined) =>
      min === undefined || values.every((value) => value === undefined || value >= min);
    const hasTarget = entry.target !== 'none';
    const row: OpRow = { key, label: entry.label, dtype: entry.dtype, bytes, cells, ratios, target: entry.target, check, correct };
    if (ranSharc && (hasTarget || sharcFailed || !correct)) {
      row.pass = correct && !sharcFailed && meets(sharcRatios.C, MIN_VS_C[entry.target]) && meets(sharcRatios.numpy, MIN_VS_NUMPY[entry.target]);
    }
    return row;
  });
}

const HEADER = ['op', 'dtype', 'GB', 'C GB/s', 'numpy GB/s', 'sharc embedded', 'sharc NATS', 'emb/C', 'NATS/C', 'emb/numpy', 'NATS/numpy', 'target', 'result', 'check'];

function rate(cell: OpCell | undefined): string {
  if (cell === undefined) return '—';
  if (cell.error !== undefined) return 'error';
  return cell.gigabytesPerSecond.toFixed(2);
}

function times(value: number | undefined): string {
  return value === undefined ? '—' : `${value.toFixed(2)}×`;
}

/** The ops table as header and cells (report.ts renders it as text and markdown). */
export function opTable(rows: readonly OpRow[]): { header: string[]; cells: string[][] } {
  return {
    header: HEADER,
    cells: rows.map((row) => [
      row.label,
      row.dtype,
      (row.bytes / 1e9).toFixed(2),
      rate(row.cells.C),
      rate(row.cells.numpy),
      rate(row.cells.embedded),
      rate(row.cells.NATS),
      times(row.ratios.embeddedVsC),
      times(row.ratios.natsVsC),
      times(row.ratios.embeddedVsNumpy),
      times(row.ratios.natsVsNumpy),
      targetText(row.target),
      row.pass === undefined ? '—' : row.pass ? 'pass' : 'FAIL',
      row.check,
    ]),
  };
}
