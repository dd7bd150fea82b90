/**
 * A long-running e2e client seen from the test process: it prints one JSON object per line on
 * stdout (`{ "event": "...", ... }`), the last being `{ "event": "result", ... }`, and reads
 * commands from stdin. The test waits for events as they come, to strike (kill an agent, cut
 * a cable) at the right moment of a job, and tells the client when to stop.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';

/** One line the client printed. */
export type ClientEvent = { event: string; at: number } & Record<string, unknown>;

export interface ClientSessionOptions {
  /** The client is SIGKILLed, and every wait fails, after this long. */
  timeoutMs: number;
  /** Names the client in failure messages. */
  label: string;
  /** Added to failure messages (e.g. the services' log tails). */
  context?: () => string;
}

export class ClientSession {
  private readonly events: ClientEvent[] = [];
  private readonly waiters = new Set<() => void>();
  private stderr = '';
  private exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private timedOut = false;
  private readonly exit: Promise<void>;

  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly options: ClientSessionOptions,
  ) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        this.events.push(JSON.parse(line) as ClientEvent);
      } catch {
        this.stderr += `(stdout, not JSON) ${line}\n`;
      }
      this.wake();
    });
    child.stderr.on('data', (chunk: Buffer) => (this.stderr = (this.stderr + chunk.toString()).slice(-20_000)));
    child.stdin.on('error', () => undefined);
    const timer = setTimeout(() => {
      this.timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    this.exit = new Promise((resolve) =>
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        this.exited = { code, signal };
        this.wake();
        resolve();
      }),
    );
  }

  /** Spawns `command args` (e.g. `ip netns exec <ns> node fault-client.js …`). */
  static start(command: string, args: readonly string[], options: ClientSessionOptions): ClientSession {
    return new ClientSession(spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] }), options);
  }

  /** Resolves with the first event named `name` (seen already or still to come); rejects if the client ends first. */
  async next(name: string): Promise<ClientEvent> {
    for (;;) {
      const found = this.events.find((e) => e.event === name);
      if (found !== undefined) return found;
      if (this.exited !== undefined) throw this.failure(`ended before it printed a "${name}" event`);
      await new Promise<void>((resolve) => this.waiters.add(resolve));
    }
  }

  /** Every event seen so far. */
  seen(): readonly ClientEvent[] {
    return this.events;
  }

  /** Writes one command line to the client's stdin. */
  send(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }

  /** Resolves with the client's `result` event once it exited 0; rejects with its stderr otherwise. */
  async result(): Promise<ClientEvent> {
    await this.exit;
    const result = this.events.find((e) => e.event === 'result');
    if (this.exited?.code !== 0 || result === undefined) throw this.failure('failed');
    return result;
  }

  /** SIGKILLs the client (cleanup after a failed test); resolves once it is gone. */
  async kill(): Promise<void> {
    if (this.exited === undefined) this.child.kill('SIGKILL');
    await this.exit;
  }

  private wake(): void {
    for (const wake of [...this.waiters]) wake();
    this.waiters.clear();
  }

  private failure(what: string): Error {
    const how = this.timedOut
      ? `was killed after ${this.options.timeoutMs} ms`
      : this.exited === undefined
        ? 'is still running'
        : `exited with ${this.exited.signal ?? `code ${this.exited.code}`}`;
    const last = this.events.at(-1);
    return new Error(
      `${this.options.label} ${what} (it ${how})\nstderr:\n${this.stderr.trim() || '(none)'}\n` +
        `last event: ${last === undefined ? '(none)' : JSON.stringify(last).slice(0, 2000)}\n${this.options.context?.() ?? ''}`,
    );
  }
}
