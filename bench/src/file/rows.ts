import { GIB, MIB, relativeDifference } from '../data.js';
import { failedMeasurement, type Measurement } from '../measurement.js';
import { gigabytesPerSecond } from '../timing.js';
import type { Skipped } from './data-file.js';
import { FILE_RUNS, type FileSection, type SumRun, type Timed } from './measure.js';
import { COLD_METHOD_TEXT } from './page-cache.js';

/** Issue 13's targets: sharc cold ≥ 0.9 × the raw read rate cold; sharc warm ≥ 1.5 × numpy.memmap warm. */
export const FILE_TARGETS = { coldVsRaw: 0.9, warmVsNumpy: 1.5 } as const;
/** sharc and numpy sum in different orders (blocks and threads vs numpy's pairwise sum): rounding, nothing more. */
export const MAX_SUM_DIFFERENCE = 1e-9;

/** The median run's time; NaN when there are no runs (sharc's, when they failed), which prints as '–'. */
function median(runs: readonly Timed[]): number {
  const sorted = runs.map((run) => run.ms).sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/** The section's figures: medians, rates, ratios, the sum check. */
export function fileFigures(section: FileSection) {
  const { file } = section;
  const rate = (bytes: number, runs: readonly Timed[]) => gigabytesPerSecond(bytes, median(runs));
  const rates = {
    raw: { warm: rate(file.fileBytes, section.raw.warm), cold: rate(file.fileBytes, section.raw.cold) },
    numpy: { warm: rate(file.dataBytes, section.numpy.warm), cold: rate(file.dataBytes, section.numpy.cold) },
    sharc: {
      warm: section.sharc.warm.length === FILE_RUNS ? rate(file.dataBytes, section.sharc.warm) : Number.NaN,
      cold: section.sharc.cold.length === FILE_RUNS ? rate(file.dataBytes, section.sharc.cold) : Number.NaN,
    },
  };
  const coldVsRaw = rates.sharc.cold / rates.raw.cold;
  const warmVsNumpy = rates.sharc.warm / rates.numpy.warm;
  const numpyResult = section.numpy.warm[0]?.result ?? Number.NaN;
  const sharcResults = [...section.sharc.warm, ...section.sharc.cold].map((run) => run.result);
  const sumDifference = sharcResults.length === 0 ? Number.NaN : Math.max(...sharcResults.map((result) => relativeDifference(result, numpyResult)));
  const peakRssBytes = section.agents.length === 0 ? Number.NaN : Math.max(...section.agents.map((agent) => agent.peakRssBytes));
  return {
    rates,
    coldVsRaw,
    warmVsNumpy,
    numpyResult,
    sharcResult: sharcResults[0] ?? Number.NaN,
    sumDifference,
    sumCorrect: sumDifference <= MAX_SUM_DIFFERENCE,
    peakRssBytes,
  };
}

function about(section: FileSection): string {
  const { file } = section;
  return `${(file.dataBytes / GIB).toFixed(2)} GiB float64 .npy`;
}

/** The rows of the main table (benchmark 'file'). */
export function fileMeasurements(section: FileSection | Skipped): Measurement[] {
  if ('skipped' in section) {
    return [{ benchmark: 'file', subject: `file-backed reduce: skipped (${section.skipped})`, value: Number.NaN, unit: '', details: { skipped: section.skipped } }];
  }
  const figures = fileFigures(section);
  const what = about(section);
  const runs = (name: 'raw' | 'numpy' | 'sharc') => ({ warmRuns: section[name].warm, coldRuns: section[name].cold });
  const rateRow = (subject: string, value: number, details: Record<string, unknown>): Measurement => ({ benchmark: 'file', subject, value, unit: 'GB/s', details });
  return [
    rateRow(`raw read, dd bs=16M, ${what}, cold`, figures.rates.raw.cold, runs('raw')),
    rateRow(`raw read, dd bs=16M, ${what}, warm`, figures.rates.raw.warm, runs('raw')),
    rateRow(`numpy.load(mmap_mode='r').sum(), ${what}, cold`, figures.rates.numpy.cold, runs('numpy')),
    rateRow(`numpy.load(mmap_mode='r').sum(), ${what}, warm`, figures.rates.numpy.warm, runs('numpy')),
    ...sharcRows(section, figures, what),
  ];
}

function sharcRows(section: FileSection, figures: ReturnType<typeof fileFigures>, what: string): Measurement[] {
  const runs = { warmRuns: section.sharc.warm, coldRuns: section.sharc.cold };
  const sharc = `reduce 'sum' over fromFile(…, { resident: ${section.loadMode === 'stream' ? 'false' : 'true'} }), ${what}`;
  if (section.sharcError !== undefined) {
    return [failedMeasurement('file', `${sharc}, ${section.cluster}`, new Error(section.sharcError))];
  }
  return [
    {
      benchmark: 'file',
      subject: `${sharc}, cold, ${section.cluster}`,
      value: figures.rates.sharc.cold,
      unit: 'GB/s',
      baseline: { label: 'dd, cold', value: figures.rates.raw.cold, unit: 'GB/s' },
      ratio: figures.coldVsRaw,
      target: `ratio ≥ ${FILE_TARGETS.coldVsRaw}, sum = numpy's`,
      pass: figures.coldVsRaw >= FILE_TARGETS.coldVsRaw && figures.sumCorrect,
      details: { ...runs, coldMethod: section.coldMethod },
    },
    {
      benchmark: 'file',
      subject: `${sharc}, warm, ${section.cluster}`,
      value: figures.rates.sharc.warm,
      unit: 'GB/s',
      baseline: { label: 'numpy.memmap, warm', value: figures.rates.numpy.warm, unit: 'GB/s' },
      ratio: figures.warmVsNumpy,
      target: `ratio ≥ ${FILE_TARGETS.warmVsNumpy}, sum = numpy's`,
      pass: figures.warmVsNumpy >= FILE_TARGETS.warmVsNumpy && figures.sumCorrect,
      details: { ...runs, sharcResult: figures.sharcResult, numpyResult: figures.numpyResult, relativeDifference: figures.sumDifference },
    },
    {
      benchmark: 'file',
      subject: `agent peak RSS (VmHWM) after the file runs, ${section.cluster}`,
      value: figures.peakRssBytes / MIB,
      unit: 'MiB',
      baseline: { label: 'file size', value: section.file.fileBytes / MIB, unit: 'MiB' },
      details: { agents: section.agents },
    },
  ];
}

/** The section as plain text, for the terminal and RESULTS.md: medians of FILE_RUNS, ratios, PASS/MISS. */
export function fileTextTable(section: FileSection | Skipped): string {
  if ('skipped' in section) return `file section skipped: ${section.skipped}`;
  const { file } = section;
  const figures = fileFigures(section);
  const verdict = (pass: boolean) => (pass ? 'PASS' : 'MISS');
  const fixed = (value: number, digits: number) => (Number.isFinite(value) ? value.toFixed(digits) : '–');
  const cell = (rate: number) => `${fixed(rate, 2)} GB/s`.padStart(11);
  const line = (label: string, rates: { cold: number; warm: number }) => `${label.padEnd(48)}${cell(rates.cold)}  ${cell(rates.warm)}`;
  const sharcLabel = `sharc reduce 'sum', resident: ${section.loadMode === 'stream' ? 'false' : 'true'}`;
  const loadMs = (runs: readonly SumRun[]) => median(runs.map((run) => ({ ms: run.loadMs ?? Number.NaN })));
  const loadCell = (runs: readonly SumRun[]) => `${fixed(loadMs(runs), 1)} ms`.padStart(11);
  return [
    `file: ${file.path}, ${file.fileBytes.toLocaleString('en-US')} bytes (${(file.dataBytes / GIB).toFixed(2)} GiB float64), ` +
      (file.reused ? 'reused from an earlier run' : `written by numpy in this run (${((file.createMs ?? 0) / 1000).toFixed(1)} s)`),
    `cold: ${COLD_METHOD_TEXT[section.coldMethod]} before each cold run${coldCheck(section)}; warm: read just before; median of ${FILE_RUNS} runs; GB = 10^9 bytes`,
    `sharc: ${section.cluster}, ${section.partitions} partitions; each run: fromFile (timed apart), reduce 'sum' (the figure), delete` +
      (section.loadMode === 'resident' ? '; resident: the load reads the file, the reduce reads memory (cold applies to the load only)' : ''),
    '',
    `${''.padEnd(48)}${'cold'.padStart(11)}  ${'warm'.padStart(11)}`,
    line('raw read: dd if=FILE of=/dev/null bs=16M', figures.rates.raw),
    line(`numpy ${section.numpyVersion}: np.load(FILE, mmap_mode='r').sum()`, figures.rates.numpy),
    line(sharcLabel, figures.rates.sharc),
    `${'sharc fromFile before it (timed apart)'.padEnd(48)}${loadCell(section.sharc.cold)}  ${loadCell(section.sharc.warm)}`,
    '',
    ...(section.sharcError === undefined ? [] : [`sharc: FAILED: ${section.sharcError}`]),
    `sharc cold / raw read cold:   ${fixed(figures.coldVsRaw, 2)}  (target ≥ ${FILE_TARGETS.coldVsRaw}): ${verdict(figures.coldVsRaw >= FILE_TARGETS.coldVsRaw)}`,
    `sharc warm / numpy.memmap warm: ${fixed(figures.warmVsNumpy, 2)}  (target ≥ ${FILE_TARGETS.warmVsNumpy}): ${verdict(figures.warmVsNumpy >= FILE_TARGETS.warmVsNumpy)}`,
    `sum: sharc ${figures.sharcResult} numpy ${figures.numpyResult}, relative difference ${figures.sumDifference.toExponential(1)} ` +
      `(≤ ${MAX_SUM_DIFFERENCE}): ${verdict(figures.sumCorrect)}`,
    ...section.agents.map(
      (agent) =>
        `agent ${agent.name} (pid ${agent.pid}): peak RSS (VmHWM) ${(agent.peakRssBytes / MIB).toFixed(0)} MiB, RSS at the end ${(agent.rssBytes / MIB).toFixed(0)} MiB; ` +
        `file ${(file.fileBytes / MIB).toFixed(0)} MiB`,
    ),
  ].join('\n');
}

/** How much of the file was still cached when a cold run started (fincore), the proof it started cold. */
function coldCheck(section: FileSection): string {
  const cached = [...section.raw.cold, ...section.numpy.cold, ...section.sharc.cold].map((run) => run.cachedBefore);
  if (cached.length === 0 || cached.some((bytes) => bytes === undefined)) return ' (fincore not installed: not checked)';
  return ` (fincore: at most ${(Math.max(...(cached as number[])) / MIB).toFixed(1)} MiB of the file cached when one started)`;
}

/** What each line of the file section means: written above its table in RESULTS.md. */
export const FILE_SECTION_LEGEND = [
  "Issue 13: `reduce 'sum'` over a float64 `.npy` of 4 GiB opened with `fromFile(FILE, { resident: false })` (a file-backed",
  'array: nothing loaded up front; the worker threads read and sum it block by block), next to the raw read rate and to',
  'numpy\'s recipe for an array on disk, all measured in the same run over the same file (bench/.data, written once by numpy and reused).',
  '',
  '- **raw read**: `dd if=FILE of=/dev/null bs=16M`, dd\'s own time: what the disk (cold) or the page cache (warm) gives one reader.',
  "- **numpy**: `numpy.load(FILE, mmap_mode='r').sum()` in one `/usr/bin/python3` process, timed inside python (open + sum).",
  "- **sharc**: each run is `fromFile` (timed apart: registering the file's row ranges), `reduce(ref, 'sum')` (the figure), `delete`;",
  '  1 agent process × 2 worker threads over NATS (both cores stream and sum; one agent holds every partition, so its peak RSS is',
  "  the cluster's whole streaming memory). One untimed run first.",
  '- **cold**: the page cache dropped before every cold run of each of the three (`sync; echo 3 > /proc/sys/vm/drop_caches` as',
  '  root, else `dd if=FILE iflag=nocache count=0`); **warm**: the file was just read. Median of 3; rounds run dd, numpy, sharc in turn.',
  '- **targets**: sharc cold ≥ 0.9 × raw read cold; sharc warm ≥ 1.5 × numpy warm; both need sharc\'s sum = numpy\'s (relative 1e-9:',
  '  the two sum in different orders). **peak RSS**: VmHWM of the agent process at the end, next to the file size.',
].join('\n');

/** The section for RESULTS.md: the legend, then the text table. */
export function fileMarkdown(section: FileSection | Skipped | undefined): string {
  const table = section === undefined ? 'file section failed: see its row in the table above' : fileTextTable(section);
  return [FILE_SECTION_LEGEND, '', '```text', table, '```'].join('\n');
}
