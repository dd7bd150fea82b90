import { SingleBar, Presets } from 'cli-progress';
import { formatBytes, plural } from './output.js';

export type ProgressMode = 'auto' | 'always' | 'never';

export interface Progress {
  /** Hand to the SDK call as `onProgress`; undefined when no bar is shown. */
  onProgress: ((done: number, total: number) => void) | undefined;
  /** Removes the bar (call when the work ended, either way). */
  stop(): void;
  /** Writes a line on stderr above the bar (never into it): the bar is drawn again below. */
  log(line: string): void;
}

/** Clears the terminal line the cursor is on (where the bar is drawn). */
const CLEAR_LINE = '\r\x1b[2K';

/**
 * A progress bar on stderr for long work (put, get, map, reduce). `auto` shows it only on a
 * terminal and never with --json, so scripts and logs stay clean.
 */
export function progressBar(label: string, unit: 'bytes' | 'blocks', mode: ProgressMode, json: boolean): Progress {
  const show = mode === 'always' || (mode === 'auto' && !json && process.stderr.isTTY === true);
  if (!show) return { onProgress: undefined, stop: () => undefined, log: (line) => void process.stderr.write(`${line}\n`) };
  const bar = new SingleBar(
    {
      stream: process.stderr,
      format: `${label.padEnd(8)} [{bar}] {percentage}% | {shown} | ETA {eta_formatted}`,
      hideCursor: true,
      clearOnComplete: false,
      // Also draw when forced onto a non-terminal (--progress with a pipe, e.g. in tests).
      noTTYOutput: mode === 'always',
      notTTYSchedule: 250,
      etaBuffer: 20,
    },
    Presets.shades_classic,
  );
  const shown = (done: number, total: number) =>
    unit === 'bytes' ? `${formatBytes(done)} / ${formatBytes(total)}` : `${done}/${plural(total, 'block')}`;
  let started = false;
  return {
    onProgress: (done, total) => {
      if (!started) {
        bar.start(total, done, { shown: shown(done, total) });
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(done, { shown: shown(done, total) });
      }
    },
    stop: () => {
      if (started) bar.stop();
      started = false;
    },
    // The bar redraws itself on its own timer, on the line after the one written here.
    log: (line) => void process.stderr.write(started && process.stderr.isTTY === true ? `${CLEAR_LINE}${line}\n` : `${line}\n`),
  };
}
