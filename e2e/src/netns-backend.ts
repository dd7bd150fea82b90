/**
 * The network-namespace backend: a real multi-host sharc cluster on one Linux machine. Each host
 * is a network namespace on a private bridge (see netns-topology.ts):
 *
 *   host 1        nats-server (JetStream) + coordinator
 *   hosts 2..N+1  one agent each
 *   host N+2      the test client
 *
 * Every process that uses a 10.200.x.x address, the test client included, runs under
 * `ip netns exec`: this process never connects to the LAN itself.
 */
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { natsConfigText, natsServerBinary, ServiceProcess } from '@sharc/launcher';
import { environmentValue } from '@sharc/protocol';
import type { ClusterBackend } from './backend.js';
import { cleanUpOnExit } from './exit-cleanup.js';
import { ClientSession } from './client-session.js';
import { createTopology, type NetnsHost, type NetnsTopology } from './netns-topology.js';
import { runCommand } from './processes.js';

/** The `sharc` command (packages/cli), as built by `tsc --build`. */
const SHARC_BIN = fileURLToPath(new URL('../../../packages/cli/dist/src/bin.js', import.meta.url));
/** The program `runClient` runs (this folder's client.ts, built). */
const CLIENT_PROGRAM = fileURLToPath(new URL('./client.js', import.meta.url));
/** The program `startFaultClient` runs (fault-client.ts, built). */
const FAULT_CLIENT_PROGRAM = fileURLToPath(new URL('./fault-client.js', import.meta.url));
const NATS_PORT = 4222;
/** Tail of each service's output appended to a failed client run. */
const SERVICE_TAIL_CHARS = 1500;
/** How long a service gets to exit after SIGTERM before it is SIGKILLed. */
const STOP_GRACE_MS = 3000;
const IP_TIMEOUT_MS = 10_000;

export interface NetnsClusterOptions {
  /** Agent hosts, one agent each. @default 3 */
  agents?: number;
  /** Worker threads per agent. @default 1 */
  threads?: number;
  /** Memory each agent may fill. @default '256MiB' */
  memory?: string;
  /** How long each service may take to print its ready line. @default 20000 */
  readyTimeoutMs?: number;
  /** How long one `runClient` may run before it is killed. @default 60000 */
  clientTimeoutMs?: number;
  /** nats-server binary. @default the nats-server on PATH */
  natsServer?: string;
}

export interface NetnsCluster extends ClusterBackend {
  readonly topology: NetnsTopology;
  /** The host (namespace, address) an agent runs on. */
  hostOf(agentName: string): NetnsHost;
  /** Unplugs an agent host's cable at the switch: its processes keep running but nothing reaches them. */
  partitionHost(agentName: string): Promise<void>;
  /** Plugs the cable back in. */
  healHost(agentName: string): Promise<void>;
  /** `ip link set eth0 down|up` inside the agent's own namespace: the host loses (or gets back) its network. */
  setAgentLink(agentName: string, up: boolean): Promise<void>;
  /** Starts the agent again, with the same name and flags, after it was killed; resolves once it is ready. */
  restartAgent(agentName: string): Promise<void>;
  /** SIGKILLs the coordinator and starts a new one on its host; resolves once that one is ready. */
  restartCoordinator(): Promise<void>;
  /**
   * A NATS blip: SIGKILLs nats-server, waits `downMs`, and starts it again on the same address
   * with the same config and JetStream store; resolves once it is ready again.
   */
  blipNats(downMs: number): Promise<void>;
  /** The pid of the coordinator's current process. */
  coordinatorPid(): number;
  /** The pid of the agent's current process (what its kernels see as `process.pid`). */
  agentPid(agentName: string): number;
  /**
   * Starts the fault client (`e2e/dist/src/fault-client.js`) with `args` in the client
   * namespace: a long-running client whose events the test reads as they come.
   */
  startFaultClient(args: readonly string[], timeoutMs: number): ClientSession;
}

/** Builds the namespaces and starts nats-server, the coordinator and the agents. Needs root and `ip`. */
export async function startNetnsCluster(options: NetnsClusterOptions = {}): Promise<NetnsCluster> {
  const agentCount = options.agents ?? 3;
  const readyTimeoutMs = options.readyTimeoutMs ?? 20_000;
  const clientTimeoutMs = options.clientTimeoutMs ?? 60_000;
  const natsBinary = options.natsServer ?? natsServerBinary();
  if (!existsSync(SHARC_BIN)) throw new Error(`the sharc command is not built (${SHARC_BIN} is missing): run \`npx tsc --build\` first`);
  const sharc = (role: 'coordinator' | 'agent', flags: string[]) => [SHARC_BIN, role, ...flags];

  const topology = await createTopology({ hostCount: agentCount + 2 });
  const serverHost = topology.host(1);
  const clientHost = topology.host(agentCount + 2);
  const agentHosts = new Map<string, NetnsHost>();
  for (let i = 0; i < agentCount; i++) {
    const host = topology.host(i + 2);
    agentHosts.set(`agent-${host.index}`, host);
  }
  const servers = `nats://${serverHost.address}:${NATS_PORT}`;
  const services: ServiceProcess[] = [];
  /** What a service printed before it was ready and failure messages leave out (nats-server's banner). */
  const startupOutput = new Map<ServiceProcess, string>();
  let dir: string | undefined;
  const removeDir = () => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  };
  const forgetOnExit = cleanUpOnExit(() => {
    for (const service of services) service.child.kill('SIGKILL');
    removeDir();
  });

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      // Agents first, so none of them logs a lost coordinator or server while the run ends.
      const agents = services.filter((s) => s.name.startsWith('agent'));
      await Promise.all(agents.map((s) => s.stop(STOP_GRACE_MS)));
      await Promise.all(services.filter((s) => !agents.includes(s)).reverse().map((s) => s.stop(STOP_GRACE_MS)));
      topology.destroy();
      removeDir();
      forgetOnExit();
    })());

  // Services get exactly the configuration passed here: no SHARC_* of the caller's shell leaks in.
  // (ServiceProcess adds `env` to this process's environment; an undefined value removes a variable.)
  const serviceEnv: NodeJS.ProcessEnv = Object.fromEntries(Object.keys(process.env).filter((key) => key.startsWith('SHARC_')).map((key) => [key, undefined]));
  serviceEnv.SHARC_LOG_LEVEL = environmentValue('SHARC_E2E_LOG_LEVEL') ?? 'warn';
  /** SHARC_E2E_LOG_DIR keeps every service's whole stderr there (`agent-agent-2.log`, …), for a failure's post-mortem. */
  const logDir = environmentValue('SHARC_E2E_LOG_DIR');
  const start = async (host: NetnsHost, name: string, command: string, args: string[], ready: RegExp, forgetStartupOutput = false) => {
    // `ip netns exec` execs the command: the child's pid is the service's own, so stop() and kill() reach it.
    const [cmd, argv] = topology.exec(host, command, args);
    const echo = Boolean(process.env.SHARC_TEST_VERBOSE);
    const logFile = logDir === undefined ? undefined : path.join(logDir, `${name.replace(/\s+/g, '-')}.log`);
    const service = await ServiceProcess.start({ name, command: cmd, args: argv, ready, readyTimeoutMs, env: serviceEnv, echo, ...(logFile === undefined ? {} : { logFile }) });
    services.push(service);
    if (forgetStartupOutput) startupOutput.set(service, service.tail);
    return service;
  };

  const hostOf = (agentName: string): NetnsHost => {
    const host = agentHosts.get(agentName);
    if (host === undefined) throw new Error(`no agent named ${agentName}: agents are ${[...agentHosts.keys()].join(', ')}`);
    return host;
  };
  /** The current process of each agent (a restarted agent's old one stays in `services` for the logs). */
  const agentServices = new Map<string, ServiceProcess>();
  const startAgent = async (name: string, host: NetnsHost) => {
    const flags = ['--servers', servers, '--name', name, '--threads', String(options.threads ?? 1), '--memory', options.memory ?? '256MiB'];
    flags.push('--advertise-host', host.address, '--data-host', host.address);
    agentServices.set(name, await start(host, `agent ${name}`, process.execPath, sharc('agent', flags), /sharc agent ready/));
  };
  const agentService = (name: string): ServiceProcess => {
    hostOf(name);
    const service = agentServices.get(name);
    if (service === undefined) throw new Error(`agent ${name} was not started`);
    return service;
  };

  let natsConfig: string | undefined;
  const startNats = async () => {
    if (natsConfig === undefined) throw new Error('nats-server has no config yet');
    await start(serverHost, 'nats-server', natsBinary, ['-c', natsConfig], /Server is ready/, true);
  };
  const running = (name: string): ServiceProcess => {
    const service = services.find((s) => s.name === name && s.running);
    if (service === undefined) throw new Error(`no ${name} is running`);
    return service;
  };

  const startCoordinator = () => start(serverHost, 'coordinator', process.execPath, sharc('coordinator', ['--servers', servers]), /sharc coordinator ready/);

  try {
    dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-netns-'));
    natsConfig = path.join(dir, 'nats.conf');
    await writeFile(natsConfig, natsConfigText({ host: serverHost.address, port: NATS_PORT, dataDir: dir }));
    // Its startup banner is 30 lines of [INF]: failure messages show only what it said after.
    await startNats();
    await startCoordinator();
    await Promise.all([...agentHosts].map(([name, host]) => startAgent(name, host)));
  } catch (error) {
    await stop();
    throw error;
  }

  /** Its output tail, less what it printed before it was ready when that was to be left out. */
  const outputOf = (s: ServiceProcess) => {
    const before = startupOutput.get(s) ?? '';
    return s.tail.startsWith(before) ? s.tail.slice(before.length) : s.tail;
  };
  const serviceLogs = () =>
    services.map((s) => `--- ${s.name}${s.running ? '' : ' (exited)'} ---\n${outputOf(s).slice(-SERVICE_TAIL_CHARS).trim() || '(no output)'}`).join('\n');

  return {
    name: 'netns',
    servers,
    agentNames: [...agentHosts.keys()],
    topology,
    hostOf,
    async runClient(args) {
      const [cmd, argv] = topology.exec(clientHost, process.execPath, [CLIENT_PROGRAM, ...args]);
      let stdout: string;
      try {
        ({ stdout } = await runCommand(cmd, argv, { timeoutMs: clientTimeoutMs }));
      } catch (error) {
        throw new Error(`e2e client \`${args.join(' ')}\` failed: ${(error as Error).message}\n${serviceLogs()}`, { cause: error });
      }
      const line = stdout.trim().split('\n').at(-1) ?? '';
      try {
        return JSON.parse(line) as unknown;
      } catch {
        throw new Error(`e2e client \`${args.join(' ')}\` printed no JSON object:\n${stdout}`);
      }
    },
    async killAgent(name) {
      await agentService(name).kill();
    },
    partitionHost: (name) => topology.setCable(hostOf(name), false),
    healHost: (name) => topology.setCable(hostOf(name), true),
    async setAgentLink(name, up) {
      await runCommand('ip', ['-n', hostOf(name).namespace, 'link', 'set', 'eth0', up ? 'up' : 'down'], { timeoutMs: IP_TIMEOUT_MS });
    },
    async restartCoordinator() {
      const old = services.find((s) => s.name === 'coordinator' && s.running);
      await old?.kill();
      await startCoordinator();
    },
    async blipNats(downMs) {
      await running('nats-server').kill();
      await new Promise((resolve) => setTimeout(resolve, downMs));
      await startNats();
    },
    coordinatorPid() {
      const pid = running('coordinator').pid;
      if (pid === undefined) throw new Error('the coordinator has no pid');
      return pid;
    },
    async restartAgent(name) {
      if (agentService(name).running) throw new Error(`agent ${name} is still running: kill it first`);
      await startAgent(name, hostOf(name));
    },
    agentPid(name) {
      const pid = agentService(name).pid;
      if (pid === undefined) throw new Error(`agent ${name} has no pid`);
      return pid;
    },
    startFaultClient(args, timeoutMs) {
      const [cmd, argv] = topology.exec(clientHost, process.execPath, [FAULT_CLIENT_PROGRAM, ...args]);
      return ClientSession.start(cmd, argv, { timeoutMs, label: `fault client \`${args.slice(0, 1).join(' ')}\``, context: serviceLogs });
    },
    stop,
  };
}
