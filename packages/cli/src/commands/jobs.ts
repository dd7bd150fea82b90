import path from 'node:path';
import type { Argv } from 'yargs';
import type { ArrayRef, Cluster, JobHandle, JobInfo } from '@sharc/sdk';
import { runAction, withCluster, type GlobalArgs } from '../context.js';
import { UsageError } from '../options.js';
import { escapeForTerminal, fromErrorData } from '@sharc/protocol';
import { printResult, table, toJson, type Output } from '../output.js';
import { progressBar, type ProgressMode } from '../progress.js';
import { builtinOptions, plainValue, refuseBuiltinFlags, valueText } from './builtin-reduce.js';
import { mapArguments, printStored, reduceArguments } from './compute.js';

/** Job ids are random hex (what `sharc submit` prints and `sharc jobs` lists); they end up in NATS subjects. */
const JOB_ID = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * Detached batch jobs: `sharc submit reduce|map … [--detach]`, `sharc jobs`, `sharc wait JOB`,
 * `sharc result JOB`. A submitted job runs in the cluster whatever becomes of the command that
 * submitted it, and the coordinator keeps its outcome (`sharc coordinator --keep-results`).
 */
export function jobCommands(cli: Argv<GlobalArgs>, exit: (code: number) => void): Argv<GlobalArgs> {
  return cli
    .command(
      'submit',
      'Submit a reduce or map as a detached job: it goes on if this command stops, and its result is kept (sharc wait, sharc result)',
      (y) =>
        y
          .command(
            'reduce <name> <op>',
            'Submit a reduce: a built-in (with the flags of sharc reduce; a histogram needs --range) or a kernel module',
            (r) =>
              detachOption(reduceArguments(r))
                .example('$0 submit reduce frames sum --detach', 'prints the job id and returns')
                .example('$0 submit reduce frames std --ddof 1 --detach', 'the flags of sharc reduce (a histogram needs --range)')
                .example('$0 submit reduce frames stats.ts#partial --detach', 'a custom reduction; its partials are merged on an agent'),
            async (args) =>
              exit(
                await runAction(args, () =>
                  withCluster(args, async (cluster, signal) => {
                    const flags = { axis: args.axis, ddof: args.ddof, bins: args.bins, range: args.range };
                    const op = args.op;
                    if (typeof op !== 'string') refuseBuiltinFlags(flags);
                    if (op === 'histogram' && args.range === undefined) {
                      throw new UsageError(`a submitted histogram needs --range LO,HI (sharc reduce ${args.name} histogram finds the data's min and max itself)`);
                    }
                    const ref = await cluster.open(args.name);
                    const timeout = args.timeoutMs === undefined ? {} : { timeoutMs: args.timeoutMs };
                    const job =
                      typeof op === 'string'
                        ? await cluster.submit('reduce', ref, op, { ...timeout, ...builtinOptions(ref, op, flags) })
                        : await cluster.submit('reduce', ref, { module: path.resolve(op.module), partial: op.exportName ?? 'partial', combine: args.combine, params: args.params }, timeout);
                    if (args.detach) return printResult(args, { job: job.id }, () => job.id);
                    await waitAndPrint(args, job, signal);
                  }),
                ),
              ),
          )
          .command(
            'map <name>',
            'Submit a map of a kernel module into a new array (named by --out, or a generated name)',
            (m) =>
              detachOption(mapArguments(m)).example('$0 submit map frames --kernel kernels.ts#rms --out rms --cols 1 --detach', 'prints the job id and returns'),
            async (args) =>
              exit(
                await runAction(args, () =>
                  withCluster(args, async (cluster, signal) => {
                    const ref = await cluster.open(args.name);
                    const kernel = args.kernel!;
                    const job = await cluster.submit(
                      'map',
                      ref,
                      { module: path.resolve(kernel.module), kernel: kernel.exportName!, ...(args.params === undefined ? {} : { params: args.params }) },
                      {
                        replace: args.replace,
                        ...(args.out === undefined ? {} : { name: args.out }),
                        ...(args.dtype === undefined ? {} : { dtype: args.dtype }),
                        ...(args.cols === undefined ? {} : { cols: args.cols }),
                        ...(args.outFile === undefined ? {} : { file: args.outFile }),
                        ...(args.timeoutMs === undefined ? {} : { timeoutMs: args.timeoutMs }),
                      },
                    );
                    if (args.detach) return printResult(args, { job: job.id }, () => job.id);
                    await waitAndPrint(args, job, signal);
                  }),
                ),
              ),
          )
          .demandCommand(1, 'name what to submit: sharc submit reduce NAME OP, or sharc submit map NAME --kernel FILE.ts#export'),
      () => undefined,
    )
    .command(
      'jobs',
      'List jobs of every client: queued and running ones, and detached jobs that ended (kept for the coordinator\'s --keep-results)',
      (y) => y.example('$0 jobs', 'a table').example('$0 jobs --json', 'for scripts: state, progress, timings, value or output, error'),
      async (args) =>
        exit(
          await runAction(args, () =>
            withCluster(args, async (cluster) => {
              const jobs = await cluster.jobs();
              printResult(
                args,
                jobs.map((job) => ({ ...job, ...(job.value === undefined ? {} : { value: plainValue(job.value) }) })),
                () => jobsListTable(jobs),
              );
            }),
          ),
        ),
    )
    .command(
      'wait <job>',
      'Wait for a detached job to end, with a progress bar; print its result (exit 0), or its error (exit 1)',
      (y) => jobArgument(y).example('$0 wait 3f2a9c0d1e4b5a6978c0d1e2', "prints the reduce's value or the map's output when done"),
      async (args) =>
        exit(
          await runAction(args, () =>
            withCluster(args, async (cluster, signal) => {
              await waitAndPrint(args, await handleOf(cluster, args.job), signal);
            }),
          ),
        ),
    )
    .command(
      'result <job>',
      "Print a detached job's result: a reduce's value, or the name of a map's output array",
      (y) => jobArgument(y).example('$0 result 3f2a9c0d1e4b5a6978c0d1e2', 'the value, as sharc reduce prints it'),
      async (args) =>
        exit(
          await runAction(args, () =>
            withCluster(args, async (cluster) => {
              const job = await handleOf(cluster, args.job);
              const info = await job.status();
              if (info.state === 'queued' || info.state === 'running') {
                throw new StillRunningError(`job ${job.id} is still ${info.state} (${percent(info)} done): sharc wait ${job.id} waits for it and prints its result`);
              }
              printOutcome(args, info, undefined);
            }),
          ),
        ),
    );
}

/** A result asked of a job that has not ended: exit 1, saying to wait. */
class StillRunningError extends Error {}

function detachOption<T>(y: Argv<T>) {
  return y.option('detach', { type: 'boolean', default: false, describe: 'Print only the job id and return at once (the job goes on; sharc wait / sharc result JOB)' });
}

function jobArgument<T>(y: Argv<T>) {
  return y.positional('job', { type: 'string', demandOption: true, describe: 'Job id, as sharc submit printed it or sharc jobs lists it' });
}

async function handleOf(cluster: Cluster, jobId: string): Promise<JobHandle> {
  if (!JOB_ID.test(jobId)) {
    // A pasted log or file is no id: its first characters say what was given.
    const shown = jobId.length > 40 ? `${JSON.stringify(jobId.slice(0, 40))}… (${jobId.length} characters)` : JSON.stringify(jobId);
    throw new UsageError(`${shown} is not a job id: sharc jobs lists the ids of jobs`);
  }
  return cluster.job(jobId);
}

/**
 * Waits for the job's end with a progress bar and prints its result as sharc reduce / sharc map
 * do; a job that failed or was cancelled throws its error (exit 1). Ctrl-C stops the wait only.
 */
async function waitAndPrint(args: Output & { progress: ProgressMode }, job: JobHandle, signal: AbortSignal): Promise<void> {
  const bar = progressBar(job.kind, 'blocks', args.progress, args.json);
  let info: JobInfo;
  try {
    info = await job.wait({ signal, ...(bar.onProgress === undefined ? {} : { onProgress: bar.onProgress }) });
  } catch (error) {
    if (signal.aborted) process.stderr.write(`sharc: job ${job.id} goes on in the cluster: sharc wait ${job.id} waits for it again, sharc cancel ${job.id} stops it\n`);
    throw error;
  } finally {
    bar.stop();
  }
  const output = info.state === 'done' && info.kind === 'map' ? await job.result() : undefined;
  printOutcome(args, info, output as ArrayRef | undefined);
}

/**
 * Prints a job that ended: a reduce's value as sharc reduce prints it; a map's output as
 * sharc map does (`stored`, after a wait) or by name (sharc result). Throws the error of a job
 * that failed or was cancelled, naming the job.
 */
function printOutcome(args: Output, info: JobInfo, stored: ArrayRef | undefined): void {
  if (info.state !== 'done') {
    const error = info.error ?? { name: 'InternalError', code: 'INTERNAL', message: 'no error was kept', retryable: false };
    throw fromErrorData({ ...error, message: `job ${info.jobId} ${info.state}: ${error.message}` });
  }
  if (info.kind === 'reduce') {
    printResult(args, { job: info.jobId, array: info.array, value: plainValue(info.value) }, () => valueText(info.value) ?? toJson(info.value));
  } else if (stored !== undefined) {
    printStored(args, stored);
  } else {
    printResult(args, { job: info.jobId, array: info.array, output: info.output }, () => info.output ?? '');
  }
}

function percent(info: JobInfo): string {
  return `${info.totalBlocks === 0 ? 0 : Math.floor((info.doneBlocks / info.totalBlocks) * 100)}%`;
}

/** `sharc jobs`: running and queued first, then those that ended, newest last. */
function jobsListTable(jobs: ReadonlyArray<JobInfo & { detached: boolean }>, now = Date.now()): string {
  if (jobs.length === 0) return 'jobs: none running, none kept';
  return table(
    ['JOB', 'KIND', 'ARRAY', 'STATE', 'PROGRESS', 'SUBMITTED', 'TOOK', 'RESULT'],
    jobs.map((job) => [
      job.jobId + (job.detached ? '' : ' (attached)'),
      job.kind,
      escapeForTerminal(job.array),
      job.state,
      percent(job),
      `${((now - job.submittedAt) / 1000).toFixed(1)} s ago`,
      job.endedAt === undefined ? '-' : `${((job.endedAt - job.submittedAt) / 1000).toFixed(1)} s`,
      escapeForTerminal(resultText(job)),
    ]),
  );
}

function resultText(job: JobInfo): string {
  if (job.state === 'failed' || job.state === 'cancelled') return job.error?.message.split('\n')[0]?.slice(0, 80) ?? '';
  if (job.state !== 'done') return '';
  if (job.kind === 'map') return job.output ?? '';
  if (job.valueOmitted === true) return `(large: sharc result ${job.jobId})`;
  const text = valueText(job.value) ?? toJson(job.value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
