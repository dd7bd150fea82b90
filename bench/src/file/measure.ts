import { performance } from 'node:perf_hooks';
import type { Cluster, FromFileOptions } from '@sharc/sdk';
import type { ProcessCluster } from '@sharc/test-support';
import { processStatus } from '../agent-memory.js';
import type { CleanupStack } from '../cleanup.js';
import { withProcessCluster } from '../clusters.js';
import { collectGarbage } from '../timing.js';
import { NPY_SCRIPT, prepareDataFile, runPython, type DataFile, type Skipped } from './data-file.js';
import { cachedBytes, chooseColdMethod, dropFileCache, rawRead, type ColdMethod } from './page-cache.js';

/**
 * The file section (issue 13): reduce 'sum' over a file-backed float64 array of ≥ 4 GiB on a real
 * local cluster, page cache warm and cold, next to the raw read rate (dd) and to
 * `numpy.load(FILE, mmap_mode='r').sum()` over the same file, measured in the same run.
 *
 * Order: one untimed sharc run (it starts the threads and reads the file once: the page cache is
 * then warm), FILE_RUNS warm rounds, FILE_RUNS cold rounds. A round runs dd, numpy and sharc one
 * after another, so a drift of the machine hits all three alike; cold rounds drop the file's
 * pages before each of the three. The figure of a row is the median of its FILE_RUNS runs.
 */

export const FILE_RUNS = 3;
/**
 * One agent process with 2 worker threads: the machine's 2 cores both stream and sum (a file-
 * backed partition is read block by block by the thread that sums it), and every partition goes
 * to that one agent, whose peak RSS is then the whole cluster's streaming memory. 2 agents × 1
 * thread would use the same 2 cores, plus a second agent main thread and NATS connection
 * competing for them. SHARC_BENCH_FILE_AGENTS and SHARC_BENCH_FILE_THREADS change it (comparing).
 */
export const FILE_CLUSTER = {
  agents: Number(process.env.SHARC_BENCH_FILE_AGENTS ?? 1),
  threads: Number(process.env.SHARC_BENCH_FILE_THREADS ?? 2),
};
/**
 * How sharc loads the file: 'stream' is `fromFile(FILE, { resident: false })` (the issue's
 * file-backed array); 'resident' (SHARC_BENCH_FILE_RESIDENT=1) loads it whole into the agent's
 * memory first, as fromFile did before file-backed arrays (the load is timed apart from the reduce).
 */
export type FileLoadMode = 'stream' | 'resident';
export const FILE_LOAD_MODE: FileLoadMode = process.env.SHARC_BENCH_FILE_RESIDENT === '1' ? 'resident' : 'stream';

export interface Timed {
  ms: number;
  /** Bytes of the file in the page cache just before the run (cold runs; fincore), when known. */
  cachedBefore?: number;
}
export interface SumRun extends Timed {
  result: number;
  /** sharc only: fromFile before the reduce (registering the file; for 'resident', reading it all). */
  loadMs?: number;
  /** sharc only: the array's partitions (fromFile's default for the file's size). */
  partitions?: number;
}
export interface Runs<T extends Timed> {
  warm: T[];
  cold: T[];
}

export interface FileSection {
  file: DataFile;
  coldMethod: ColdMethod;
  loadMode: FileLoadMode;
  cluster: string;
  raw: Runs<Timed>;
  numpy: Runs<SumRun>;
  sharc: Runs<SumRun>;
  /** VmHWM and VmRSS of each agent process at the end, bytes. */
  agents: Array<{ name: string; pid: number; peakRssBytes: number; rssBytes: number }>;
  numpyVersion: string;
  /** The array's partitions (fromFile's default). */
  partitions: number;
  /** Why sharc's runs stopped (dd's and numpy's are still there); absent when every run worked. */
  sharcError?: string;
}

/** Runs the section, or says why it could not (not enough disk for the file). */
export async function measureFileSection(cleanup: CleanupStack, progress: (message: string) => void): Promise<FileSection | Skipped> {
  const file = await prepareDataFile(cleanup, progress);
  if ('skipped' in file) return file;
  const coldMethod = await chooseColdMethod(file.path);
  progress(`file: cold runs drop the page cache with ${coldMethod}; sharc loads with ${FILE_LOAD_MODE === 'stream' ? 'fromFile(FILE, { resident: false })' : 'fromFile(FILE) (resident)'}`);
  const clusterText = `${FILE_CLUSTER.agents} agent process${FILE_CLUSTER.agents === 1 ? '' : 'es'} × ${FILE_CLUSTER.threads} thread${FILE_CLUSTER.threads === 1 ? '' : 's'} (NATS)`;
  return withProcessCluster(cleanup, FILE_CLUSTER, async (cluster, processes) => {
    let numpyVersion = 'unknown';
    const numpySum = async (): Promise<SumRun> => {
      const printed = await runPython(cleanup, 'numpy memmap sum', [NPY_SCRIPT, 'sum', file.path]);
      if (typeof printed.ms !== 'number' || typeof printed.result !== 'number') throw new Error(`numpy printed ${JSON.stringify(printed)}`);
      numpyVersion = String(printed.numpy);
      return { ms: printed.ms, result: printed.result };
    };
    const sharcSum = () => sharcFileSum(cluster, file.path);
    const raw = async (): Promise<Timed> => ({ ms: (await rawRead(file.path)).ms });

    const result: FileSection = {
      file,
      coldMethod,
      loadMode: FILE_LOAD_MODE,
      cluster: clusterText,
      raw: { warm: [], cold: [] },
      numpy: { warm: [], cold: [] },
      sharc: { warm: [], cold: [] },
      agents: [],
      numpyVersion,
      partitions: 0,
    };
    // A failing sharc run ends sharc's runs, not the section: dd and numpy are still reported.
    const trySharc = async (what: string): Promise<SumRun | undefined> => {
      if (result.sharcError !== undefined) return undefined;
      try {
        return await sharcSum();
      } catch (error) {
        result.sharcError = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        progress(`file: sharc ${what} FAILED (dd and numpy go on): ${result.sharcError}`);
        return undefined;
      }
    };
    progress('file: one untimed sharc run (starts the threads, reads the file once)');
    if ((await trySharc('untimed run')) === undefined) await rawRead(file.path);
    for (const cache of ['warm', 'cold'] as const) {
      for (let run = 1; run <= FILE_RUNS; run++) {
        progress(`file: ${cache} round ${run} of ${FILE_RUNS}: dd, numpy${result.sharcError === undefined ? ', sharc' : ''}`);
        const before = async () => {
          collectGarbage();
          if (cache === 'warm') return {};
          await dropFileCache(file.path, coldMethod);
          const cached = await cachedBytes(file.path);
          return cached === undefined ? {} : { cachedBefore: cached };
        };
        for (const [runs, work] of [
          [result.raw, raw],
          [result.numpy, numpySum],
          [result.sharc, () => trySharc(`${cache} run ${run}`)],
        ] as const) {
          if (runs === result.sharc && result.sharcError !== undefined) continue;
          const state = await before();
          const timed = await work();
          if (timed !== undefined) (runs[cache] as Timed[]).push({ ...timed, ...state });
        }
      }
    }
    result.numpyVersion = numpyVersion;
    result.partitions = result.sharc.warm[0]?.partitions ?? 0;
    result.agents = await agentMemory(processes);
    return result;
  });
}

/**
 * One sharc run: fromFile, then reduce 'sum' (the timed part: the figure of the row), then
 * delete. The load is timed apart: for a file-backed array it only registers the file's row
 * ranges; for a resident one it reads the whole file.
 */
async function sharcFileSum(cluster: Cluster, file: string): Promise<SumRun> {
  // The resident mode passes nothing (fromFile's default).
  const options: FromFileOptions = FILE_LOAD_MODE === 'stream' ? { resident: false } : {};
  const loadStart = performance.now();
  const array = await cluster.fromFile(file, options);
  try {
    // A file-backed array carries its BackingFile (ArrayRef.file, issue 13): a load that quietly
    // came back resident would measure memory, not the file.
    const backing = array.file;
    if ((FILE_LOAD_MODE === 'stream') !== (backing !== undefined)) {
      throw new Error(`fromFile(${JSON.stringify(options)}) gave an array that is ${backing === undefined ? 'resident' : 'file-backed'}`);
    }
    const start = performance.now();
    const result = Number(await cluster.reduce(array, 'sum'));
    const end = performance.now();
    return { ms: end - start, loadMs: start - loadStart, result, partitions: array.partitions };
  } finally {
    await array.delete();
  }
}

async function agentMemory(processes: ProcessCluster): Promise<FileSection['agents']> {
  const agents: FileSection['agents'] = [];
  for (const [name, agent] of processes.agents) {
    const pid = agent.pid;
    if (pid === undefined) throw new Error(`agent ${name} has no process id (not running?)`);
    const status = await processStatus(pid);
    agents.push({ name, pid, peakRssBytes: status.VmHWM, rssBytes: status.VmRSS });
  }
  return agents;
}
