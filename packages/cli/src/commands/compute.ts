import path from 'node:path';
import type { Argv } from 'yargs';
import { runAction, withCluster, type GlobalArgs } from '../context.js';
import { arrayJson, formatBytes, plural, printResult, toJson } from '../output.js';
import { dtype, jsonParams, kernelSpec, positiveInteger, reduceOperation } from '../options.js';
import { progressBar } from '../progress.js';

/** `sharc reduce` and `sharc map`: jobs over every partition, on every agent. */
export function computeCommands(cli: Argv<GlobalArgs>, exit: (code: number) => void): Argv<GlobalArgs> {
  return cli
    .command(
      'reduce <name> <op>',
      'Reduce an array to one value with a built-in (sum, min, max, mean, sumsq, …) or a kernel module',
      (y) =>
        y
          .positional('name', { type: 'string', demandOption: true })
          .positional('op', { type: 'string', demandOption: true, coerce: reduceOperation, describe: 'built-in name, or FILE.ts[#partial] exporting partial and combine' })
          .option('combine', { type: 'string', default: 'combine', describe: 'Kernel modules: the export merging two partials' })
          .option('params', { type: 'string', coerce: jsonParams, describe: 'JSON handed to the kernel as ctx.params' })
          .option('timeout-ms', { coerce: positiveInteger('timeout-ms'), describe: 'Fail the job after this long' })
          .example('$0 reduce frames sum', 'built-in sum')
          .example("$0 reduce frames stats.ts#partial --params '{\"threshold\":3}'", 'a custom reduction'),
      async (args) =>
        exit(
          await runAction(args, () =>
            withCluster(args, async (cluster, signal) => {
              const ref = await cluster.open(args.name);
              const bar = progressBar('reduce', 'blocks', args.progress, args.json);
              const options = {
                signal,
                ...(args.timeoutMs === undefined ? {} : { timeoutMs: args.timeoutMs }),
                ...(bar.onProgress === undefined ? {} : { onProgress: bar.onProgress }),
              };
              let value: unknown;
              try {
                const op = args.op;
                value =
                  typeof op === 'string'
                    ? await cluster.reduce(ref, op, options)
                    : await cluster.reduce(
                        ref,
                        { module: path.resolve(op.module), partial: op.exportName ?? 'partial', combine: args.combine, params: args.params },
                        options,
                      );
              } finally {
                bar.stop();
              }
              printResult(args, { array: ref.name, value }, () => (typeof value === 'number' || typeof value === 'bigint' ? String(value) : toJson(value)));
            }),
          ),
        ),
    )
    .command(
      'map <name>',
      'Run a kernel over every block of rows into a new array, on the agents that hold the rows',
      (y) =>
        y
          .positional('name', { type: 'string', demandOption: true })
          .option('kernel', { type: 'string', demandOption: true, coerce: kernelSpec('kernel', true), describe: 'FILE.ts#export: (input, output, ctx) => void' })
          .option('out', { type: 'string', describe: 'Name of the output array [default: generated]' })
          .option('dtype', { type: 'string', coerce: dtype('dtype'), describe: "Output element type [default: the input's]" })
          .option('cols', { coerce: positiveInteger('cols'), describe: "Output columns [default: the input's]" })
          .option('replace', { type: 'boolean', default: false, describe: 'Replace an existing array named --out' })
          .option('params', { type: 'string', coerce: jsonParams, describe: 'JSON handed to the kernel as ctx.params' })
          .option('timeout-ms', { coerce: positiveInteger('timeout-ms'), describe: 'Fail the job after this long' })
          .example('$0 map frames --kernel kernels.ts#rms --out rms --dtype float32 --cols 1', 'one float32 per row'),
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
                    signal,
                    ...(args.timeoutMs === undefined ? {} : { timeoutMs: args.timeoutMs }),
                    ...(bar.onProgress === undefined ? {} : { onProgress: bar.onProgress }),
                  },
                );
              } finally {
                bar.stop();
              }
              const stored = output;
              printResult(
                args,
                arrayJson(stored),
                () => `stored '${stored.name}': ${stored.dtype} [${stored.shape.join(', ')}], ${formatBytes(stored.byteLength)} in ${plural(stored.partitions, 'partition')}`,
              );
            }),
          ),
        ),
    );
}
