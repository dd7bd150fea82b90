import type { Argv } from 'yargs';
import { runAction, withCluster, type GlobalArgs } from '../context.js';
import { UsageError } from '../options.js';
import { printResult } from '../output.js';

/** Job ids are random hex (what `sharc status` shows); they end up in NATS subjects. */
const JOB_ID = /^[A-Za-z0-9_-]{1,128}$/;

/** `sharc cancel JOB`: stops a running job of any client on every agent. */
export function cancelCommand(cli: Argv<GlobalArgs>, exit: (code: number) => void): Argv<GlobalArgs> {
  return cli.command(
    'cancel <job>',
    'Cancel a running job (ids from sharc status): its threads are stopped on every agent and a map frees its output',
    (y) =>
      y
        .positional('job', { type: 'string', demandOption: true, describe: 'Job id, as sharc status shows it' })
        .example('$0 cancel 3f2a9c0d1e4b5a6978c0d1e2', 'stop that job; its client gets a CancelledError'),
    async (args) =>
      exit(
        await runAction(args, async () => {
          const jobId = args.job;
          if (!JOB_ID.test(jobId)) throw new UsageError(`${JSON.stringify(jobId)} is not a job id: sharc status lists the ids of running jobs`);
          await withCluster(args, async (cluster) => {
            await cluster.cancel(jobId);
            printResult(args, { cancelled: jobId }, () => `cancelled job ${jobId}`);
          });
        }),
      ),
  );
}
