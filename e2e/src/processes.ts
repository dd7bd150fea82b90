/**
 * Child processes for the e2e backends: long-running services that print a ready line, and
 * short commands whose output we need. Both keep the tail of what the process wrote so a failure
 * message can show it.
 */
import { spawn, type ChildProcess } from 'node:child_process';

/** How much of a service's output is kept for failure messages. */
const TAIL_BYTES = 6000;
/** How long a process gets to exit after SIGTERM before it is SIGKILLed. */
const STOP_GRACE_MS = 3000;

/** A long-running process started by {@link startService}. */
export interface Service {
  /** Shown in messages: 'nats-server', 'coordinator', 'agent agent-2'. */
  readonly what: string;
  readonly child: ChildProcess;
  /** Whether the process has exited. */
  readonly exited: boolean;
  /** The last few KiB it wrote on stderr (and stdout), for failure messages. */
  tail(): string;
  /** SIGTERM, then SIGKILL after a grace period; resolves once it is gone. */
  stop(): Promise<void>;
  /** SIGKILL; resolves once it is gone. */
  kill(): Promise<void>;
}

export interface ServiceOptions {
  what: string;
  /** Printed (on stdout or stderr) once the service is up. */
  ready: RegExp;
  readyTimeoutMs: number;
  env?: NodeJS.ProcessEnv;
  /** Drop what it printed before it was ready from `tail()` (a chatty startup banner). @default false */
  forgetStartupOutput?: boolean;
}

/** Starts `command args` and resolves once it prints `ready`; rejects with its output if it exits or times out first. */
export async function startService(command: string, args: readonly string[], options: ServiceOptions): Promise<Service> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-TAIL_BYTES);
    if (process.env.SHARC_TEST_VERBOSE) process.stderr.write(`[${options.what}] ${chunk.toString()}`);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const service: Service = {
    what: options.what,
    child,
    get exited() {
      return hasExited(child);
    },
    tail: () => output,
    stop: () => stopProcess(child, 'SIGTERM'),
    kill: () => stopProcess(child, 'SIGKILL'),
  };
  try {
    await waitForOutput(child, options.ready, options.readyTimeoutMs, () => output);
  } catch (error) {
    await service.kill();
    throw new Error(`${options.what} did not start: ${(error as Error).message}\n--- ${options.what} output ---\n${output}`);
  }
  if (options.forgetStartupOutput) output = '';
  return service;
}

/** Resolves once `child` has written something matching `pattern`, checking all output kept so far. */
function waitForOutput(child: ChildProcess, pattern: RegExp, timeoutMs: number, seen: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!pattern.test(seen())) return;
      cleanup();
      resolve();
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      cleanup();
      reject(new Error(`it exited (${signal ?? `code ${code}`}) before printing ${pattern}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`it did not print ${pattern} within ${timeoutMs} ms`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout?.off('data', check);
      child.stderr?.off('data', check);
      child.off('exit', onExit);
    };
    // Listeners added after startService's own, so `seen()` already holds the new chunk.
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.once('exit', onExit);
    check();
  });
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Sends `signal` (escalating to SIGKILL after a grace period) and resolves once the process is gone. */
export function stopProcess(child: ChildProcess, signal: NodeJS.Signals, graceMs = STOP_GRACE_MS): Promise<void> {
  if (hasExited(child)) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

export interface CommandResult {
  stdout: string;
  stderr: string;
}

/**
 * Runs a short command to completion. Rejects with its stderr when it exits nonzero or runs
 * longer than `timeoutMs` (it is SIGKILLed then).
 */
export function runCommand(command: string, args: readonly string[], options: { timeoutMs: number; env?: NodeJS.ProcessEnv }): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`${command} could not run: ${error.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve({ stdout, stderr });
      const how = timedOut ? `was killed after ${options.timeoutMs} ms` : `exited with ${signal ?? `code ${code}`}`;
      reject(new Error(`\`${[command, ...args].join(' ')}\` ${how}\n${stderr.trim()}`));
    });
  });
}
