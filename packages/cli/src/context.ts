import os from 'node:os';
import { escapeControlsInMessage } from '@sharc/protocol';
import { connect, SharcError, type Cluster } from '@sharc/sdk';
import { cliMessage } from './error-fixes.js';
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

/** The exit code of a command stopped by `signal`: 128 + its number (130 for Ctrl-C, 143 for SIGTERM). */
export function exitCodeOfSignal(signal: NodeJS.Signals): number {
  return 128 + os.constants.signals[signal];
}

/** A command stopped by a signal (Ctrl-C, SIGTERM): what it failed with, and the exit code that says so. */
export class InterruptedError extends Error {
  override readonly name = 'InterruptedError';
  constructor(
    readonly signal: NodeJS.Signals,
    cause: unknown,
  ) {
    super(cause instanceof Error ? cliMessage(cause) : `stopped by ${signal}`, { cause });
  }
}

/**
 * Runs a command body and turns what it throws into an exit code and one clear message
 * (stack and cause only with --verbose). Returns the exit code.
 */
export async function runAction(args: Output, body: () => Promise<void>): Promise<number> {
  try {
    await body();
    return EXIT_OK;
  } catch (error) {
    // A message may quote what a user typed (an array name) with characters that move the cursor.
    process.stderr.write(`sharc: ${escapeControlsInMessage(describe(error instanceof InterruptedError ? error.cause : error, args.verbose))}\n`);
    if (error instanceof InterruptedError) return exitCodeOfSignal(error.signal);
    return error instanceof UsageError ? EXIT_USAGE : EXIT_FAILED;
  }
}

function describe(error: unknown, verbose: boolean, parentFrames?: string): string {
  if (!(error instanceof Error)) return String(error);
  const message = cliMessage(error);
  if (!verbose) return message;
  const code = error instanceof SharcError ? ` [${error.code}${error.retryable ? ', retryable' : ''}]` : '';
  // A wrapper may carry the stack of what it wraps (a kernel error carries the kernel's own
  // stack, which its cause has too): print each stack once.
  const frames = framesOf(error);
  const shown = frames === '' || frames === parentFrames ? '' : `\n${frames}`;
  const cause = error.cause === undefined ? '' : `\ncaused by: ${describe(error.cause, true, frames)}`;
  return `${error.name}: ${message}${code}${shown}${cause}`;
}

/** The "    at …" lines of an error's stack (its first lines repeat the message). */
function framesOf(error: Error): string {
  const lines = (error.stack ?? '').split('\n');
  const first = lines.findIndex((line) => /^\s+at /.test(line));
  return first === -1 ? '' : lines.slice(first).join('\n');
}

/**
 * Connects to the cluster at --servers, runs `body`, and disconnects. Ctrl-C cancels the work
 * through the signal (the cluster stops it on every agent); a second Ctrl-C exits at once.
 */
export async function withCluster<T>(
  args: GlobalArgs,
  body: (cluster: Cluster, signal: AbortSignal) => Promise<T>,
  /** `stopsOnSignal`: the body ends by itself, successfully, on Ctrl-C (sharc status --watch): no "cancelling" note. */
  options: { stopsOnSignal?: boolean } = {},
): Promise<T> {
  const abort = new AbortController();
  let interruptedBy: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interruptedBy !== undefined) process.exit(exitCodeOfSignal(signal));
    interruptedBy = signal;
    if (!options.stopsOnSignal) process.stderr.write(`\nsharc: cancelling (${signal === 'SIGINT' ? 'Ctrl-C' : signal} again to quit at once)\n`);
    abort.abort(new Error(`interrupted by ${signal}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const auth = natsAuthOf(args);
    // A command's jobs go through the coordinator: `sharc status` lists them and `sharc cancel`
    // finds them by id, and a one-shot command's latency is its own start-up, not the hops.
    const cluster = await connect({ servers: args.servers, cluster: args.cluster, directReduce: false, ...(auth === undefined ? {} : { auth }) });
    try {
      return await body(cluster, abort.signal);
    } finally {
      await cluster.close();
    }
  } catch (error) {
    throw interruptedBy === undefined ? error : new InterruptedError(interruptedBy, error);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
