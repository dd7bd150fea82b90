import os from 'node:os';
import path from 'node:path';
import { InvalidArgumentError, checkKeys, createLogger, isSubjectToken, keysOf, type Logger } from '@sharc/protocol';

export interface AgentOptions {
  /** Cluster name: the second token of every subject. @default 'default' */
  cluster?: string;
  /** This agent's id, unique in the cluster. @default `<hostname>-<pid>` */
  name?: string;
  /** Worker threads. @default os.availableParallelism() */
  threads?: number;
  /** Memory the agent may fill with partitions. @default 80 % of the host's total memory */
  memoryBytes?: number;
  /** Address the data port listens on. @default '0.0.0.0' */
  dataHost?: string;
  /** Data port. @default 0 (any free port) */
  dataPort?: number;
  /** Address clients use to reach the data port. @default the host's first non-loopback IPv4, else 127.0.0.1 */
  advertiseHost?: string;
  /**
   * Heap limit of each worker thread, in MiB (V8's old generation). A kernel that allocates
   * past it fails its job with a KernelError saying "out of memory" and only its thread is
   * replaced: the agent, its other threads and its partitions carry on. Partitions, and typed
   * arrays a kernel allocates, live outside this heap and are not counted.
   * @default 1024
   */
  threadHeapMb?: number;
  /** Where kernel modules are cached by hash. @default `<tmpdir>/sharc-kernels` */
  kernelCacheDir?: string;
  /** How often the agent tells the coordinator it is alive. @default 1000 */
  heartbeatMs?: number;
  /** @default a JSON-lines logger on stderr */
  logger?: Logger;
  /**
   * Write each line a kernel prints to the agent's log too (info for stdout, warn for stderr),
   * besides forwarding it to the job's caller. Off for agents embedded in the caller's own
   * process, where the caller prints the lines already. @default true
   */
  logKernelOutput?: boolean;
  /**
   * Where this agent serves /metrics and /healthz (`sharc agent --http-port` serves them), told
   * to the coordinator so nodes() lists it. An unspecified host (0.0.0.0, [::]) is replaced by
   * advertiseHost. @default none
   */
  httpUrl?: string;
}

export type ResolvedAgentOptions = Required<Omit<AgentOptions, 'httpUrl'>> & Pick<AgentOptions, 'httpUrl'>;

const AGENT_OPTION_KEYS = keysOf<AgentOptions>()([
  'cluster',
  'name',
  'threads',
  'memoryBytes',
  'dataHost',
  'dataPort',
  'advertiseHost',
  'threadHeapMb',
  'kernelCacheDir',
  'heartbeatMs',
  'logger',
  'logKernelOutput',
  'httpUrl',
]);

const DEFAULT_MEMORY_FRACTION = 0.8;
const DEFAULT_HEARTBEAT_MS = 1000;
export const DEFAULT_THREAD_HEAP_MB = 1024;
/** Below this a worker thread cannot even load a kernel module. */
export const MIN_THREAD_HEAP_MB = 16;

/** Fills defaults and validates once; errors name the option. */
export function resolveAgentOptions(options: AgentOptions = {}): ResolvedAgentOptions {
  checkKeys(options, { of: 'Agent.start', keys: AGENT_OPTION_KEYS });
  const name = options.name ?? `${os.hostname()}-${process.pid}`.replace(/[^A-Za-z0-9_-]/g, '-');
  if (!isSubjectToken(name)) throw new InvalidArgumentError(`agent name ${JSON.stringify(name)} may only hold letters, digits, '-' and '_'`);
  const threads = options.threads ?? os.availableParallelism();
  if (!Number.isInteger(threads) || threads < 1 || threads > 1024) {
    throw new InvalidArgumentError(`threads must be an integer from 1 to 1024, got ${threads}`);
  }
  const memoryBytes = options.memoryBytes ?? Math.floor(os.totalmem() * DEFAULT_MEMORY_FRACTION);
  if (!Number.isSafeInteger(memoryBytes) || memoryBytes < 0) {
    throw new InvalidArgumentError(`memoryBytes must be a non-negative integer, got ${memoryBytes}`);
  }
  const dataPort = options.dataPort ?? 0;
  if (!Number.isInteger(dataPort) || dataPort < 0 || dataPort > 65535) {
    throw new InvalidArgumentError(`dataPort must be 0..65535, got ${dataPort}`);
  }
  const threadHeapMb = options.threadHeapMb ?? DEFAULT_THREAD_HEAP_MB;
  if (!Number.isInteger(threadHeapMb) || threadHeapMb < MIN_THREAD_HEAP_MB) {
    throw new InvalidArgumentError(`threadHeapMb must be an integer of at least ${MIN_THREAD_HEAP_MB} (MiB), got ${threadHeapMb}`);
  }
  const advertiseHost = options.advertiseHost ?? defaultAdvertiseHost();
  return {
    ...(options.httpUrl === undefined ? {} : { httpUrl: advertisedUrl(options.httpUrl, advertiseHost) }),
    cluster: options.cluster ?? 'default',
    name,
    threads,
    memoryBytes,
    dataHost: options.dataHost ?? '0.0.0.0',
    dataPort,
    advertiseHost,
    threadHeapMb,
    kernelCacheDir: options.kernelCacheDir ?? path.join(os.tmpdir(), 'sharc-kernels'),
    heartbeatMs: options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS,
    logger: options.logger ?? createLogger(`agent ${name}`),
    logKernelOutput: options.logKernelOutput ?? true,
  };
}

/** The URL others reach: an address listening on every interface is reached at the advertised host. */
function advertisedUrl(httpUrl: string, advertiseHost: string): string {
  let url: URL;
  try {
    url = new URL(httpUrl);
  } catch {
    throw new InvalidArgumentError(`httpUrl must be a URL such as http://10.0.0.7:9100, got ${JSON.stringify(httpUrl)}`);
  }
  if (url.hostname === '0.0.0.0' || url.hostname === '[::]') url.hostname = advertiseHost.includes(':') ? `[${advertiseHost}]` : advertiseHost;
  return url.origin;
}

function defaultAdvertiseHost(): string {
  for (const addresses of Object.values(os.networkInterfaces())) {
    for (const address of addresses ?? []) {
      if (address.family === 'IPv4' && !address.internal) return address.address;
    }
  }
  return '127.0.0.1';
}
