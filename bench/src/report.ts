import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Measurement } from './measurement.js';
import { opTable, type OpRow } from './ops/rows.js';

/** Where the reports go: next to bench/package.json (this file runs as bench/dist/src/report.js). */
const RESULTS_MARKDOWN = fileURLToPath(new URL('../../RESULTS.md', import.meta.url));
const RESULTS_JSON = fileURLToPath(new URL('../../results.json', import.meta.url));

export interface MachineInfo {
  date: string;
  /** Share of all cores busy in the second before the bench started (other work skews every figure). */
  busyBeforeStartPercent: number;
  nproc: number;
  cpu: string;
  memoryGiB: number;
  node: string;
  platform: string;
  natsServer: string;
}

export function machineInfo(date: Date, busyBeforeStartPercent: number): MachineInfo {
  const nats = spawnSync('nats-server', ['--version'], { encoding: 'utf8' });
  return {
    date: date.toISOString(),
    busyBeforeStartPercent,
    nproc: os.availableParallelism(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    natsServer: nats.status === 0 ? nats.stdout.trim().replace(/^nats-server:\s*/, '') : 'unknown',
  };
}

/** Above this, the report says the machine was not idle. */
export const BUSY_WARNING_PERCENT = 10;
const SAMPLE_MS = 1000;

/** Share of all cores busy over the next second, from /proc/stat (so a report can say the machine was not idle). */
export async function measureBusyPercent(): Promise<number> {
  const sample = async () => {
    const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '';
    const ticks = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
    return { idle, total: ticks.reduce((sum, t) => sum + t, 0) };
  };
  const before = await sample();
  await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS));
  const after = await sample();
  const total = after.total - before.total;
  return total <= 0 ? 0 : (100 * (total - (after.idle - before.idle))) / total;
}

const COLUMNS = ['benchmark', 'measured', 'sharc', 'baseline', 'ratio', 'target', 'result'] as const;
type Column = (typeof COLUMNS)[number];
type Cells = Record<Column, string>;

function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return '–';
  const magnitude = Math.abs(value);
  return value.toFixed(magnitude >= 100 ? 1 : magnitude >= 10 ? 2 : 3);
}

function cellsOf(m: Measurement): Cells {
  const error = m.details?.error;
  return {
    benchmark: m.benchmark,
    measured: m.subject,
    sharc: typeof error === 'string' ? `error: ${error}` : `${formatNumber(m.value)} ${m.unit}`,
    baseline: m.baseline === undefined ? '' : `${formatNumber(m.baseline.value)} ${m.baseline.unit} (${m.baseline.label})`,
    ratio: m.ratio === undefined ? '' : m.ratio.toFixed(3),
    target: m.target ?? '',
    result: m.pass === undefined ? '' : m.pass ? 'pass' : 'FAIL',
  };
}

/** A table as aligned plain text, for the terminal. */
function alignedText(header: readonly string[], rows: readonly string[][]): string {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: readonly string[]) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join('\n');
}

function markdownTable(header: readonly string[], rows: readonly string[][]): string {
  const escape = (text: string) => text.replaceAll('|', '\\|');
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((row) => `| ${row.map(escape).join(' | ')} |`)].join('\n');
}

function measurementCells(measurements: Measurement[]): string[][] {
  return measurements.map(cellsOf).map((row) => COLUMNS.map((column) => row[column]));
}

/** The table as aligned plain text, for the terminal. */
export function textTable(measurements: Measurement[]): string {
  return alignedText(COLUMNS, measurementCells(measurements));
}

/** The ops table (op × dtype: C, numpy, sharc embedded and over NATS) as aligned plain text. */
export function opsTextTable(rows: readonly OpRow[]): string {
  const { header, cells } = opTable(rows);
  return alignedText(header, cells);
}

/** The ops benchmark in the reports: its rows and what the reader needs to know about them. */
export interface OpsReport {
  rows: OpRow[];
  notes: string[];
  /** Compiler, numpy version, threads and processes of the baselines. */
  baselines: Record<string, unknown>;
}

/** Overwrites bench/RESULTS.md and bench/results.json. */
/** A section of its own after the main table: a title and its (markdown) table. */
export interface ReportSection {
  title: string;
  table: string;
}

export async function writeReports(machine: MachineInfo, measurements: Measurement[], notes: string[], ops?: OpsReport, sections: readonly ReportSection[] = []): Promise<string[]> {
  const opsTableCells = ops === undefined ? undefined : opTable(ops.rows);
  const opsSection =
    ops === undefined || opsTableCells === undefined
      ? []
      : [
          '## Operations: sharc against C/OpenMP and numpy',
          '',
          'GB/s = (bytes read + bytes written) / best time, GB = 10^9 bytes; a ratio is sharc\'s GB/s ÷ the baseline\'s (≥ 1: sharc is faster).',
          '',
          markdownTable(opsTableCells.header, opsTableCells.cells),
          '',
          ...ops.notes.map((note) => `- ${note}`),
          '',
        ];
  const markdown = [
    '# sharc benchmark results',
    '',
    'Written by `npm run bench` (bench/src/run.ts); every ratio compares against a baseline measured in the same run.',
    '',
    `- date: ${machine.date}`,
    `- nproc: ${machine.nproc} (${machine.cpu}), memory ${machine.memoryGiB} GiB`,
    `- node: ${machine.node}, ${machine.platform}`,
    `- nats-server: ${machine.natsServer}`,
    `- CPU busy before the bench started: ${machine.busyBeforeStartPercent.toFixed(0)} %` +
      (machine.busyBeforeStartPercent > BUSY_WARNING_PERCENT ? ' (other work was running: figures are skewed)' : ''),
    '',
    markdownTable(COLUMNS, measurementCells(measurements)),
    '',
    ...notes.map((note) => `- ${note}`),
    '',
    ...opsSection,
    ...sections.flatMap(({ title, table }) => [`## ${title}`, '', table, '']),
  ].join('\n');
  await writeFile(RESULTS_MARKDOWN, markdown);
  await writeFile(RESULTS_JSON, `${JSON.stringify({ machine, measurements, notes, ...(ops === undefined ? {} : { ops }) }, null, 2)}\n`);
  return [RESULTS_MARKDOWN, RESULTS_JSON];
}
