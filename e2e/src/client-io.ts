/**
 * How the fault client talks to the test process that started it (see client-session.ts): one
 * JSON object per line on stdout, commands from stdin, and a wait on the cluster's nodes().
 */
import { createInterface } from 'node:readline';
import type { Cluster, NodeInfo } from '@sharc/sdk';

const POLL_MS = 200;

/** Prints one event line (with the time it happened) for the test process. */
export function emit(event: string, data: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ event, at: Date.now(), ...data })}\n`);
}

/** Commands the test process sends on stdin, one per line. Resolves `waitFor(cmd)` once `cmd` arrived. */
export class Commands {
  private readonly received = new Set<string>();
  private readonly waiters = new Map<string, Array<() => void>>();

  constructor() {
    createInterface({ input: process.stdin }).on('line', (line) => {
      const command = line.trim();
      this.received.add(command);
      for (const wake of this.waiters.get(command) ?? []) wake();
      this.waiters.delete(command);
    });
  }

  has(command: string): boolean {
    return this.received.has(command);
  }

  waitFor(command: string): Promise<void> {
    if (this.received.has(command)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.set(command, [...(this.waiters.get(command) ?? []), resolve]));
  }
}

/** When a nodes() call that saw something started and returned (the truth lies in between). */
export interface Sighting {
  askedAt: number;
  answeredAt: number;
}

/** Polls nodes() until `check` holds; rejects, showing the last answer, after `timeoutMs`. */
export async function untilNodes(cluster: Cluster, what: string, check: (nodes: NodeInfo[]) => boolean, timeoutMs: number): Promise<{ nodes: NodeInfo[]; seen: Sighting }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const askedAt = Date.now();
    const nodes = await cluster.nodes();
    if (check(nodes)) return { nodes, seen: { askedAt, answeredAt: Date.now() } };
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms; nodes(): ${JSON.stringify(nodes)}`);
    await sleep(POLL_MS);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Whether `agent` is in nodes() with `state`. */
export const stateIs = (nodes: readonly NodeInfo[], agent: string, state: NodeInfo['state']) => nodes.some((n) => n.id === agent && n.state === state);
