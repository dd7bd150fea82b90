/**
 * What happened in the cluster, for people and their tools: the dashboard's feed of failures
 * and recoveries, the metrics' counters, the job log lines. The coordinator's parts say what
 * happened (`note`); observers listen (`on`) or read the last ones (`recent`).
 *
 * A death moves thousands of partitions at once: per-partition events of one kind and array
 * within COALESCE_MS of the previous one are summed into it (its `partitions` grows; listeners
 * hear it again with the partitions added), so the feed shows "412 partitions of m moved off
 * agent-3", not 412 lines, and costs one object per burst.
 */

/** Events that count partitions of one array (summed per burst). */
export type PartitionEventKind =
  /** A live copy now serves partitions a dead agent served. */
  | 'partitions.moved'
  /** Partitions read again from their file, or computed again from their map input. */
  | 'partitions.rebuilt'
  /** New copies made of partitions that had lost one. */
  | 'copies.remade'
  /** Partitions no agent holds and none can rebuild: lost for good. */
  | 'partitions.lost';

/** A file load (fromFile) a client follows is a job too. */
export type JobKind = 'reduce' | 'map' | 'load';
export type JobOutcome = 'ok' | 'failed' | 'cancelled' | 'refused';

export type ClusterEvent = { readonly id: number; readonly at: number } & ClusterEventBody;

export type ClusterEventBody =
  | { kind: 'agent.joined'; agent: string; host: string; threads: number; again: boolean }
  | { kind: 'agent.dead'; agent: string }
  | { kind: PartitionEventKind; array: string; name: string; partitions: number; agent?: string }
  | { kind: 'job.started'; job: string; jobKind: JobKind; kernel: string; array: string; partitions: number; client: string }
  | {
      kind: 'job.finished';
      job: string;
      jobKind: JobKind;
      /** A built-in's name ('sum', 'scale', 'dot'), or 'custom' for a kernel module's. */
      kernel: string;
      array: string;
      partitions: number;
      durationMs: number;
      outcome: JobOutcome;
      /** The error's name and message, when it failed or was refused. */
      error?: string;
    };

/** Hears each event, and again each time a summed one grows (`added` partitions; 0 for other kinds). */
export type ClusterEventListener = (event: ClusterEvent, added: number) => void;

/** Events kept for `recent()` (the dashboard's list when a page opens). */
export const RECENT_EVENTS = 200;
/** Per-partition events of one kind and array this close together are one event. */
export const COALESCE_MS = 2_000;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export class ClusterEvents {
  private readonly listeners = new Set<ClusterEventListener>();
  private readonly ring: ClusterEvent[] = [];
  /** The open burst of each partition event kind, by kind, array and agent. */
  private readonly bursts = new Map<string, Mutable<ClusterEvent & { partitions: number }>>();
  private nextId = 1;

  constructor(private readonly now: () => number = Date.now) {}

  /** Records an event (partition events: `partitions` of them, summed into an open burst). */
  note(body: ClusterEventBody): void {
    const at = this.now();
    if ('partitions' in body && isPartitionKind(body.kind)) {
      const key = `${body.kind}\u0000${(body as { array: string }).array}\u0000${(body as { agent?: string }).agent ?? ''}`;
      const open = this.bursts.get(key);
      if (open !== undefined && at - open.at <= COALESCE_MS) {
        open.partitions += body.partitions;
        open.at = at;
        this.tell(open, body.partitions);
        return;
      }
      const event = { ...body, id: this.nextId++, at };
      this.bursts.set(key, event);
      this.keep(event);
      this.tell(event, body.partitions);
      return;
    }
    const event = { ...body, id: this.nextId++, at } as ClusterEvent;
    this.keep(event);
    this.tell(event, 0);
  }

  on(listener: ClusterEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The last RECENT_EVENTS events, oldest first. */
  recent(): readonly ClusterEvent[] {
    return [...this.ring];
  }

  private keep(event: ClusterEvent): void {
    this.ring.push(event);
    if (this.ring.length > RECENT_EVENTS) {
      const dropped = this.ring.shift()!;
      for (const [key, open] of this.bursts) if (open === dropped) this.bursts.delete(key);
    }
    // Bursts long closed are forgotten (the ring keeps their event).
    if (this.bursts.size > RECENT_EVENTS) {
      const cutoff = this.now() - COALESCE_MS;
      for (const [key, open] of this.bursts) if (open.at < cutoff) this.bursts.delete(key);
    }
  }

  private tell(event: ClusterEvent, added: number): void {
    for (const listener of this.listeners) {
      try {
        listener(event, added);
      } catch {
        // An observer's failure is its own: what happened still happened, and others hear it.
      }
    }
  }
}

const PARTITION_KINDS: ReadonlySet<string> = new Set<PartitionEventKind>(['partitions.moved', 'partitions.rebuilt', 'copies.remade', 'partitions.lost']);

function isPartitionKind(kind: string): kind is PartitionEventKind {
  return PARTITION_KINDS.has(kind);
}
