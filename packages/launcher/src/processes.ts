import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';

/** How much of a process's output is kept to explain why it failed. */
const TAIL_CHARS = 4000;

export interface ServiceSpec {
  /** Shown in errors and logs: 'coordinator', 'agent-2', 'nats-server'. */
  name: string;
  command: string;
  args: readonly string[];
  /** A line matching this on stdout or stderr means the service is up. */
  ready: RegExp;
  readyTimeoutMs: number;
  /** Where its stderr goes (appended); kept in memory only when undefined. */
  logFile?: string;
  env?: NodeJS.ProcessEnv;
  /** Also copy its output to this process's stderr, each chunk prefixed with `[name]`. */
  echo?: boolean;
  /**
   * Its own process group: a Ctrl-C in the terminal then reaches only the launcher, which
   * stops the services in order instead of all at once.
   */
  detached?: boolean;
  /**
   * Open an IPC channel to the service (a Node process, e.g. a sharc service run with
   * --stop-with-parent): it closes when this process dies in any way, even SIGKILL, and the
   * service then stops. A copy of the command line run by hand has no such channel and keeps
   * running. @default false
   */
  parentChannel?: boolean;
  /** Aborting it before the service is ready stops it, and start() rejects. */
  signal?: AbortSignal;
}

/** A running child process with the tail of what it printed. */
export class ServiceProcess {
  private tailText = '';
  private stopAsked = false;
  private readonly log: WriteStream | undefined;

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
    logFile: string | undefined,
    echo: boolean,
  ) {
    this.log = logFile === undefined ? undefined : createWriteStream(logFile, { flags: 'a' });
    const keep = (chunk: Buffer) => {
      this.tailText = (this.tailText + chunk.toString()).slice(-TAIL_CHARS);
      if (echo) process.stderr.write(`[${name}] ${chunk.toString()}`);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', (chunk: Buffer) => {
      keep(chunk);
      this.log?.write(chunk);
    });
    // The parent channel tells the service when this process is gone; it must not keep this
    // process alive by itself.
    child.channel?.unref();
  }

  /** Starts the process and resolves once it printed its ready line. */
  static async start(spec: ServiceSpec): Promise<ServiceProcess> {
    const child = spawn(spec.command, [...spec.args], {
      stdio: ['ignore', 'pipe', 'pipe', ...(spec.parentChannel === true ? (['ipc'] as const) : [])],
      env: { ...process.env, ...spec.env },
      detached: spec.detached ?? false,
    });
    const service = new ServiceProcess(spec.name, child, spec.logFile, spec.echo ?? false);
    const abandon = () => void service.stop();
    spec.signal?.addEventListener('abort', abandon, { once: true });
    try {
      spec.signal?.throwIfAborted();
      await waitForLine(child, spec.ready, spec.readyTimeoutMs, spec.name);
    } catch (error) {
      await service.stop();
      throw error;
    } finally {
      spec.signal?.removeEventListener('abort', abandon);
    }
    return service;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Whether it was asked to stop (stop() or kill()): its exit is then no crash. */
  get stopRequested(): boolean {
    return this.stopAsked;
  }

  /** The last few KiB it printed, for error messages. */
  get tail(): string {
    return this.tailText;
  }

  /** SIGTERM, SIGKILL after `graceMs`; resolves once it is gone. */
  async stop(graceMs?: number): Promise<void> {
    this.stopAsked = true;
    await stopProcess(this.child, graceMs);
    this.log?.end();
  }

  /** SIGKILL, as a crash would; resolves once it is gone. */
  async kill(): Promise<void> {
    this.stopAsked = true;
    if (!this.running) return;
    const gone = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGKILL');
    await gone;
    this.log?.end();
  }
}

/** Resolves when `child` prints a line matching `pattern` on stdout or stderr. */
export function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (chunk: Buffer) => {
      seen = (seen + chunk.toString()).slice(-TAIL_CHARS);
      if (pattern.test(seen)) {
        cleanup();
        resolve();
      }
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      cleanup();
      reject(new Error(`${what} exited (${signal ?? `code ${code}`}) before it was ready:\n${seen}`));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(new Error(`${what} could not start: ${error.message}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${what} was not ready within ${timeoutMs} ms:\n${seen}`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      child.off('error', onError);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
  });
}

/** SIGTERM, then SIGKILL after a grace period; resolves once the process is gone. */
export function stopProcess(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
