import path from 'node:path';
import { startNatsServer, type NatsServer } from './nats-server.js';
import { ServiceProcess } from './processes.js';
import { supervise, type RestartOptions, type Supervision } from './supervise.js';

/** Starting a service on a loaded 2-core machine can take a few seconds (Node + worker threads). */
const READY_TIMEOUT_MS = 30_000;

export interface LocalClusterOptions {
  /** The sharc command's script (packages/cli/dist/src/bin.js); run with this Node. */
  sharcBin: string;
  /** Agent processes. @default 2 */
  agents?: number;
  /** Worker threads per agent. @default the agent's default (all cores) */
  threads?: number;
  /** Memory per agent, e.g. '2GiB'. @default the agent's default */
  memory?: string;
  /** Cluster name. @default 'default' */
  cluster?: string;
  /** NATS port. @default a free one */
  port?: number;
  /**
   * NATS servers to use (e.g. a NATS cluster's, see startNatsCluster: `servers`, comma
   * separated) instead of starting a nats-server; port, dataDir, natsConfig and natsEnv then do
   * not apply. @default start one
   */
  servers?: string;
  /** NATS config, JetStream store and, without logDir, nothing else. @default a temporary dir */
  dataDir?: string;
  /** Each service's stderr goes to `<logDir>/<name>.log`. @default kept in memory only */
  logDir?: string;
  /** Extra Node flags for agent processes (e.g. --expose-gc). */
  agentNodeArgs?: readonly string[];
  /** Extra `sharc coordinator` flags (e.g. --dead-after-ms 1000, or its credentials: --user coordinator). */
  coordinatorArgs?: readonly string[];
  /** Extra `sharc agent` flags (e.g. its credentials: --nkey-seed-file FILE). */
  agentArgs?: readonly string[];
  /** More nats-server configuration (auth, TLS): see NatsServerOptions.extraConfig. */
  natsConfig?: string;
  /** Environment for nats-server only (passwords its config reads as `$VARIABLE`s). */
  natsEnv?: NodeJS.ProcessEnv;
  /** Put every service in its own process group (see ServiceSpec.detached). @default false */
  detached?: boolean;
  /** Environment for the services. @default SHARC_LOG_LEVEL=warn unless set */
  env?: NodeJS.ProcessEnv;
  /** Copy every service's output to this process's stderr (debugging tests). @default false */
  echo?: boolean;
  /** Aborting it during startup stops what was started, and startLocalCluster rejects. */
  signal?: AbortSignal;
  /**
   * Start a service again when it exits on its own (see SupervisedService.essential: nats-server
   * and the coordinator after any exit, an agent after a crash), until it crashed too often.
   * @default off: a service that exits stays down
   */
  restart?: RestartOptions;
}

export interface LocalCluster {
  /** The NATS server(s) its services use, comma separated. */
  url: string;
  /** The nats-server it started; undefined when given `servers`. */
  nats: NatsServer | undefined;
  readonly coordinator: ServiceProcess;
  /** Agent processes by name (agent-1, agent-2, …). */
  agents: Map<string, ServiceProcess>;
  /** SIGKILLs the coordinator and starts a new one. */
  restartCoordinator(): Promise<ServiceProcess>;
  /**
   * Starts another coordinator, which waits as a standby while the active one holds the
   * cluster's lease and takes over when it stops. Stopped with the cluster.
   */
  addStandbyCoordinator(name: string): Promise<ServiceProcess>;
  /** Starts one more agent named `name`. */
  addAgent(name: string): Promise<ServiceProcess>;
  /** Stops agents, then the coordinator, then nats-server; resolves when all are gone. */
  stop(): Promise<void>;
}

/**
 * A whole cluster on this machine, one process per role as on separate hosts: nats-server
 * with JetStream, a coordinator and N agents. Each is started once the previous is ready; an
 * agent is ready once it has registered with the coordinator.
 */
export async function startLocalCluster(options: LocalClusterOptions): Promise<LocalCluster> {
  const logFile = (name: string) => (options.logDir === undefined ? {} : { logFile: path.join(options.logDir, `${name}.log`) });
  const detached = options.detached ?? false;
  if (options.servers !== undefined) {
    const misplaced = (['port', 'dataDir', 'natsConfig', 'natsEnv'] as const).filter((key) => options[key] !== undefined);
    if (misplaced.length > 0) throw new TypeError(`${misplaced.join(', ')} configure the nats-server startLocalCluster starts: not with servers`);
  }
  const nats =
    options.servers !== undefined
      ? undefined
      : await startNatsServer({
          ...(options.port === undefined ? {} : { port: options.port }),
          ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
          ...logFile('nats-server'),
          ...(options.natsConfig === undefined ? {} : { extraConfig: options.natsConfig }),
          ...(options.natsEnv === undefined ? {} : { env: options.natsEnv }),
          detached,
        });
  const echo = options.echo ?? false;
  // --stop-with-parent: a service stops when this process (the other end of its IPC channel) is gone.
  const url = options.servers ?? nats!.url;
  const common = ['--servers', url, ...(options.cluster === undefined ? [] : ['--cluster', options.cluster]), '--stop-with-parent'];
  // An empty SHARC_LOG_LEVEL counts as unset, as everywhere in sharc (protocol's environmentValue).
  const env = { SHARC_LOG_LEVEL: process.env.SHARC_LOG_LEVEL || 'warn', ...options.env };
  const startService = (name: string, args: readonly string[], ready: RegExp, nodeArgs: readonly string[] = [], signal?: AbortSignal) =>
    ServiceProcess.start({
      ...(signal === undefined ? {} : { signal }),
      name,
      command: process.execPath,
      args: [...nodeArgs, options.sharcBin, ...args],
      ready,
      readyTimeoutMs: READY_TIMEOUT_MS,
      env,
      detached,
      echo,
      parentChannel: true,
      ...logFile(name),
    });
  const startCoordinator = (signal?: AbortSignal) =>
    startService('coordinator', ['coordinator', ...common, ...(options.coordinatorArgs ?? [])], /sharc coordinator ready/, [], signal);
  const agents = new Map<string, ServiceProcess>();
  const standbys: ServiceProcess[] = [];
  let coordinator: ServiceProcess | undefined;
  const supervisions: Supervision[] = [];
  const restart = options.restart;
  if (restart !== undefined && nats !== undefined) {
    supervisions.push(supervise({ name: 'nats-server', essential: true, start: (signal) => nats.restart(signal) }, nats.process, restart));
  }
  const superviseCoordinator = (started: ServiceProcess) => {
    if (restart === undefined) return;
    const startAgain = async (signal: AbortSignal) => (coordinator = await startCoordinator(signal));
    supervisions.push(supervise({ name: 'coordinator', essential: true, start: startAgain }, started, restart));
  };
  const stop = async () => {
    await Promise.all(supervisions.map((supervision) => supervision.stop()));
    await Promise.all([...agents.values()].map((agent) => agent.stop()));
    await Promise.all(standbys.map((standby) => standby.stop()));
    await coordinator?.stop();
    await nats?.stop();
  };
  const startAgent = async (name: string, signal?: AbortSignal) => {
    const args = ['agent', ...common, '--name', name, '--advertise-host', '127.0.0.1', '--data-host', '127.0.0.1'];
    if (options.threads !== undefined) args.push('--threads', String(options.threads));
    if (options.memory !== undefined) args.push('--memory', options.memory);
    args.push(...(options.agentArgs ?? []));
    const agent = await startService(name, args, /sharc agent ready/, options.agentNodeArgs, signal);
    agents.set(name, agent);
    return agent;
  };
  const addAgent = async (name: string) => {
    const agent = await startAgent(name);
    if (restart !== undefined) supervisions.push(supervise({ name, essential: false, start: (signal) => startAgent(name, signal) }, agent, restart));
    return agent;
  };
  const checkNotAborted = () => {
    if (options.signal?.aborted) throw new Error('startup was interrupted', { cause: options.signal.reason });
  };
  try {
    checkNotAborted();
    coordinator = await startCoordinator();
    superviseCoordinator(coordinator);
    // One at a time: on a small machine, agents starting together slow each other past the timeout.
    for (let i = 1; i <= (options.agents ?? 2); i++) {
      checkNotAborted();
      await addAgent(`agent-${i}`);
    }
    checkNotAborted();
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url,
    nats,
    get coordinator() {
      return coordinator!;
    },
    agents,
    addAgent,
    async addStandbyCoordinator(name) {
      const standby = await startService(name, ['coordinator', ...common, ...(options.coordinatorArgs ?? [])], /sharc coordinator (standby|ready)/);
      standbys.push(standby);
      return standby;
    },
    async restartCoordinator() {
      await coordinator?.kill();
      coordinator = await startCoordinator();
      superviseCoordinator(coordinator);
      return coordinator;
    },
    stop,
  };
}
