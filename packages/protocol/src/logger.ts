import { environmentValue } from './environment.js';

/** The few log calls sharc's services make; any pino-like logger fits. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

const LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
type Level = (typeof LEVELS)[number];

/**
 * One JSON line per event on stderr, at or above `SHARC_LOG_LEVEL` (default `warn`, so an
 * embedded cluster stays quiet inside a user's program).
 */
export function createLogger(component: string, level: string = environmentValue('SHARC_LOG_LEVEL') ?? 'warn'): Logger {
  const threshold = LEVELS.indexOf((LEVELS as readonly string[]).includes(level) ? (level as Level) : 'warn');
  const write = (at: Level) => (message: string, fields?: Record<string, unknown>) => {
    if (LEVELS.indexOf(at) < threshold) return;
    process.stderr.write(
      `${JSON.stringify({ time: new Date().toISOString(), level: at, component, message, ...fields })}\n`,
    );
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}
