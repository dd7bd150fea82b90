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
 * so two coordinators never both hold it; one that fails to renew has lost it and must stop
 * (`onLost`).
 */
export class LeaderLease {
  private revision = 0;
  private renewer: NodeJS.Timeout | undefined;
  private lastRenewed = 0;
  private released = false;

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
   * Renews the lease every third of its life; `onLost` once it is another's, or once it has
   * gone unrenewed for its whole life (cut off from NATS: a standby may hold it by now).
   */
  keep(onLost: (reason: string) => void): void {
    let renewing = false;
    const lose = (reason: string) => {
      clearInterval(this.renewer);
      this.logger.error('lost the coordinator lease', { reason });
      onLost(reason);
    };
    const renew = async () => {
      if (this.released) return;
      if (!this.held) return lose(`not renewed for ${this.leaseMs} ms`);
      if (renewing) return; // the previous renewal is still on its way
      renewing = true;
      // The lease's life counts from before the request: the server's may have begun no later.
      const sent = Date.now();
      try {
        this.revision = await this.kv.update(LEASE_KEY, this.holder, this.revision);
        this.lastRenewed = sent;
      } catch (error) {
        if (this.released) return;
        // A renewal that timed out here may still have been stored: ask who holds it now.
        const entry = await this.kv.get(LEASE_KEY).catch(() => undefined);
        if (entry === undefined) {
          // NATS is away for a moment: `held` runs out by itself if it stays away.
        } else if (entry !== null && entry.string() === this.holder) {
          this.revision = entry.revision;
          this.lastRenewed = sent;
        } else if (entry !== null && entry.operation === 'PUT') {
          lose(`another coordinator holds it: ${(error as Error).message}`);
        } else {
          // Expired while nobody else took it: take it again.
          await this.kv
            .create(LEASE_KEY, this.holder)
            .then((revision) => {
              this.revision = revision;
              this.lastRenewed = sent;
            })
            .catch((taken: unknown) => lose(`another coordinator took it: ${(taken as Error).message}`));
        }
      } finally {
        renewing = false;
      }
    };
    this.renewer = setInterval(() => void renew(), this.leaseMs / 3);
    this.renewer.unref();
  }

  /** Whether the lease is certainly still this coordinator's (renewed within its life). */
  get held(): boolean {
    return !this.released && Date.now() - this.lastRenewed < this.leaseMs;
  }

  /** Gives the lease up (a clean stop): a standby takes over at once instead of after it expires. */
  async release(): Promise<void> {
    this.released = true;
    clearInterval(this.renewer);
    await this.kv.delete(LEASE_KEY, { previousSeq: this.revision }).catch(() => undefined);
  }
}
