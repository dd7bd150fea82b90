import { toErrorData, type Logger } from '@sharc/protocol';

/**
 * Keeps a service process (coordinator, agent) running until SIGTERM or SIGINT (or, when
 * launched with --stop-with-parent, until its launcher goes away), then closes it and exits: 0, or 1 if
 * closing failed. Every request and event handler catches its own errors; the
 * unhandled-rejection net under them logs a stray one instead of letting the process die.
 */
export function runUntilStopped(close: () => Promise<void>, logger: Logger, stopWithParent: boolean): Promise<never> {
  return new Promise<never>(() => {
    let stopping = false;
    const stop = (why: string) => {
      if (stopping) return;
      stopping = true;
      logger.info('stopping', { why });
      close().then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error('shutdown failed', { error: toErrorData(error) });
          process.exit(1);
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    process.on('unhandledRejection', (reason) => logger.error('unhandled rejection', { error: toErrorData(reason) }));
    if (stopWithParent) {
      // The launcher holds the other end of stdin: it closes when the launcher exits, however it exits.
      process.stdin.on('end', () => stop('launcher exited'));
      process.stdin.on('error', () => stop('launcher exited'));
      process.stdin.resume();
    }
  });
}
