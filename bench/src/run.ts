/**
 * sharc's benchmark harness: `npm run bench` at the repository root (it builds first, and runs
 * node with --expose-gc so big buffers are freed between steps).
 *
 * 1. compute   reduce over 1 GiB on 2 agent processes, and embedded, vs hand-written worker threads
 *    ops       every built-in over 1 GiB (float64, float32) on 2 agent processes, and embedded, vs
 *              C/OpenMP (2 threads) and numpy (2 processes over shared memory), in a table of its own
 * 2. latency   a tiny reduce, 1000 times, 1,000 at once and 100,000 at once, over NATS and embedded
 * 3. transfer  put / toArray of 1 GiB vs raw TCP loopback to another node process
 * 4. memory    agent RSS holding 1 GiB with 1, 2 and 8 threads
 * 5. partitions put / reduce / map / toArray of 2 MiB in 100 … 100,000 partitions, on 2 agent processes
 * 6. file      reduce 'sum' over a file-backed 4 GiB float64 .npy (fromFile { resident: false }) on 1 agent
 *              process × 2 threads, page cache warm and cold, vs dd's raw read rate and
 *              numpy.load(mmap_mode='r').sum() over the same file, with the agent's peak RSS (its own table)
 * 7. scale     the coordinator against 10, 100 and 1,000 simulated agents: registration, heartbeats,
 *              CPU and RSS, placing a 100,000-partition array, jobs across all agents, 10 % killed
 *              at once (its own table)
 *
 * Every ratio is against a baseline measured in this run. The table is printed and written to
 * bench/RESULTS.md and bench/results.json. Whatever happens, everything started is stopped.
 */
import { performance } from 'node:perf_hooks';
import { agentMemoryMeasurements, measureAgentMemory } from './agent-memory.js';
import { CleanupStack } from './cleanup.js';
import { withEmbeddedCluster, withProcessCluster } from './clusters.js';
import { computeMeasurements, measureBaselineCompute, measureSharcCompute, BASELINE_THREADS, COMPUTE_RUNS, COMPUTE_WARMUPS } from './compute.js';
import { ELEMENTS_PER_GIB, sharedTestData } from './data.js';
import { LATENCY_IN_FLIGHT, MANY_AT_ONCE, LATENCY_ITERATIONS, LATENCY_WARMUPS, latencyMeasurements, measureTinyJobLatency } from './latency.js';
import { measureFileSection } from './file/measure.js';
import { fileMarkdown, fileMeasurements, fileTextTable } from './file/rows.js';
import { failedMeasurement, type Measurement } from './measurement.js';
import { OPS } from './ops/list.js';
import { measureCOps, measureNumpyBaseline, opsNotes, OPS_RUNS, OPS_WARMUPS } from './ops/measure.js';
import { opRows } from './ops/rows.js';
import { measurePartitionCurve, partitionMeasurements } from './partitions.js';
import { measureSharcOps } from './ops/sharc.js';
import { SCALE_AGENT_COUNTS, measureScale, scaleMeasurements, scaleTextTable, type ScaleRow } from './scale.js';
import { BUSY_WARNING_PERCENT, machineInfo, measureBusyPercent, opsTextTable, textTable, writeReports } from './report.js';
import { collectGarbage } from './timing.js';
import { TRANSFER_RUNS, TRANSFER_WARMUPS, durabilityMeasurement, measureRawTransfer, measureSharcTransfer, transferMeasurements } from './transfer.js';

/** The bench takes under a minute; past this something hangs, and it stops everything and fails. */
const DEADLINE_MS = 15 * 60 * 1000;
const PROCESS_CLUSTER = { agents: 2, threads: 1 } as const;
const EMBEDDED_CLUSTER = { agents: 1, threads: 2 } as const;
const ON_PROCESSES = `${PROCESS_CLUSTER.agents} agent processes × ${PROCESS_CLUSTER.threads} thread (NATS)`;
const EMBEDDED = `embedded, ${EMBEDDED_CLUSTER.agents} agent × ${EMBEDDED_CLUSTER.threads} threads`;

const cleanup = new CleanupStack();
const failures: Measurement[] = [];
const startedAt = performance.now();

function progress(message: string): void {
  process.stderr.write(`[bench ${((performance.now() - startedAt) / 1000).toFixed(1).padStart(6)} s] ${message}\n`);
}

/** Runs one step; a failure becomes a failed row and the bench goes on. */
async function attempt<T>(benchmark: Measurement['benchmark'], subject: string, work: () => Promise<T>): Promise<T | undefined> {
  progress(`${benchmark}: ${subject}`);
  try {
    return await work();
  } catch (error) {
    progress(`${benchmark}: ${subject} FAILED: ${(error as Error).stack ?? String(error)}`);
    failures.push(failedMeasurement(benchmark, subject, error));
    return undefined;
  } finally {
    collectGarbage();
  }
}

function stopEverythingAndExit(reason: string, code: number): void {
  progress(`${reason}: stopping everything the bench started`);
  cleanup.stopAll().finally(() => process.exit(code));
}

async function main(): Promise<number> {
  const date = new Date();
  if (globalThis.gc === undefined) progress('warning: run with node --expose-gc (npm run bench does) so buffers are freed between steps');
  const busyPercent = await measureBusyPercent();
  if (busyPercent > BUSY_WARNING_PERCENT) {
    progress(`warning: ${busyPercent.toFixed(0)} % of the CPU was busy before the bench started; other work skews every figure`);
  }
  progress('filling 1 GiB of float64 test data');
  const data = sharedTestData(ELEMENTS_PER_GIB);
  const bytes = data.byteLength;

  const baseline = await attempt('compute', `baseline: ${BASELINE_THREADS} worker_threads`, () => measureBaselineCompute(data, cleanup));
  const cOps = await attempt('ops', 'baseline: C/OpenMP, 2 threads', () => measureCOps(cleanup, data.length));
  const numpyOps = await attempt('ops', 'baseline: numpy, 2 processes', () => measureNumpyBaseline(cleanup, data.length));
  const onProcesses = await attempt('compute', `start ${ON_PROCESSES}`, () =>
    withProcessCluster(cleanup, PROCESS_CLUSTER, async (cluster) => ({
      compute: await attempt('compute', ON_PROCESSES, () => measureSharcCompute(cluster, data)),
      ops: await attempt('ops', ON_PROCESSES, () => measureSharcOps(cluster, data, OPS, OPS_RUNS, OPS_WARMUPS)),
      latency: await attempt('latency', ON_PROCESSES, () => measureTinyJobLatency(cluster)),
      transfer: await attempt('transfer', ON_PROCESSES, () => measureSharcTransfer(cluster, data, 1)),
      replicated: await attempt('transfer', `${ON_PROCESSES}, 2 copies`, () => measureSharcTransfer(cluster, data, 2)),
      partitions: await attempt('partitions', ON_PROCESSES, () => measurePartitionCurve(cluster)),
    })),
  );
  const rawTransfer = await attempt('transfer', 'baseline: raw TCP loopback', () => measureRawTransfer(data, cleanup));
  const embedded = await attempt('compute', `start ${EMBEDDED}`, () =>
    withEmbeddedCluster(cleanup, EMBEDDED_CLUSTER, async (cluster) => ({
      compute: await attempt('compute', EMBEDDED, () => measureSharcCompute(cluster, data)),
      ops: await attempt('ops', EMBEDDED, () => measureSharcOps(cluster, data, OPS, OPS_RUNS, OPS_WARMUPS)),
      latency: await attempt('latency', EMBEDDED, () => measureTinyJobLatency(cluster)),
    })),
  );
  const memory = await attempt('memory', '1 agent process, threads 1, 2, 8', () => measureAgentMemory(data, cleanup));
  const file = await attempt('file', "reduce 'sum' over a file-backed .npy, warm and cold, vs dd and numpy.memmap", () => measureFileSection(cleanup, progress));
  if (file !== undefined && 'skipped' in file) progress(`file: section SKIPPED: ${file.skipped}`);
  const scale: ScaleRow[] = [];
  for (const agents of SCALE_AGENT_COUNTS) {
    const row = await attempt('scale', `${agents} simulated agents`, () => measureScale(cleanup, agents, progress));
    if (row !== undefined) scale.push(row);
  }

  const measurements: Measurement[] = [];
  if (baseline !== undefined) {
    if (onProcesses?.compute !== undefined) measurements.push(...computeMeasurements(ON_PROCESSES, onProcesses.compute, baseline, bytes));
    if (embedded?.compute !== undefined) measurements.push(...computeMeasurements(EMBEDDED, embedded.compute, baseline, bytes));
  }
  if (onProcesses?.latency !== undefined) measurements.push(...latencyMeasurements(ON_PROCESSES, onProcesses.latency));
  if (embedded?.latency !== undefined) measurements.push(...latencyMeasurements(EMBEDDED, embedded.latency));
  if (onProcesses?.transfer !== undefined && rawTransfer !== undefined) {
    measurements.push(...transferMeasurements(ON_PROCESSES, onProcesses.transfer, rawTransfer, bytes));
  }
  if (onProcesses?.transfer !== undefined && onProcesses.replicated !== undefined) {
    measurements.push(durabilityMeasurement(ON_PROCESSES, onProcesses.transfer, onProcesses.replicated, bytes));
  }
  if (memory !== undefined) measurements.push(...agentMemoryMeasurements(memory));
  if (onProcesses?.partitions !== undefined) measurements.push(...partitionMeasurements(ON_PROCESSES, onProcesses.partitions));
  if (file !== undefined) measurements.push(...fileMeasurements(file));
  measurements.push(...scaleMeasurements(scale));
  measurements.push(...failures);

  const notes = [
    `compute: best of ${COMPUTE_RUNS} after ${COMPUTE_WARMUPS} warm-up; ratio = baseline time / sharc time. Baseline: ${BASELINE_THREADS} ` +
      'worker_threads of this process, each summing the squares of one half of one SharedArrayBuffer with the same loop, ' +
      'timed from posting the work to having both results. sharc: `cluster.reduce` through the SDK on an array already stored.',
    `latency: ${LATENCY_ITERATIONS} sequential \`reduce(a, 'sum')\` over 8 float64 after ${LATENCY_WARMUPS} warm-ups (p50, p99, jobs/s), ` +
      `then ${LATENCY_IN_FLIGHT} of them at once from one client (Promise.all; best of 3 rounds), then ${MANY_AT_ONCE.toLocaleString('en-US')} at once (they wait in the client).`,
    `transfer: best of ${TRANSFER_RUNS} after ${TRANSFER_WARMUPS} warm-up round, GB = 10^9 bytes; ratio = sharc rate / raw rate. sharc: \`put\`, \`toArray({ into })\` into a ` +
      'buffer reused across runs (like the baseline\'s), and `toArray()` into a new array (no target: it pays a page fault per 4 KiB ' +
      'of fresh memory); control messages included. Baseline: one TCP connection on loopback to a separate node ' +
      'process that reads 1 GiB straight into a buffer allocated once (socket onread, as the agent does), ACKs, and sends it back; the client ' +
      'reads straight into a buffer allocated once (socket onread, as the SDK does).',
    'partitions: one run of each step after a warm-up round at 100 partitions; put of 2 MiB float64 with { partitions: N }, ' +
      "reduce 'sum', map `a.scale(2)`, toArray of the map's output; ms per 1,000 partitions should stay flat along the curve.",
    'memory: VmRSS of the agent process from /proc/<pid>/status after put of 1 GiB and one reduce; limit 1.05 GiB + 150 MiB. ' +
      'Spread: largest deviation from the threads=1 RSS.',
    "file: reduce 'sum' over fromFile(FILE, { resident: false }) of a float64 .npy of 4 GiB in bench/.data (written by numpy once, reused " +
      'after), on 1 agent process × 2 worker threads; median of 3 runs; GB = 10^9 bytes. Cold: the page cache dropped before each run ' +
      '(echo 3 > /proc/sys/vm/drop_caches as root, else dd iflag=nocache on the file); warm: the file read just before. Baselines in ' +
      "the same rounds: `dd if=FILE of=/dev/null bs=16M` (dd's own time) and `numpy.load(FILE, mmap_mode='r').sum()` (one process, " +
      'timed inside python). Peak RSS: VmHWM of the agent process; its baseline column is the file size. See the file section below.',
    'scale: a nats-server and a coordinator process against simulated agents (@sharc/test-support: the real protocol over one NATS ' +
      'connection each, no partition bytes, every element 1), 90 % in one process and 10 % in another that is SIGKILLed. CPU: ' +
      'the coordinator\'s, % of one core, from /proc/<pid>/stat over the step; RSS: VmRSS after it. The big array is placed with ' +
      'the messages a put sends (array.create, array.commit) without bytes; jobs are SDK reduces. detect: until nodes() lists ' +
      'every killed agent dead; served / copied: until every partition with a live copy is served by, and has 2 copies on, live agents.',
  ];
  const ops = {
    rows: opRows(OPS, bytes, cOps, numpyOps, embedded?.ops, onProcesses?.ops),
    notes: opsNotes(cOps?.compiler, numpyOps?.about.numpy),
    baselines: { c: { compiler: cOps?.compiler, ...cOps?.about }, numpy: numpyOps?.about ?? {} },
  };
  const table = textTable(measurements);
  const fileTable = file === undefined ? 'file section failed: see its row' : fileTextTable(file);
  process.stdout.write(`\n${table}\n\n${opsTextTable(ops.rows)}\n\n${fileTable}\n\n${scaleTextTable(scale)}\n\n`);
  const written = await writeReports(machineInfo(date, busyPercent), measurements, notes, ops, [
    { title: 'Files larger than memory: reduce over a file-backed array', table: fileMarkdown(file) },
    { title: 'Scale: one coordinator against simulated agents', table: scaleTextTable(scale) },
  ]);
  progress(`wrote ${written.join(' and ')}`);
  return failures.length === 0 && ops.rows.every((row) => row.correct) ? 0 : 1;
}

process.once('SIGINT', () => stopEverythingAndExit('interrupted', 130));
process.once('SIGTERM', () => stopEverythingAndExit('terminated', 143));
const watchdog = setTimeout(() => stopEverythingAndExit(`not done after ${DEADLINE_MS / 60_000} minutes`, 1), DEADLINE_MS);
watchdog.unref();

let exitCode = 1;
try {
  exitCode = await main();
} catch (error) {
  progress(`bench failed: ${(error as Error).stack ?? String(error)}`);
} finally {
  await cleanup.stopAll();
  clearTimeout(watchdog);
}
process.exit(exitCode);
