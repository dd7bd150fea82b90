import { CancelledError } from '@sharc/protocol';

export type TaskOutcomeKind = 'ok' | 'failed' | 'cancelled';

/**
 * What an agent has done since it started, counted where it happens with a plain increment
 * (no allocation, no lookup: the hot path stays as it was). Its metrics read these when scraped.
 */
export class AgentTally {
  /** Partition tasks that ended (coordinator jobs and direct reduces), by outcome. */
  readonly tasks: Record<TaskOutcomeKind, number> = { ok: 0, failed: 0, cancelled: 0 };
  /** Blocks of rows the tasks that succeeded ran a kernel over. */
  blocks = 0;
  /** Partition bytes this agent sent on the data plane (reads served, in-process reads too). */
  dataBytesSent = 0;
  /** Partition bytes this agent received on the data plane (writes, copies it fetched from other agents). */
  dataBytesReceived = 0;

  taskSucceeded(blocks: number): void {
    this.tasks.ok++;
    this.blocks += blocks;
  }

  taskFailed(error: unknown): void {
    if (error instanceof CancelledError) this.tasks.cancelled++;
    else this.tasks.failed++;
  }
}
