import { stat } from 'node:fs/promises';
import path from 'node:path';
import { escapeForTerminal } from '@sharc/protocol';
import type { Argv } from 'yargs';
import { runAction, withCluster, type GlobalArgs } from '../context.js';
import { arrayJson, formatBytes, plural, printResult, quotedName } from '../output.js';
import { dtype, positiveInteger, shape, UsageError } from '../options.js';
import { progressBar } from '../progress.js';

/** `sharc put`, `sharc get`, `sharc rm`: arrays in and out of the cluster. */
export function arrayCommands(cli: Argv<GlobalArgs>, exit: (code: number) => void): Argv<GlobalArgs> {
  return cli
    .command(
      'put <file>',
      'Store a .npy (or raw) file as a named array, split into row partitions over the agents',
      (y) =>
        y
          .positional('file', { type: 'string', demandOption: true, describe: '.npy file (or raw bytes with --dtype and --shape)' })
          .option('name', { type: 'string', describe: 'Name other clients open it by [default: generated]' })
          .option('replace', { type: 'boolean', default: false, describe: 'Replace an array of the same name (once the new one is stored)' })
          .option('partitions', { describe: 'Row partitions [default: one per agent, more for big arrays]', coerce: positiveInteger('partitions') })
          .option('copies', {
            describe: "Copies of each partition on distinct agents (2 survives an agent's death) [default: the coordinator's, 2]",
            coerce: positiveInteger('copies'),
          })
          .option('dtype', { type: 'string', describe: 'Raw files: element type', coerce: dtype('dtype') })
          .option('shape', { type: 'string', describe: 'Raw files: ROWS or ROWS,COLS', coerce: shape })
          .option('agents-read', {
            type: 'boolean',
            default: false,
            describe: 'Agents read FILE themselves (a path every agent host can read, e.g. shared storage) instead of this machine uploading it',
          })
          .example('$0 put frames.npy --name frames', 'upload from this machine with a progress bar')
          .example('$0 put /data/big.npy --name big --agents-read', 'agents load their rows from shared storage'),
      async (args) =>
        exit(
          await runAction(args, () =>
            withCluster(args, async (cluster, signal) => {
              const file = args.file;
              if ((args.dtype === undefined) !== (args.shape === undefined)) throw new UsageError('raw files need both --dtype and --shape');
              if (args.dtype === undefined && !file.toLowerCase().endsWith('.npy')) {
                throw new UsageError(`${file} is not a .npy file: for raw little-endian bytes give --dtype and --shape`);
              }
              const options = {
                signal,
                replace: args.replace,
                ...(args.name === undefined ? {} : { name: args.name }),
                ...(args.partitions === undefined ? {} : { partitions: args.partitions }),
                ...(args.dtype === undefined ? {} : { format: 'raw' as const, dtype: args.dtype, shape: args.shape! }),
              };
              if (args.agentsRead && args.copies !== undefined) {
                throw new UsageError('--copies is for uploads: with --agents-read the file itself is where a lost partition is read again from');
              }
              const bar = progressBar('put', 'bytes', args.progress, args.json);
              let ref;
              try {
                ref = args.agentsRead
                  ? await cluster.fromFile(path.resolve(file), options)
                  : await cluster.putFile(file, {
                      ...options,
                      ...(args.copies === undefined ? {} : { copies: args.copies }),
                      ...(bar.onProgress === undefined ? {} : { onProgress: bar.onProgress }),
                    });
              } finally {
                bar.stop();
              }
              const stored = ref;
              printResult(
                args,
                arrayJson(stored),
                () => `stored '${stored.name}': ${stored.dtype} [${stored.shape.join(', ')}], ${formatBytes(stored.byteLength)} in ${plural(stored.partitions, 'partition')}`,
              );
            }),
          ),
        ),
    )
    .command(
      'get <name> <out>',
      'Fetch an array into a .npy file on this machine (numpy.load reads it)',
      (y) =>
        y
          .positional('name', { type: 'string', demandOption: true })
          .positional('out', { type: 'string', demandOption: true, describe: 'Output .npy file, or a directory to write NAME.npy in' })
          .example('$0 get rms rms.npy', "write array 'rms' to rms.npy")
          .example('$0 get rms results/', 'write it to results/rms.npy'),
      async (args) =>
        exit(
          await runAction(args, () =>
            withCluster(args, async (cluster, signal) => {
              const ref = await cluster.open(args.name);
              const out = await outputFile(args.out, ref.name);
              const bar = progressBar('get', 'bytes', args.progress, args.json);
              try {
                await ref.save(out, { signal, ...(bar.onProgress === undefined ? {} : { onProgress: bar.onProgress }) });
              } finally {
                bar.stop();
              }
              printResult(args, { ...arrayJson(ref), file: path.resolve(out) }, () => `wrote ${out}: ${ref.dtype} [${ref.shape.join(', ')}], ${formatBytes(ref.byteLength)}`);
            }),
          ),
        ),
    )
    .command(
      'rm <names..>',
      'Delete arrays and free their memory on every agent',
      (y) => y.positional('names', { type: 'string', array: true, demandOption: true }).example('$0 rm frames rms', 'delete two arrays'),
      async (args) =>
        exit(
          await runAction(args, () =>
            withCluster(args, async (cluster) => {
              const deleted: string[] = [];
              for (const name of args.names) {
                try {
                  await (await cluster.open(name)).delete();
                } catch (error) {
                  if (deleted.length === 0) throw error;
                  throw new Error(`deleted ${deleted.map(quotedName).join(', ')}, then stopped at ${quotedName(name)}: ${(error as Error).message}`, { cause: error });
                }
                deleted.push(name);
              }
              printResult(args, { deleted }, () => deleted.map((name) => `deleted ${quotedName(name)}`).join('\n'));
            }),
          ),
        ),
    );
}

/**
 * Where `sharc get NAME OUT` writes: OUT, or OUT/NAME.npy when OUT is a directory (as cp does).
 * A name that is no plain file name (a '/', '..', a character that does not print) needs OUT to
 * be a file.
 */
async function outputFile(out: string, name: string): Promise<string> {
  const isDirectory = (await stat(out).catch(() => undefined))?.isDirectory() ?? false;
  if (!isDirectory) return out;
  const fileName = `${name}.npy`;
  if (name.includes('/') || name.includes(path.sep) || name === '.' || name === '..' || escapeForTerminal(name) !== name) {
    throw new UsageError(`${out} is a directory and array name ${quotedName(name)} is no file name: give the output file, e.g. ${path.join(out, 'array.npy')}`);
  }
  return path.join(out, fileName);
}
