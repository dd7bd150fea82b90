import type { ArrayRecord, FinishedJob, PersistedJob } from './records.js';

export type { FinishedJob, PersistedJob } from './records.js';

/** Everything a coordinator needs to pick up where the previous one stopped. */
export interface CoordinatorState {
  arrays: ArrayRecord[];
  /** Agents that were alive: a restarted coordinator waits a moment for them to rejoin. */
  agentIds: string[];
  kernels: Array<{ hash: string; code: string }>;
  jobs: PersistedJob[];
  /** Outcomes of detached jobs that ended, kept for keepResultsMs. */
  finished: FinishedJob[];
}

/**
 * Where the coordinator keeps its state: the arrays and their placement, kernel code, and the
 * jobs in flight. Writes are queued in order; `flush()` resolves once every write so far is
 * stored, and the coordinator awaits it before it answers a change to the arrays.
 */
export interface StateStore {
  /** `jetstream` survives a coordinator restart; `memory` does not. */
  readonly kind: 'jetstream' | 'memory';
  load(): Promise<CoordinatorState>;
  /**
   * The array changed: `current()` gives its record as it is then. It is called when the write
   * is made, so an array changed many times before its write is encoded once, as it is last.
   */
  saveArray(arrayId: string, current: () => ArrayRecord): void;
  deleteArray(arrayId: string): void;
  saveKernel(hash: string, code: string): void;
  saveAgent(agentId: string): void;
  deleteAgent(agentId: string): void;
  saveJob(job: PersistedJob): void;
  deleteJob(jobId: string): void;
  /** A detached job ended: its outcome is kept (until deleteFinished) for any client to read. */
  saveFinished(job: FinishedJob): void;
  deleteFinished(jobId: string): void;
  /** A point in the order of writes: `flush(mark)` reports failures of writes made after it. */
  mark(): number;
  /** Resolves once every write so far is stored; rejects if a write made after `since` failed. */
  flush(since?: number): Promise<void>;
  close(): Promise<void>;
}

/** No durable state (the embedded cluster, or `sharc coordinator --state memory`). */
export class MemoryStateStore implements StateStore {
  readonly kind = 'memory';
  load(): Promise<CoordinatorState> {
    return Promise.resolve({ arrays: [], agentIds: [], kernels: [], jobs: [], finished: [] });
  }
  saveArray(): void {}
  deleteArray(): void {}
  saveKernel(): void {}
  saveAgent(): void {}
  deleteAgent(): void {}
  saveJob(): void {}
  deleteJob(): void {}
  saveFinished(): void {}
  deleteFinished(): void {}
  mark(): number {
    return 0;
  }
  flush(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}
