import type { KV } from '@nats-io/kv';
import { ConnectionError, type Logger } from '@sharc/protocol';
import { openKvBucket, type KvConnection } from './kv-bucket.js';

/** How long a lease lasts without renewal: a standby takes over this long after the active coordinator stops. */
export const DEFAULT_LEASE_MS = 3000;
const LEASE_KEY = 'leader';

/**
 * Which coordinator of a cluster is the active one: the holder of a lease in a JetStream
 * key-value bucket (`sharc-<cluster>-leader`) whose entries expire after `leaseMs`. The holder
 * renews it every third of that; any number of standby coordinators wait, each trying to
 * create the key, and the first to succeed after the holder stopped renewing (it died, or was
 * cut off) takes over. Creating a key and updating it at a revision are atomic in JetStream,
 * so two coordinators never both hold it. One that could not renew it (NATS was away) stays
 * silent until it holds it again; one that finds another holder has lost it and must stop
 * (`onLost`).
 */
export class LeaderLease {
  private revision = 0;
  private renewer: NodeJS.Timeout | undefined;
  private lastRenewed = 0;
  private released = false;
  /** Requests waiting to learn whether the lease is still this coordinator's (see whenHeld). */
  private readonly heldWaiters = new Set<() => void>();

  private constructor(
    private readonly kv: KV,
    private readonly holder: string,
    private readonly leaseMs: number,
    private readonly logger: Logger,
  ) {}

  /**
   * Opens the cluster's lease bucket (created when missing). `replicas`: copies JetStream keeps
   * on distinct servers of a NATS cluster (see openKvBucket). @default leaseMs DEFAULT_LEASE_MS, replicas 1
   */
  static async open(
    connection: KvConnection,
    cluster: string,
    holder: string,
    logger: Logger,
    options: { leaseMs?: number; replicas?: number } = {},
  ): Promise<LeaderLease> {
    const bucket = `sharc-${cluster}-leader`;
    const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    try {
      const kv = await openKvBucket(connection, bucket, { history: 1, ttl: leaseMs, logger, ...(options.replicas === undefined ? {} : { replicas: options.replicas }) });
      return new LeaderLease(kv, holder, leaseMs, logger);
    } catch (error) {
      throw new ConnectionError(`cannot open the JetStream bucket ${bucket} for the coordinator's lease: ${(error as Error).message}`, {
        cause: error,
        retryable: true,
      });
    }
  }

  /**
   * Resolves once this coordinator holds the lease: at once when nobody does, or when the
   * holder stops renewing it. `onWaiting` is called once if another coordinator holds it.
   */
  async acquire(onWaiting: (holder: string) => void, signal?: AbortSignal): Promise<void> {
    let told = false;
    for (;;) {
      signal?.throwIfAborted();
      const sent = Date.now();
      try {
        this.revision = await this.kv.create(LEASE_KEY, this.holder);
        this.lastRenewed = sent;
        return;
      } catch {
        if (!told) {
          told = true;
          const entry = await this.kv.get(LEASE_KEY).catch(() => null);
          onWaiting(entry === null ? 'another coordinator' : entry.string());
        }
        await new Promise((resolve) => setTimeout(resolve, this.leaseMs / 6));
      }
    }
  }

  /**
   * Renews the lease every third of its life; `onLost` once another coordinator holds it, or
   * held it while this one was cut off (this one's view of the cluster may be stale then).
   *
   * A lease left unrenewed for its whole life (NATS was away) is not lost: `held` says no, so
   * the coordinator sends and writes nothing (a standby may have taken over meanwhile), and
   * renewing goes on. Once NATS answers again the key tells: still this holder's, or expired
   * with nobody having written it since (its revision is the next one after this holder's
   * last), and the lease is taken back and the coordinator carries on; a PUT by another
   * holder, or a revision that shows one came and went, and it is lost.
   */
  keep(onLost: (reason: string) => void): void {
    let renewing = false;
    let lost = false;
    /** Whether the last renewal failed without saying whether it was stored (its reply was lost). */
    let maybeStored = false;
    const lose = (reason: string) => {
      if (lost) return;
      lost = true;
      clearInterval(this.renewer);
      this.wakeWaiters();
      this.logger.error('lost the coordinator lease', { reason });
      onLost(reason);
    };
    const renew = async () => {
      if (this.released || lost || renewing) return; // (the previous renewal may still be on its way)
      renewing = true;
      const lapsed = !this.held;
      // The lease's life counts from before the request: the server's may have begun no later.
      const sent = Date.now();
      const renewed = (revision: number) => {
        this.revision = revision;
        this.lastRenewed = sent;
        maybeStored = false;
        if (lapsed) this.logger.warn('holds the coordinator lease again after it lapsed (NATS was away, or this process did not run)', { holder: this.holder });
        this.wakeWaiters();
      };
      try {
        // Bounded by the renewal interval: a request lost while NATS was away must not hold up
        // the renewals after it is back.
        renewed(await this.kv.update(LEASE_KEY, this.holder, this.revision, this.leaseMs / 3));
      } catch (error) {
        if (this.released) return;
        // A renewal that timed out here may still have been stored: ask who holds it now.
        const entry = await within(this.kv.get(LEASE_KEY), this.leaseMs / 3).catch(() => undefined);
        if (entry === undefined) {
          // NATS is away: `held` runs out by itself if it stays away; renewing goes on.
          maybeStored = true;
        } else if (entry !== null && entry.operation === 'PUT' && entry.string() === this.holder) {
          renewed(entry.revision);
        } else if (entry !== null && entry.operation === 'PUT') {
          lose(`another coordinator holds it (${entry.string()}): ${(error as Error).message}`);
        } else if (entry !== null) {
          // Only a holder deletes the key (when it stops): another one held it meanwhile.
          lose('another coordinator held it while this one was cut off, and has released it');
        } else {
          await this.takeBack(maybeStored, renewed, lose);
        }
      } finally {
        renewing = false;
      }
    };
    this.renewer = setInterval(() => void renew(), this.leaseMs / 3);
    this.renewer.unref();
  }

  /**
   * The lease expired while this coordinator was cut off and nobody holds it now: takes it
   * again, unless the key's revision shows that another coordinator wrote it in between
   * (each write takes the bucket's next sequence: this holder's next revision is its last + 1,
   * or + 2 when its last renewal may have been stored unseen). Then it is lost: that other
   * coordinator may have changed the cluster's state since.
   */
  private async takeBack(maybeStored: boolean, renewed: (revision: number) => void, lose: (reason: string) => void): Promise<void> {
    let revision: number;
    try {
      revision = await this.kv.create(LEASE_KEY, this.holder);
    } catch {
      return; // NATS away again, or another took it this instant: the next renewal finds out
    }
    const expected = this.revision + 1;
    if (revision === expected || (maybeStored && revision === expected + 1)) return renewed(revision);
    this.revision = revision;
    await this.kv.delete(LEASE_KEY, { previousSeq: revision }).catch(() => undefined);
    lose(`another coordinator held it while this one was cut off (revision ${revision} after this one's ${expected - 1})`);
  }

  /** Whether the lease is certainly still this coordinator's (renewed within its life). */
  get held(): boolean {
    return !this.released && Date.now() - this.lastRenewed < this.leaseMs;
  }

  /**
   * Whether the lease is, or becomes within `ms`, certainly this coordinator's: true at once
   * while it is held; after a lapse (NATS was away, or this process was paused past the
   * lease's life: a stall, SIGSTOP, a suspended VM) as soon as a renewal or take-back proves it
   * again; false when it is lost or not proven within `ms`. A request that arrives during a
   * lapse waits on this rather than being dropped: dropped, its sender would wait out its
   * whole timeout, since NATS is up and nothing tells it to ask again.
   */
  whenHeld(ms: number): Promise<boolean> {
    if (this.held) return Promise.resolve(true);
    if (this.released) return Promise.resolve(false);
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.heldWaiters.delete(wake);
        resolve(this.held);
      };
      const timer = setTimeout(wake, ms);
      this.heldWaiters.add(wake);
    });
  }

  private wakeWaiters(): void {
    for (const wake of [...this.heldWaiters]) wake();
  }

  /** Gives the lease up (a clean stop): a standby takes over at once instead of after it expires. */
  async release(): Promise<void> {
    this.released = true;
    clearInterval(this.renewer);
    this.wakeWaiters();
    await this.kv.delete(LEASE_KEY, { previousSeq: this.revision }).catch(() => undefined);
  }
}

/** `promise`'s value, or undefined if it takes longer than `ms`. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
