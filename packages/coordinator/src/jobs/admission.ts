import {
  BusyError,
  CancelledError,
  InsufficientMemoryError,
  formatBytes,
  reservedBytesOf,
  type ArrayMeta,
} from '@sharc/protocol';
import type { AgentRegistry } from '../registry/agent-registry.js';

/** A job's place in admission: waiting in the queue, or holding one of the running slots. */
export type AdmissionState = 'queued' | 'running';

export interface AdmissionTicket {
  readonly state: AdmissionState;
  /** Resolves when the job may start; rejects with CancelledError if it left the queue first. */
  readonly admitted: Promise<void>;
  /** Takes a queued job out of the queue (its `admitted` rejects); a running one keeps its slot. */
  withdraw(): void;
  /** Gives the job's slot back (or its place in the queue); the next queued job starts. Idempotent. */
  release(): void;
}

/**
 * Admission of jobs: at most `maxRunning` run at once, the next `maxQueued` wait in a FIFO
 * queue, and a submission beyond that is refused with a retryable BusyError before anything
 * is registered or allocated. Jobs that wait hold nothing on the agents (a map's output is
 * allocated when its job starts), so a flood of submissions costs the coordinator one small
 * record each, never agent memory.
 */
export class JobAdmission {
  private running = 0;
  private readonly queue: Array<{ jobId: string; start: () => void }> = [];
  private readonly states = new Map<string, AdmissionState>();

  constructor(
    readonly maxRunning: number,
    readonly maxQueued: number,
  ) {}

  get runningCount(): number {
    return this.running;
  }

  get queuedCount(): number {
    return this.queue.length;
  }

  stateOf(jobId: string): AdmissionState {
    return this.states.get(jobId) ?? 'running';
  }

  /** Admits the job now or queues it; throws BusyError when the queue is full. */
  enter(jobId: string): AdmissionTicket {
    if (this.running >= this.maxRunning && this.queue.length >= this.maxQueued) {
      throw new BusyError(
        `the coordinator is running ${this.running} jobs and ${this.queue.length} more are queued, its limits ` +
          '(--max-running-jobs, --max-queued-jobs): retry later with backoff, wait for jobs to finish, or raise the limits',
        { retryable: true, details: { running: this.running, queued: this.queue.length, maxRunning: this.maxRunning, maxQueued: this.maxQueued } },
      );
    }
    let state: AdmissionState | 'gone';
    let start!: () => void;
    let refuse!: (error: Error) => void;
    const admitted = new Promise<void>((resolve, reject) => {
      start = resolve;
      refuse = reject;
    });
    admitted.catch(() => undefined);
    const entry = {
      jobId,
      start: () => {
        state = 'running';
        this.states.delete(jobId);
        this.running++;
        start();
      },
    };
    const leaveQueue = () => {
      const at = this.queue.indexOf(entry);
      if (at >= 0) this.queue.splice(at, 1);
      this.states.delete(jobId);
      state = 'gone';
      refuse(new CancelledError(`job ${jobId} left the queue before it started`, { details: { jobId } }));
    };
    if (this.running < this.maxRunning) {
      entry.start();
    } else {
      state = 'queued';
      this.states.set(jobId, 'queued');
      this.queue.push(entry);
    }
    return {
      get state() {
        return state === 'queued' ? 'queued' : 'running';
      },
      admitted,
      withdraw: () => {
        if (state === 'queued') leaveQueue();
      },
      release: () => {
        if (state === 'queued') leaveQueue();
        if (state !== 'running') return;
        state = 'gone';
        this.running--;
        this.startNext();
      },
    };
  }

  private startNext(): void {
    while (this.running < this.maxRunning) {
      const next = this.queue.shift();
      if (next === undefined) return;
      next.start();
    }
  }
}

/**
 * Refuses, before anything is allocated, a map output that does not fit: each agent must have
 * room for the output partitions placed on it (they sit next to their input partitions).
 */
export function checkOutputFits(output: ArrayMeta, agents: AgentRegistry, fileBackedInput = false): void {
  const needed = new Map<string, number>();
  for (const p of output.partitions) needed.set(p.agentId, (needed.get(p.agentId) ?? 0) + reservedBytesOf(p.byteLength));
  for (const [agentId, bytes] of needed) {
    const free = agents.freeBytes(agentId);
    if (bytes > free) {
      throw new InsufficientMemoryError(
        `the map's output '${output.name}' needs ${formatBytes(bytes)} on agent ${agentId}, next to its input partitions, ` +
          `but it has ${formatBytes(Math.max(0, free))} free: delete arrays you no longer need, use a smaller output dtype or fewer cols, ` +
          `or give the agents more --memory${fileBackedInput ? "; or write it to a .npy file on the agents' disk: map(…, { file: 'out.npy' }) (--out-file out.npy)" : ''}`,
        { details: { agentId, neededBytes: bytes, freeBytes: Math.max(0, free) } },
      );
    }
  }
}
