import { connect, SharcError, type Cluster } from '@sharc/sdk';
import { natsAuthOf, UsageError, type LogLevel, type NatsAuthArgs } from './options.js';
import type { Output } from './output.js';
import type { ProgressMode } from './progress.js';

/** Options every command takes (see cli.ts). */
export interface GlobalArgs extends Output, NatsAuthArgs {
  servers: string;
  cluster: string;
  logLevel: LogLevel;
  progress: ProgressMode;
}

export const EXIT_OK = 0;
/** The job or the user's input failed: message on stderr. */
export const EXIT_FAILED = 1;
/** The command line is wrong: message and usage hint on stderr. */
export const EXIT_USAGE = 2;

/**
 * Runs a command body and turns what it throws into an exit code and one clear message
 * (stack and cause only with --verbose). Returns the exit code.
 */
export async function runAction(args: Output, body: () => Promise<void>): Promise<number> {
  try {
    await body();
    return EXIT_OK;
  } catch (error) {
    process.stderr.write(`sharc: ${describe(error, args.verbose)}\n`);
    return error instanceof UsageError ? EXIT_USAGE : EXIT_FAILED;
  }
}

function describe(error: unknown, verbose: boolean): string {
  if (!(error instanceof Error)) return String(error);
  if (!verbose) return error.message;
  const code = error instanceof SharcError ? ` [${error.code}${error.retryable ? ', retryable' : ''}]` : '';
  const cause = error.cause === undefined ? '' : `\ncaused by: ${describe(error.cause, true)}`;
  return `${error.stack ?? error.message}${code}${cause}`;
}

/**
 * Connects to the cluster at --servers, runs `body`, and disconnects. Ctrl-C cancels the work
 * through the signal (the cluster stops it on every agent); a second Ctrl-C exits at once.
 */
export async function withCluster<T>(args: GlobalArgs, body: (cluster: Cluster, signal: AbortSignal) => Promise<T>): Promise<T> {
  const abort = new AbortController();
  const onInterrupt = () => {
    if (abort.signal.aborted) process.exit(EXIT_FAILED);
    process.stderr.write('\nsharc: cancelling (Ctrl-C again to quit at once)\n');
    abort.abort(new Error('interrupted'));
  };
  process.on('SIGINT', onInterrupt);
  process.on('SIGTERM', onInterrupt);
  const auth = natsAuthOf(args);
  const cluster = await connect({ servers: args.servers, cluster: args.cluster, ...(auth === undefined ? {} : { auth }) });
  try {
    return await body(cluster, abort.signal);
  } finally {
    process.off('SIGINT', onInterrupt);
    process.off('SIGTERM', onInterrupt);
    await cluster.close();
  }
}
