import { toErrorData } from './errors.js';
import type { Logger } from './logger.js';

/**
 * Runs a long-lived service process until SIGTERM or SIGINT, then closes it and exits (0, or 1
 * if closing failed). Every request and event handler catches its own errors; the
 * unhandled-rejection net under them logs a stray one instead of letting the process die.
 */
export function runUntilSignalled(close: () => Promise<void>, logger: Logger): void {
  const stop = () => {
    close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error('shutdown failed', { error: toErrorData(error) });
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.on('unhandledRejection', (reason) => logger.error('unhandled rejection', { error: toErrorData(reason) }));
}
