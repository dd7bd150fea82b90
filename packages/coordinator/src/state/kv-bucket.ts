import { Bucket, Kvm, type KV } from '@nats-io/kv';
import { InvalidArgumentError, type Logger } from '@sharc/protocol';

/**
 * How long opening a bucket retries while JetStream does not answer: in a NATS cluster, a
 * server that just restarted or a stream electing its leader answers after a few seconds.
 */
const OPEN_RETRY_MS = 30_000;
const OPEN_RETRY_PAUSE_MS = 500;

/** JetStream keeps at most this many copies of a stream. */
export const MAX_STATE_REPLICAS = 5;

export type KvConnection = ConstructorParameters<typeof Kvm>[0];

export interface KvBucketOptions {
  /** Values kept per key. */
  history: number;
  /** Entries expire this long after their last write. @default never */
  ttl?: number;
  /**
   * Copies JetStream keeps, each on another nats-server of a NATS cluster: 3 survives the loss
   * of any one server of three. At most the number of servers. @default 1
   */
  replicas?: number;
  logger: Logger;
}

/** Checks a replica count for the coordinator's buckets (sharc coordinator --state-replicas). */
export function checkStateReplicas(replicas: number): number {
  if (!(Number.isInteger(replicas) && replicas >= 1 && replicas <= MAX_STATE_REPLICAS)) {
    throw new InvalidArgumentError(`state replicas must be an integer from 1 to ${MAX_STATE_REPLICAS} (JetStream's limit), got ${replicas}`);
  }
  return replicas;
}

/**
 * Opens a key-value bucket, creating it when missing. A bucket that exists with another number
 * of replicas is changed to `replicas` (the NATS cluster grew, or the setting changed): the
 * state must be kept as safely as asked, not as it once was.
 */
export async function openKvBucket(connection: KvConnection, bucket: string, options: KvBucketOptions): Promise<KV> {
  const deadline = Date.now() + OPEN_RETRY_MS;
  for (;;) {
    try {
      return await openOnce(connection, bucket, options);
    } catch (error) {
      const passing = (error as Error).name === 'TimeoutError' || /temporarily unavailable/i.test((error as Error).message);
      if (!passing || Date.now() > deadline) throw error;
      options.logger.warn('JetStream does not answer yet; trying again', { bucket, error: (error as Error).message });
      await new Promise((resolve) => setTimeout(resolve, OPEN_RETRY_PAUSE_MS));
    }
  }
}

async function openOnce(connection: KvConnection, bucket: string, options: KvBucketOptions): Promise<KV> {
  const replicas = checkStateReplicas(options.replicas ?? 1);
  // JetStream's words for too few servers: "replicas > 1 not supported in non-clustered mode", "insufficient resources".
  const hint = (error: unknown) =>
    replicas > 1 && /replicas|insufficient resources/i.test((error as Error).message)
      ? new Error(`${(error as Error).message} (${replicas} replicas need a NATS cluster of at least ${replicas} servers with JetStream)`, { cause: error })
      : error;
  try {
    const kv = await new Kvm(connection).create(bucket, { history: options.history, replicas, ...(options.ttl === undefined ? {} : { ttl: options.ttl }) });
    const status = await kv.status();
    if (status.replicas !== replicas && kv instanceof Bucket) {
      const info = await kv.jsm.streams.info(kv.stream);
      await kv.jsm.streams.update(kv.stream, { ...info.config, num_replicas: replicas });
      options.logger.info('changed the replicas of a state bucket', { bucket, from: status.replicas, to: replicas });
      await untilReplicasCurrent(kv, replicas);
    }
    return kv;
  } catch (error) {
    throw hint(error);
  }
}

/** How often a stream's replicas are looked at while new ones catch up. */
const REPLICA_POLL_MS = 250;

/**
 * Resolves once every replica of the bucket's stream has caught up with its leader. Reads of a
 * bucket may be served by any replica (direct get): one just added holds nothing yet, and a
 * coordinator that loaded its state from it would start empty and tell every agent to free
 * all it holds (the 3-server test caught it).
 */
async function untilReplicasCurrent(kv: Bucket, replicas: number): Promise<void> {
  const deadline = Date.now() + OPEN_RETRY_MS;
  for (;;) {
    const cluster = (await kv.jsm.streams.info(kv.stream)).cluster;
    const others = cluster?.replicas ?? [];
    if (cluster?.leader !== undefined && others.length === replicas - 1 && others.every((replica) => replica.current && !replica.offline)) return;
    if (Date.now() > deadline) throw new Error(`the ${replicas} replicas of ${kv.stream} did not catch up within ${OPEN_RETRY_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, REPLICA_POLL_MS));
  }
}
