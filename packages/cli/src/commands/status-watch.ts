import { setTimeout as sleep } from 'node:timers/promises';
import { toJson, type Output } from '../output.js';

/** One snapshot of the cluster, as `sharc status` prints it. */
export type StatusSnapshot = () => Promise<{ json: object; text: () => string }>;

/** Moves the cursor home and clears the screen, as `watch` does between refreshes. */
const HOME_AND_CLEAR = '\x1b[H\x1b[2J';

/**
 * `sharc status --watch`: a snapshot every `intervalSeconds` until `signal` aborts (Ctrl-C),
 * then returns (the command exits 0). On a terminal each snapshot replaces the last; otherwise
 * (a pipe, a file) snapshots are appended, each under a line with its time, so a log of them
 * reads in order; with --json, one compact JSON document per line.
 */
export async function watchStatus(snapshot: StatusSnapshot, output: Output, intervalSeconds: number, signal: AbortSignal): Promise<void> {
  const onTerminal = process.stdout.isTTY === true && !output.json;
  while (!signal.aborted) {
    const status = await snapshot();
    if (signal.aborted) return;
    const time = new Date().toISOString();
    if (output.json) process.stdout.write(`${toJson({ time, ...status.json }, 0)}\n`);
    else if (onTerminal) process.stdout.write(`${HOME_AND_CLEAR}Every ${intervalSeconds}s: sharc status    ${time}    (Ctrl-C to stop)\n\n${status.text()}\n`);
    else process.stdout.write(`--- sharc status ${time}\n${status.text()}\n\n`);
    try {
      await sleep(intervalSeconds * 1000, undefined, { signal });
    } catch {
      return; // Ctrl-C while waiting
    }
  }
}
