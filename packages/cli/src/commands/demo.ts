import type { Argv } from 'yargs';
import { runAction, type GlobalArgs } from '../context.js';
import { runDemo } from '../demo/run-demo.js';
import { UsageError } from '../options.js';

/** `sharc demo`: the main job on an embedded cluster in this process. */
export function demoCommand(cli: Argv<GlobalArgs>, exit: (code: number) => void): Argv<GlobalArgs> {
  return cli.command(
    'demo',
    'Run the main job on an embedded cluster in this process: put, built-in and custom reduces, map, fetch; prints throughput',
    (y) =>
      y
        .option('gib', {
          describe: 'Size of the demo array in GiB',
          default: 1,
          coerce: (value: unknown) => {
            const gib = Number(value);
            if (!(gib > 0 && gib <= 1024)) throw new UsageError(`--gib must be a number above 0, got ${JSON.stringify(value)}`);
            return gib;
          },
        })
        .example('$0 demo', '1 GiB')
        .example('$0 demo --gib 4', 'a bigger array'),
    async (args) => exit(await runAction(args, () => runDemo({ gib: args.gib, progress: args.progress }))),
  );
}
