import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Measurement } from './measurement.js';

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

/** The table as aligned plain text, for the terminal. */
export function textTable(measurements: Measurement[]): string {
  const rows = measurements.map(cellsOf);
  const widths = COLUMNS.map((column) => Math.max(column.length, ...rows.map((row) => row[column].length)));
  const line = (cells: (column: Column) => string) => COLUMNS.map((column, i) => cells(column).padEnd(widths[i]!)).join('  ').trimEnd();
  return [line((c) => c), line((c) => '-'.repeat(widths[COLUMNS.indexOf(c)]!)), ...rows.map((row) => line((c) => row[c]))].join('\n');
}

function markdownTable(measurements: Measurement[]): string {
  const escape = (text: string) => text.replaceAll('|', '\\|');
  return [
    `| ${COLUMNS.join(' | ')} |`,
    `|${COLUMNS.map(() => '---').join('|')}|`,
    ...measurements.map(cellsOf).map((row) => `| ${COLUMNS.map((c) => escape(row[c])).join(' | ')} |`),
  ].join('\n');
}

/** Overwrites bench/RESULTS.md and bench/results.json. */
export async function writeReports(machine: MachineInfo, measurements: Measurement[], notes: string[]): Promise<string[]> {
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
    markdownTable(measurements),
    '',
    ...notes.map((note) => `- ${note}`),
    '',
  ].join('\n');
  await writeFile(RESULTS_MARKDOWN, markdown);
  await writeFile(RESULTS_JSON, `${JSON.stringify({ machine, measurements, notes }, null, 2)}\n`);
  return [RESULTS_MARKDOWN, RESULTS_JSON];
}
