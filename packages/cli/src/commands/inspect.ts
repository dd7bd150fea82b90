import type { Argv } from 'yargs';
import type { Cluster } from '@sharc/sdk';
import { runAction, withCluster, type GlobalArgs } from '../context.js';
import { UsageError, positiveSeconds } from '../options.js';
import { agentsTable, arrayJson, arraysTable, jobsTable, printResult } from '../output.js';
import { watchStatus } from './status-watch.js';

/** What `sharc status` and `sharc up` show: agents, arrays and running jobs. */
export async function clusterStatus(cluster: Cluster) {
  const [agents, arrays, jobs] = await Promise.all([cluster.nodes(), cluster.list(), cluster.runningJobs()]);
  return {
    json: { agents, arrays: arrays.map(arrayJson), jobs },
    text: () => [agentsTable(agents), arraysTable(arrays), jobsTable(jobs)].join('\n\n'),
  };
}

/** How often `sharc status --watch` refreshes without --interval. */
const DEFAULT_WATCH_SECONDS = 2;

/** `sharc status` and `sharc ls`. */
export function inspectCommands(cli: Argv<GlobalArgs>, exit: (code: number) => void): Argv<GlobalArgs> {
  return cli
    .command(
      'status',
      'Show agents (host, threads, memory used/limit, partitions, load), arrays and running jobs',
      (y) =>
        y
          .option('watch', { type: 'boolean', default: false, describe: 'Refresh until Ctrl-C: in place on a terminal, one snapshot appended per interval otherwise' })
          .option('interval', { type: 'string', coerce: positiveSeconds('interval'), describe: 'With --watch: seconds between refreshes [default: 2]' })
          .example('$0 status', 'the cluster at nats://127.0.0.1:4222')
          .example('$0 status --watch', 'refreshed every 2 s, like watch sharc status')
          .example('$0 status --servers nats://10.0.0.1:4222 --json', 'for scripts'),
      async (args) =>
        exit(
          await runAction(args, async () => {
            if (args.interval !== undefined && !args.watch) throw new UsageError('--interval sets how often --watch refreshes: add --watch (sharc status --watch --interval 5)');
            await withCluster(
              args,
              async (cluster, signal) => {
                if (args.watch) return watchStatus(() => clusterStatus(cluster), args, args.interval ?? DEFAULT_WATCH_SECONDS, signal);
                const status = await clusterStatus(cluster);
                printResult(args, status.json, status.text);
              },
              { stopsOnSignal: args.watch },
            );
          }),
        ),
    )
    .command(
      'ls',
      'List stored arrays',
      (y) =>
        y
          .option('all', {
            type: 'boolean',
            default: false,
            describe: 'Also list arrays being written (STATE pending: uploads in progress and their client, outputs of running maps); sharc rm NAME drops an upload',
          })
          .example('$0 ls --json', 'names, dtypes, shapes and sizes as JSON')
          .example('$0 ls --all', 'and arrays being written (pending), with the client writing each'),
      async (args) =>
        exit(
          await runAction(args, () =>
            withCluster(args, async (cluster) => {
              const arrays = await cluster.list({ all: args.all });
              printResult(args, arrays.map(arrayJson), () => arraysTable(arrays));
            }),
          ),
        ),
    );
}
