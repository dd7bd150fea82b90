import type { Argv } from 'yargs';
import type { ArrayRef, Cluster, OpOptions } from '@sharc/sdk';
import { runAction, withCluster, type GlobalArgs } from '../context.js';
import { arrayJson, printResult, storedText } from '../output.js';
import { UsageError, nonNegativeInteger, npyOutputFile, positiveInteger } from '../options.js';
import { OUT_FILE_DESCRIPTION } from './compute.js';
import { progressBar } from '../progress.js';

/**
 * `sharc op NAME OPERATION [ARGS…] --out B`: the built-in operations that make a new array
 * (numpy's names), and `sharc dot A B`. Arguments after the operation are its own:
 *
 *     sharc op A astype float32 --out B        sharc op A add B --out C    (sub, mul, div)
 *     sharc op A scale 2.5 --offset 1          sharc op A clip --lo 0 --hi 1
 *     sharc op A abs | sqrt                    sharc op A sum --axis 1     (mean, min, max, std --ddof 1)
 *     sharc op A matvec '[0.5, 1, 2]'          sharc op A slice 10 20      (negative counts from the end)
 */
const UNARY = ['abs', 'sqrt'] as const;
const BINARY = ['add', 'sub', 'mul', 'div'] as const;
const ROW_STATISTICS = ['sum', 'mean', 'min', 'max', 'std'] as const;
export const OPERATIONS = ['astype', 'scale', 'clip', ...UNARY, ...BINARY, ...ROW_STATISTICS, 'matvec', 'slice'] as const;

interface OpArgs {
  name: string;
  operation: string;
  args: string[];
  out?: string;
  replace: boolean;
  offset?: number;
  lo?: number;
  hi?: number;
  axis?: number;
  ddof?: number;
  timeoutMs?: number;
}

export function opsCommands(cli: Argv<GlobalArgs>, exit: (code: number) => void): Argv<GlobalArgs> {
  return cli
    .command(
      'op <name> <operation> [args..]',
      `Make a new array with a built-in operation: ${OPERATIONS.join(', ')}`,
      (y) =>
        y
          .positional('name', { type: 'string', demandOption: true })
          .positional('operation', { type: 'string', demandOption: true, choices: OPERATIONS, describe: "numpy's name of the operation" })
          .positional('args', { type: 'string', array: true, default: [], describe: "the operation's arguments (a dtype, a factor, an array name, rows…)" })
          .option('out', { type: 'string', describe: 'Name of the output array [default: generated]' })
          .option('out-file', { type: 'string', coerce: npyOutputFile('out-file'), describe: OUT_FILE_DESCRIPTION })
          .option('replace', { type: 'boolean', default: false, describe: 'Replace an existing array named --out (and the file --out-file)' })
          .option('offset', { type: 'number', describe: 'scale: added after the product (a * x + offset)' })
          .option('lo', { type: 'number', describe: 'clip: the lower bound [default: none]' })
          .option('hi', { type: 'number', describe: 'clip: the upper bound [default: none]' })
          .option('axis', { type: 'number', describe: 'sum, mean, min, max, std: 1 (row statistics, a new array of shape [rows])' })
          .option('ddof', { coerce: nonNegativeInteger('ddof'), describe: 'std: divide by cols - ddof [default: 0]' })
          .option('timeout-ms', { coerce: positiveInteger('timeout-ms'), describe: 'Fail the job after this long' })
          .example('$0 op frames astype float32 --out frames32', 'a float32 copy')
          .example('$0 op a add b --out c', 'c = a + b (same shape; numpy promotes the dtype)')
          .example('$0 op m mean --axis 1 --out row-means', 'the mean of each row')
          .example('$0 op m slice -100 --out last-rows', 'the last 100 rows')
          .example('$0 op huge scale 2 --out doubled --out-file /data/doubled.npy', 'write the output to a .npy file'),
      async (args) =>
        exit(
          await runAction(args, () =>
            withCluster(args, async (cluster, signal) => {
              const ref = await cluster.open(args.name);
              const bar = progressBar(args.operation, 'blocks', args.progress, args.json);
              const options: OpOptions = {
                signal,
                replace: args.replace,
                ...(args.out === undefined ? {} : { name: args.out }),
                ...(args.outFile === undefined ? {} : { file: args.outFile }),
                ...(args.timeoutMs === undefined ? {} : { timeoutMs: args.timeoutMs }),
                ...(bar.onProgress === undefined ? {} : { onProgress: bar.onProgress }),
              };
              let stored: ArrayRef;
              try {
                stored = await runOperation(cluster, ref, args as unknown as OpArgs, options);
              } finally {
                bar.stop();
              }
              printResult(args, arrayJson(stored), () => storedText(stored));
            }),
          ),
        ),
    )
    .command(
      'dot <a> <b>',
      "Sum of the products of two arrays of the same shape (numpy's dot of the flattened arrays), in float64",
      (y) =>
        y
          .positional('a', { type: 'string', demandOption: true })
          .positional('b', { type: 'string', demandOption: true })
          .option('timeout-ms', { coerce: positiveInteger('timeout-ms'), describe: 'Fail the job after this long' })
          .example('$0 dot x y', 'prints Σ x·y'),
      async (args) =>
        exit(
          await runAction(args, () =>
            withCluster(args, async (cluster, signal) => {
              const [a, b] = [await cluster.open(args.a), await cluster.open(args.b)];
              const value = await cluster.dot(a, b, { signal, ...(args.timeoutMs === undefined ? {} : { timeoutMs: args.timeoutMs }) });
              printResult(args, { a: a.name, b: b.name, value }, () => String(value));
            }),
          ),
        ),
    );
}

/** Runs `sharc op`'s operation with its own arguments, checked here first so a mistake says how to write it. */
async function runOperation(cluster: Cluster, ref: ArrayRef, args: OpArgs, options: OpOptions): Promise<ArrayRef> {
  const { operation } = args;
  const operands = args.args.map(String);
  const expect = (count: number, usage: string): void => {
    if (operands.length !== count) throw new UsageError(`sharc op NAME ${operation} takes ${usage}, got ${operands.length === 0 ? 'nothing' : operands.join(' ')}`);
  };
  const refuse = (option: string, ...allowed: string[]) => {
    if ((args as unknown as Record<string, unknown>)[option] !== undefined && !allowed.includes(operation)) {
      throw new UsageError(`--${option} is for sharc op NAME ${allowed.join(' or ')}, not ${operation}`);
    }
  };
  refuse('offset', 'scale');
  refuse('lo', 'clip');
  refuse('hi', 'clip');
  refuse('axis', ...ROW_STATISTICS);
  refuse('ddof', 'std');
  switch (operation) {
    case 'astype':
      expect(1, 'a dtype (float64, float32, int64, …, bool)');
      return ref.astype(operands[0] as never, options);
    case 'scale': {
      expect(1, 'a factor (and --offset B: a * factor + B)');
      return ref.scale(numberOf(operands[0]!, 'the factor'), { ...options, ...(args.offset === undefined ? {} : { offset: args.offset }) });
    }
    case 'clip':
      expect(0, '--lo and/or --hi');
      return ref.clip(args.lo, args.hi, options);
    case 'abs':
    case 'sqrt':
      expect(0, 'no arguments');
      return operation === 'abs' ? ref.abs(options) : ref.sqrt(options);
    case 'add':
    case 'sub':
    case 'mul':
    case 'div': {
      expect(1, 'the name of the second array');
      return cluster[operation](ref, await cluster.open(operands[0]!), options);
    }
    case 'matvec': {
      expect(1, "the vector as JSON ('[0.5, 1, 2]'), one number per column");
      let vector: unknown;
      try {
        vector = JSON.parse(operands[0]!);
      } catch {
        vector = undefined;
      }
      if (!Array.isArray(vector) || !vector.every((x) => typeof x === 'number')) throw new UsageError(`matvec's vector must be a JSON array of numbers, got ${operands[0]}`);
      return ref.matvec(vector as number[], options);
    }
    case 'slice': {
      if (operands.length < 1 || operands.length > 2) throw new UsageError('sharc op NAME slice takes START [END] (rows; negative counts from the end, as numpy)');
      const bound = (text: string | undefined, what: string) => (text === undefined || text === '' ? undefined : integerOf(text, what));
      return ref.slice(bound(operands[0], 'START'), bound(operands[1], 'END'), options);
    }
    default: {
      // A statistic of each row: numpy's axis=1 (axis 0 gives no new array: sharc reduce NAME OP --axis 0).
      expect(0, '--axis 1 (and --ddof for std)');
      if (args.axis !== 1) throw new UsageError(`sharc op NAME ${operation} makes a new array of one value per row: it needs --axis 1 (whole-array and axis-0 statistics: sharc reduce)`);
      return cluster.rowStatistic(ref, operation as (typeof ROW_STATISTICS)[number], { ...options, ...(args.ddof === undefined ? {} : { ddof: args.ddof }) });
    }
  }
}

function numberOf(text: string, what: string): number {
  const value = Number(text);
  if (text.trim() === '' || Number.isNaN(value)) throw new UsageError(`${what} must be a number, got ${JSON.stringify(text)}`);
  return value;
}

function integerOf(text: string, what: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new UsageError(`${what} must be a whole number of rows, got ${JSON.stringify(text)}`);
  return value;
}
