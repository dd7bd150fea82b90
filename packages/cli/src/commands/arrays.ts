import { stat } from 'node:fs/promises';
import path from 'node:path';
import { escapeForTerminal } from '@sharc/protocol';
import type { Argv } from 'yargs';
import { runAction, withCluster, type GlobalArgs } from '../context.js';
import { arrayJson, formatBytes, printResult, quotedName, storedText } from '../output.js';
import { dtype, nonNegativeInteger, positiveInteger, shape, streamOption, UsageError } from '../options.js';
import { progressBar } from '../progress.js';

/** `sharc put`, `sharc get`, `sharc rm`: arrays in and out of the cluster. */
export function arrayCommands(cli: Argv<GlobalArgs>, exit: (code: number) => void): Argv<GlobalArgs> {
  return cli
    .command(
      'put <file>',
      'Store a .npy (or raw) file as a named array, split into row partitions over the agents',
      (y) =>
        y
          .positional('file', { type: 'string', demandOption: true, describe: '.npy file (or raw little-endian bytes with --dtype and --shape)' })
          .option('name', { type: 'string', describe: 'Name other clients open it by [default: generated]' })
          .option('replace', { type: 'boolean', default: false, describe: 'Replace an array of the same name (once the new one is stored)' })
          .option('partitions', { describe: 'Row partitions [default: one per agent, more for big arrays]', coerce: positiveInteger('partitions') })
          .option('copies', {
            describe: "Copies of each partition on distinct agents (2 survives an agent's death) [default: the coordinator's, 2]",
            coerce: positiveInteger('copies'),
          })
          .option('dtype', { type: 'string', describe: 'Raw files: element type (a .npy file has it in its header)', coerce: dtype('dtype') })
          .option('shape', { type: 'string', describe: 'Raw files: ROWS or ROWS,COLS, covering the whole file', coerce: shape })
          .option('byte-offset', {
            describe: 'Raw files: read only the bytes --shape covers, starting at this byte [default: the whole file]',
            coerce: nonNegativeInteger('byte-offset'),
          })
          .option('agents-read', {
            type: 'boolean',
            default: false,
            describe: 'Agents read FILE themselves (a path every agent host can read, e.g. shared storage) instead of this machine uploading it',
          })
          .option('stream', {
            type: 'string',
            coerce: streamOption,
            describe:
              'With --agents-read: keep the array file-backed: nothing is read into memory, each job streams the rows from FILE (which must not change). ' +
              "--stream auto: only when the cluster's memory cannot hold the array [default: read into memory]",
          })
          .example('$0 put frames.npy --name frames', 'upload from this machine with a progress bar')
          .example('$0 put /data/big.npy --name big --agents-read', 'agents load their rows from shared storage')
          .example('$0 put /data/huge.npy --name huge --agents-read --stream', 'bigger than memory: jobs stream the rows from the file')
          .example('$0 put /data/huge.npy --name huge --agents-read --stream auto', 'in memory if it fits, file-backed if not')
          .example('$0 put frames.f32 --dtype float32 --shape 1000,64', 'raw bytes: the shape must cover the whole file'),
      async (args) =>
        exit(
          await runAction(args, () => {
            // Checked before connecting: a wrong command line needs no cluster to be told so.
            if (args.agentsRead && args.copies !== undefined) {
              throw new UsageError('--copies is for uploads: with --agents-read the file itself is where a lost partition is read again from');
            }
            if (args.stream !== undefined && !args.agentsRead) {
              throw new UsageError(
                '--stream needs --agents-read: a file-backed array is read by the agents from a path they all see (sharc put FILE --agents-read --stream); without it this machine uploads FILE into their memory',
              );
            }
            return withCluster(args, async (cluster, signal) => {
              const file = args.file;
              const options = {
                signal,
                replace: args.replace,
                ...(args.name === undefined ? {} : { name: args.name }),
                ...(args.partitions === undefined ? {} : { partitions: args.partitions }),
                // Whoever reads the file decides .npy or raw by its first bytes, and checks these against it.
                ...(args.dtype === undefined ? {} : { dtype: args.dtype }),
                ...(args.shape === undefined ? {} : { shape: args.shape }),
                ...(args.byteOffset === undefined ? {} : { byteOffset: args.byteOffset }),
              };
              const bar = progressBar('put', 'bytes', args.progress, args.json);
              let ref;
              try {
                ref = args.agentsRead
                  ? await cluster.fromFile(path.resolve(file), { ...options, ...(args.stream === undefined ? {} : { resident: args.stream }) })
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
                () => storedText(stored),
              );
            });
          }),
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
      'Delete arrays and free their memory on every agent (an upload in progress too: see sharc ls --all)',
      (y) => y.positional('names', { type: 'string', array: true, demandOption: true }).example('$0 rm frames rms', 'delete two arrays'),
      async (args) =>
        exit(
          await runAction(args, () =>
            withCluster(args, async (cluster) => {
              const deleted: string[] = [];
              for (const name of args.names) {
                try {
                  await cluster.delete(name);
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
