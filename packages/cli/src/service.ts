import { toErrorData, type Logger } from '@sharc/protocol';

/**
 * Keeps a service process (coordinator, agent) running until SIGTERM or SIGINT (or, when
 * launched with --stop-with-parent by a launcher holding its IPC channel, until that launcher
 * goes away), then closes it and exits: 0, or 1 if closing failed. Every request and event
 * handler catches its own errors; the unhandled-rejection net under them logs a stray one
 * instead of letting the process die.
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
      // The launcher's IPC channel closes when the launcher exits, however it exits. stdin is
      // not used for this: a copy of this command line run by hand (stdin at /dev/null or a
      // terminal) would stop at once or swallow the terminal's input.
      if (process.channel === undefined) {
        logger.warn('--stop-with-parent: no launcher channel (started by hand?); running until stopped');
      } else {
        process.once('disconnect', () => stop('launcher exited'));
        process.channel.unref();
      }
    }
  });
}
