import pino from 'pino';
import pretty from 'pino-pretty';
import type { Logger } from '@sharc/protocol';
import type { LogLevel } from './options.js';

/**
 * The services' logger: pino, JSON lines on stderr for log collectors, or pino-pretty's
 * readable lines when stderr is a terminal. Written synchronously so the last lines before an
 * exit are never lost. stdout stays free for the one "ready" line launchers wait for.
 */
export function serviceLogger(component: string, level: LogLevel): Logger {
  const options = { level, base: { component, pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
  const destination = process.stderr.isTTY
    ? pretty({ destination: 2, sync: true, colorize: true, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss.l' })
    : pino.destination({ fd: 2, sync: true });
  return adapt(pino(options, destination));
}

/** sharc's Logger takes (message, fields); pino takes (fields, message). */
function adapt(logger: pino.Logger): Logger {
  return {
    debug: (message, fields) => logger.debug(fields ?? {}, message),
    info: (message, fields) => logger.info(fields ?? {}, message),
    warn: (message, fields) => logger.warn(fields ?? {}, message),
    error: (message, fields) => logger.error(fields ?? {}, message),
  };
}
