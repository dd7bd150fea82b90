import {
  CLIENT_REQUEST_TIMEOUT_MS,
  InvalidArgumentError,
  checkKeys,
  environmentValue,
  isSubjectToken,
  keysOf,
  natsAuthFromEnv,
  NATS_AUTH_VARIABLES,
  type NatsAuthOptions,
} from '@sharc/protocol';
import { DEFAULT_MAX_JOBS_IN_FLIGHT } from './jobs/submission-queue.js';

export interface ConnectOptions {
  /**
   * NATS servers of a running cluster (`nats://host:4222`, comma separated or a list). Without
   * it, `SHARC_SERVERS` is used; without that, an embedded cluster starts in this process.
   */
  servers?: string | string[];
  /**
   * NATS credentials (one of user + password, token, nkeySeedFile, credsFile) and TLS
   * (`tls: { caFile, certFile, keyFile }`), for a server that requires them (infra/nats-auth.conf).
   * @default from SHARC_USER, SHARC_PASSWORD, SHARC_TOKEN, SHARC_NKEY_SEED_FILE, SHARC_CREDS_FILE,
   * SHARC_TLS_CA_FILE, SHARC_TLS_CERT_FILE, SHARC_TLS_KEY_FILE; none when they are unset
   */
  auth?: NatsAuthOptions;
  /** Cluster name, when several share one NATS. @default 'default' (or SHARC_CLUSTER) */
  cluster?: string;
  /** How long connecting may take before failing. @default 5000 */
  connectTimeoutMs?: number;
  /** How long control requests (put, open, delete…) may take. @default 120000 (longer than any service-side step) */
  requestTimeoutMs?: number;
  /**
   * Jobs (reduce, map, built-in ops, fromFile) this client keeps submitted at once; further
   * calls wait in this client, first come first served, and count toward nothing at the
   * coordinator. A waiting call's signal and timeout still apply: it leaves the queue unsent.
   * @default 64 (the coordinator's default maxRunningJobs: more would only wait in its queue)
   */
  maxJobsInFlight?: number;
  /**
   * Submit a job again, after an exponential backoff with jitter, when the coordinator refuses
   * it with a retryable BusyError (its admission is full with other clients' jobs), for as long
   * as the call's `timeoutMs` (or the default job timeout) allows; past it the call fails with
   * TimeoutError. With `false`, the call fails with the BusyError at once. @default true
   */
  retryBusy?: boolean;
  /** Embedded cluster only: how it is sized. */
  embedded?: EmbeddedOptions;
  /**
   * Reduces go straight to the agents holding the array's partitions, one request per agent,
   * without the coordinator on the way (it is asked only when that cannot answer right: a
   * partition moved, an agent silent). false: every job goes through the coordinator.
   * @default true
   */
  directReduce?: boolean;
}

/** How the cluster connect() starts in this process (without servers) is sized. */
export interface EmbeddedOptions {
  /** Agents in the process. @default 1 */
  agents?: number;
  /** Worker threads per agent. @default all cores */
  threads?: number;
  /** Memory per agent. @default 80 % of the host's memory, divided among the agents */
  memoryBytes?: number;
  /** Heap limit of each worker thread in MiB: a kernel past it fails with "out of memory". @default 1024 */
  threadHeapMb?: number;
}

/** The `SHARC_*` variables the SDK reads (a near miss of one is warned about by connect). */
export const SDK_VARIABLES: readonly string[] = ['SHARC_SERVERS', 'SHARC_CLUSTER', 'SHARC_LOG_LEVEL', ...NATS_AUTH_VARIABLES];

const CONNECT_OPTION_KEYS = keysOf<ConnectOptions>()(['servers', 'auth', 'cluster', 'connectTimeoutMs', 'requestTimeoutMs', 'maxJobsInFlight', 'retryBusy', 'embedded', 'directReduce']);
const EMBEDDED_OPTION_KEYS = keysOf<EmbeddedOptions>()(['agents', 'threads', 'memoryBytes', 'threadHeapMb']);

export interface ResolvedConnectOptions {
  servers: string[] | undefined;
  auth: NatsAuthOptions | undefined;
  cluster: string;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  maxJobsInFlight: number;
  retryBusy: boolean;
  directReduce: boolean;
  embedded: { agents: number; threads: number | undefined; memoryBytes: number | undefined; threadHeapMb: number | undefined };
}

/**
 * Fills defaults from the options, then `SHARC_*` variables (an empty one counts as unset), and
 * checks them once: an unknown key (`server` for `servers`) fails before anything starts.
 */
export function resolveConnectOptions(options: ConnectOptions = {}, env: NodeJS.ProcessEnv = process.env): ResolvedConnectOptions {
  if (typeof options === 'string' || Array.isArray(options)) {
    throw new InvalidArgumentError(`connect takes an options object: write connect({ servers: ${JSON.stringify(options)} })`);
  }
  checkKeys(options, { of: 'connect', keys: CONNECT_OPTION_KEYS });
  if (options.embedded !== undefined) checkKeys(options.embedded, { of: "connect's embedded", keys: EMBEDDED_OPTION_KEYS });
  const rawServers = options.servers ?? environmentValue('SHARC_SERVERS', env);
  const servers =
    rawServers === undefined
      ? undefined
      : (Array.isArray(rawServers) ? rawServers : rawServers.split(',')).map((s) => s.trim()).filter((s) => s.length > 0);
  if (servers !== undefined && servers.length === 0) throw new InvalidArgumentError('servers is empty: pass nats://host:port or leave it out for an embedded cluster');
  if (options.servers !== undefined && options.embedded !== undefined) {
    throw new InvalidArgumentError('embedded sizes a cluster started in this process: leave it out when you pass servers');
  }
  if (servers === undefined && options.auth !== undefined) {
    throw new InvalidArgumentError('auth is for a running cluster over NATS: pass servers too (an embedded cluster has no NATS to log in to)');
  }
  const cluster = options.cluster ?? environmentValue('SHARC_CLUSTER', env) ?? 'default';
  if (!isSubjectToken(cluster)) throw new InvalidArgumentError(`cluster ${JSON.stringify(cluster)} may only hold letters, digits, '-' and '_'`);
  const agents = options.embedded?.agents ?? 1;
  if (!Number.isInteger(agents) || agents < 1) throw new InvalidArgumentError(`embedded.agents must be a positive integer, got ${agents}`);
  return {
    servers,
    auth: servers === undefined ? undefined : (options.auth ?? natsAuthFromEnv(env)),
    cluster,
    connectTimeoutMs: positive(options.connectTimeoutMs ?? 5000, 'connectTimeoutMs'),
    requestTimeoutMs: positive(options.requestTimeoutMs ?? CLIENT_REQUEST_TIMEOUT_MS, 'requestTimeoutMs'),
    maxJobsInFlight: positiveInteger(options.maxJobsInFlight ?? DEFAULT_MAX_JOBS_IN_FLIGHT, 'maxJobsInFlight'),
    retryBusy: flag(options.retryBusy ?? true, 'retryBusy'),
    directReduce: flag(options.directReduce ?? true, 'directReduce'),
    embedded: {
      agents,
      threads: options.embedded?.threads,
      memoryBytes: options.embedded?.memoryBytes,
      threadHeapMb: options.embedded?.threadHeapMb,
    },
  };
}

function flag(value: boolean, field: string): boolean {
  if (typeof value !== 'boolean') throw new InvalidArgumentError(`${field} must be true or false, got ${String(value)}`);
  return value;
}

function positive(value: number, field: string): number {
  if (!(typeof value === 'number' && value > 0)) throw new InvalidArgumentError(`${field} must be a positive number, got ${value}`);
  return value;
}

function positiveInteger(value: number, field: string): number {
  if (!(Number.isInteger(value) && value >= 1)) throw new InvalidArgumentError(`${field} must be a positive integer, got ${JSON.stringify(value)}`);
  return value;
}

