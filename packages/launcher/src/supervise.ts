import type { ServiceProcess } from './processes.js';

/** A service that crashed this often within the window is left down: it would only crash again. */
export const DEFAULT_MAX_CRASHES = 5;
export const DEFAULT_CRASH_WINDOW_MS = 60_000;
/** Pause before trying again when a restart itself failed (the port still held, NATS still away). */
const RETRY_DELAY_MS = 1000;

/** What a local cluster does when one of its services exits without being asked to. */
export interface RestartOptions {
  /** Told of every such exit and what was done about it. */
  onEvent: (event: ServiceEvent) => void;
  /** A service that exits this many times within `crashWindowMs` is not restarted again. @default 5 */
  maxCrashes?: number;
  /** @default 60000 */
  crashWindowMs?: number;
}

export type ServiceEvent =
  | { kind: 'restarted'; service: string; exit: string; pid: number | undefined }
  /** An agent that exited with code 0 was stopped on purpose (SIGTERM, Ctrl-C): it stays down. */
  | { kind: 'stopped'; service: string; exit: string }
  /**
   * It crashed `crashes` times within `windowMs`, or could not be started again: it stays down.
   * `essential`: nats-server or the coordinator, without which the cluster cannot work.
   */
  | { kind: 'gave-up'; service: string; exit: string; crashes: number; windowMs: number; essential: boolean };

export interface SupervisedService {
  name: string;
  /**
   * nats-server and the coordinator are restarted after any exit: the cluster cannot work
   * without them, and their state is on disk (JetStream). An agent is restarted after a crash
   * (a signal, or a non-zero exit code); one that exits with code 0 was stopped on purpose,
   * e.g. by a user who runs it again by hand, and a restarted copy would take its name.
   */
  essential: boolean;
  /** Starts it again; resolves once it is ready (rejects, having stopped it, if `signal` aborts first). */
  start: (signal: AbortSignal) => Promise<ServiceProcess>;
}

export interface Supervision {
  /** No more restarts; a restart under way is abandoned (what it started, stopped). */
  stop(): Promise<void>;
}

/**
 * Watches `service` and, when it exits on its own, starts it again (and watches the new one),
 * until it crashed `maxCrashes` times within `crashWindowMs`. Exits asked for
 * (`ServiceProcess.stop`/`kill`) are not crashes.
 */
export function supervise(spec: SupervisedService, service: ServiceProcess, options: RestartOptions): Supervision {
  const stopped = new AbortController();
  const stopping = () => stopped.signal.aborted;
  let reviving: Promise<void> = Promise.resolve();
  const maxCrashes = options.maxCrashes ?? DEFAULT_MAX_CRASHES;
  const windowMs = options.crashWindowMs ?? DEFAULT_CRASH_WINDOW_MS;
  const crashes: number[] = [];
  const crashed = () => {
    const now = Date.now();
    crashes.push(now);
    while (crashes.length > 0 && crashes[0]! <= now - windowMs) crashes.shift();
    return crashes.length >= maxCrashes;
  };
  const revive = async (exit: string) => {
    for (;;) {
      if (crashed()) {
        options.onEvent({ kind: 'gave-up', service: spec.name, exit, crashes: crashes.length, windowMs, essential: spec.essential });
        return;
      }
      try {
        const restarted = await spec.start(stopped.signal);
        if (stopping()) return void (await restarted.stop());
        options.onEvent({ kind: 'restarted', service: spec.name, exit, pid: restarted.pid });
        watch(restarted);
        return;
      } catch (error) {
        if (stopping()) return;
        exit = `could not be restarted: ${(error as Error).message.split('\n')[0]}`;
        await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS));
        if (stopping()) return;
      }
    }
  };
  const watch = (current: ServiceProcess) => {
    current.child.once('exit', (code, signal) => {
      if (stopping() || current.stopRequested) return;
      const exit = signal ?? `code ${code}`;
      if (!spec.essential && code === 0) {
        options.onEvent({ kind: 'stopped', service: spec.name, exit });
        return;
      }
      reviving = revive(exit);
    });
  };
  watch(service);
  return {
    async stop() {
      stopped.abort();
      await reviving;
    },
  };
}
