import path from 'node:path';
import { formatLogLine, type KernelLogLine } from '@sharc/sdk';
import type { Argv } from 'yargs';
import { runAction, withCluster, type GlobalArgs } from '../context.js';
import { arrayJson, printResult, storedText, toJson, type Output } from '../output.js';
import { axisOption, ddofOption, dtype, jsonParams, kernelSpec, npyOutputFile, positiveInteger, rangeOption, reduceOperation } from '../options.js';
import { plainValue, refuseBuiltinFlags, runBuiltin, valueText } from './builtin-reduce.js';
import { progressBar } from '../progress.js';
import type { ArrayRef } from '@sharc/sdk';

/** The arguments of `sharc reduce` (and of `sharc submit reduce`). */
export function reduceArguments<T>(y: Argv<T>) {
  return y
    .positional('name', { type: 'string', demandOption: true })
    .positional('op', { type: 'string', demandOption: true, coerce: reduceOperation, describe: 'built-in name, or FILE.ts[#partial] exporting partial and combine' })
    .option('combine', { type: 'string', default: 'combine', describe: 'Kernel modules: the export merging two partials' })
    .option('params', { type: 'string', coerce: jsonParams, describe: 'JSON handed to the kernel as ctx.params' })
    .option('timeout-ms', { coerce: positiveInteger('timeout-ms'), describe: 'Fail the job after this long' })
    .option('axis', { type: 'string', coerce: axisOption, describe: 'sum, mean, min, max, var, std: 0 gives one value per column of a 2-D array' })
    .option('ddof', { type: 'string', coerce: ddofOption, describe: 'var, std: divide by n - ddof [default: 0]' })
    .option('bins', { type: 'string', coerce: positiveInteger('bins'), describe: 'histogram: number of equal bins [default: 10]' })
    .option('range', { type: 'string', coerce: rangeOption, describe: "histogram: LO,HI outer edges [default: the data's min,max]" });
}

/** The arguments of `sharc map` (and of `sharc submit map`). */
export function mapArguments<T>(y: Argv<T>) {
  return y
    .positional('name', { type: 'string', demandOption: true })
    .option('kernel', { type: 'string', demandOption: true, coerce: kernelSpec('kernel', true), describe: 'FILE.ts#export: (input, output, ctx) => void' })
    .option('out', { type: 'string', describe: 'Name of the output array [default: generated]' })
    .option('dtype', { type: 'string', coerce: dtype('dtype'), describe: "Output element type [default: the input's]" })
    .option('cols', { coerce: positiveInteger('cols'), describe: "Output columns [default: the input's]" })
    .option('out-file', { type: 'string', coerce: npyOutputFile('out-file'), describe: OUT_FILE_DESCRIPTION })
    .option('replace', { type: 'boolean', default: false, describe: 'Replace an existing array named --out (and the file --out-file)' })
    .option('params', { type: 'string', coerce: jsonParams, describe: 'JSON handed to the kernel as ctx.params' })
    .option('timeout-ms', { coerce: positiveInteger('timeout-ms'), describe: 'Fail the job after this long' });
}

/** What --out-file does, for map, submit map and op. */
export const OUT_FILE_DESCRIPTION =
  'Write the output to this .npy file (a path every agent can write) instead of memory: a file-backed array, and a file numpy.load reads [default: in memory]';

/** What `sharc map` prints of its output array (and `sharc wait` of a submitted map's). */
export function printStored(args: Output, stored: ArrayRef): void {
  printResult(args, arrayJson(stored), () => storedText(stored));
}

/** `sharc reduce` and `sharc map`: jobs over every partition, on every agent. */
export function computeCommands(cli: Argv<GlobalArgs>, exit: (code: number) => void): Argv<GlobalArgs> {
  return cli
    .command(
      'reduce <name> <op>',
      'Reduce an array with a built-in (sum, mean, min, max, argmin, argmax, var, std, norm, histogram, sumsq, count) or a kernel module',
      (y) =>
        reduceArguments(y)
          .example('$0 reduce frames sum', 'built-in sum')
          .example('$0 reduce frames std --ddof 1', 'sample standard deviation, as numpy.std(a, ddof=1)')
          .example('$0 reduce frames mean --axis 0', 'column means of a 2-D array, as numpy.mean(a, axis=0)')
          .example('$0 reduce frames histogram --bins 20 --range=-1,1', 'numpy.histogram(a, bins=20, range=(-1, 1))')
          .example("$0 reduce frames stats.ts#partial --params '{\"threshold\":3}'", 'a custom reduction'),
      async (args) =>
        exit(
          await runAction(args, () =>
            withCluster(args, async (cluster, signal) => {
              const ref = await cluster.open(args.name);
              const bar = progressBar('reduce', 'blocks', args.progress, args.json);
              const options = {
                signal,
                // What the kernel prints, on stderr (with --json too: stdout alone is for scripts).
                onLog: (line: KernelLogLine) => bar.log(formatLogLine(line)),
                ...(args.timeoutMs === undefined ? {} : { timeoutMs: args.timeoutMs }),
                ...(bar.onProgress === undefined ? {} : { onProgress: bar.onProgress }),
              };
              let value: unknown;
              const flags = { axis: args.axis, ddof: args.ddof, bins: args.bins, range: args.range };
              if (typeof args.op !== 'string') refuseBuiltinFlags(flags);
              try {
                const op = args.op;
                value =
                  typeof op === 'string'
                    ? await runBuiltin(cluster, ref, op, flags, options)
                    : await cluster.reduce(
                        ref,
                        { module: path.resolve(op.module), partial: op.exportName ?? 'partial', combine: args.combine, params: args.params },
                        options,
                      );
              } finally {
                bar.stop();
              }
              printResult(args, { array: ref.name, value: plainValue(value) }, () => valueText(value) ?? toJson(value));
            }),
          ),
        ),
    )
    .command(
      'map <name>',
      'Run a kernel over every block of rows into a new array, on the agents that hold the rows',
      (y) =>
        mapArguments(y)
          .example('$0 map frames --kernel kernels.ts#rms --out rms --dtype float32 --cols 1', 'one float32 per row')
          .example('$0 map huge --kernel kernels.ts#clean --out clean --out-file /data/clean.npy', 'write the output to a .npy file'),
      async (args) =>
        exit(
          await runAction(args, () =>
            withCluster(args, async (cluster, signal) => {
              const ref = await cluster.open(args.name);
              const kernel = args.kernel!;
              const bar = progressBar('map', 'blocks', args.progress, args.json);
              let output;
              try {
                output = await cluster.map(
                  ref,
                  {
                    module: path.resolve(kernel.module),
                    kernel: kernel.exportName!,
                    ...(args.params === undefined ? {} : { params: args.params }),
                  },
                  {
                    replace: args.replace,
                    ...(args.out === undefined ? {} : { name: args.out }),
                    ...(args.dtype === undefined ? {} : { dtype: args.dtype }),
                    ...(args.cols === undefined ? {} : { cols: args.cols }),
                    ...(args.outFile === undefined ? {} : { file: args.outFile }),
                    signal,
                    onLog: (line: KernelLogLine) => bar.log(formatLogLine(line)),
                    ...(args.timeoutMs === undefined ? {} : { timeoutMs: args.timeoutMs }),
                    ...(bar.onProgress === undefined ? {} : { onProgress: bar.onProgress }),
                  },
                );
              } finally {
                bar.stop();
              }
              printStored(args, output);
            }),
          ),
        ),
    );
}
