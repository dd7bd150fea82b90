/**
 * Time limits shared by every side. A client always waits longer than the service it asks,
 * so that the service's own verdict (a typed error) reaches it before its patience ends.
 */

/** Control requests between services (allocate, seal, free, inspect). */
export const CONTROL_TIMEOUT_MS = 60_000;
/** Control requests from a client: longer than any service-side control step. */
export const CLIENT_REQUEST_TIMEOUT_MS = 2 * CONTROL_TIMEOUT_MS;
/** A job without a timeout still ends: a lost coordinator cannot hang a caller forever. */
export const DEFAULT_JOB_TIMEOUT_MS = 24 * 60 * 60 * 1000;
/**
 * The longest timeout a job (and a wait for one) takes: 24 days. Node's timers hold at most
 * 2^31 - 1 ms (24.8 days) and fire at once beyond it, which failed a job with a longer timeout
 * as soon as it started; this leaves room for the margins added to it.
 */
export const MAX_JOB_TIMEOUT_MS = 24 * DEFAULT_JOB_TIMEOUT_MS;
/** What a client adds to a job's timeout before giving up on the coordinator's reply. */
export const REPLY_MARGIN_MS = 5_000;
/** Reading a file into a partition: at least this long, more for big partitions. */
export function fileLoadTimeoutMs(bytes: number): number {
  const SLOWEST_DISK_BYTES_PER_MS = 20_000; // 20 MB/s
  return Math.max(CONTROL_TIMEOUT_MS, Math.ceil(bytes / SLOWEST_DISK_BYTES_PER_MS));
}
/**
 * How often a client renews its lease (client.heartbeat). The coordinator drops the uploads
 * and cancels the jobs of a client it has not heard from for its client window: the longer of
 * its liveness window (sharc coordinator --dead-after-ms) and NATS_OUTAGE_TOLERANCE_MS, plus a
 * heartbeat and a second to reconnect (5 s by default).
 */
export const CLIENT_HEARTBEAT_MS = 1000;

/**
 * A NATS outage shorter than this (the default liveness window) costs latency only; a client
 * cut off from NATS for longer fails its calls in flight with a retryable ConnectionError.
 */
export const NATS_OUTAGE_TOLERANCE_MS = 3000;

/**
 * A data-plane read (partition bytes from an agent's data port) that receives nothing for this
 * long fails with a retryable ConnectionError naming the agent: the agent is paused (SIGSTOP, a
 * stuck VM) or cut off, while its kernel still accepts the connection. Longer than the default
 * liveness window, so the coordinator has declared such an agent dead by then and a retried
 * task reads another copy.
 */
export const DATA_READ_IDLE_TIMEOUT_MS = 10_000;

/**
 * A reduce a client sends straight to agents (tasks.run): the agent says it is still at work
 * (job.progress on the job's client subject) at least this often while the batch runs.
 */
export const DIRECT_KEEPALIVE_MS = 1000;
/**
 * A client that hears nothing of an agent's direct batch for this long (the default liveness
 * window) gives it up and runs the job through the coordinator, which recovers from a dead or
 * paused agent.
 */
export const DIRECT_SILENCE_MS = 3000;
