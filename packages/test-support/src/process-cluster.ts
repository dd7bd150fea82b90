import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { startNatsServer, stopProcess, waitForLine, type NatsServer } from './nats-server.js';

const require = createRequire(import.meta.url);
const COORDINATOR_MAIN = path.join(path.dirname(require.resolve('@sharc/coordinator')), 'main.js');
const AGENT_MAIN = path.join(path.dirname(require.resolve('@sharc/node-agent')), 'main.js');
const READY_TIMEOUT_MS = 20_000;

export interface ProcessClusterOptions {
  agents?: number;
  threads?: number;
  /** Per agent, e.g. '2GiB'. */
  memory?: string;
  cluster?: string;
  /** Extra node flags for agent processes (e.g. --expose-gc). */
  agentNodeArgs?: string[];
}

export interface ProcessCluster {
  url: string;
  nats: NatsServer;
  coordinator: ChildProcess;
  agents: Map<string, ChildProcess>;
  /** SIGKILLs the coordinator process and starts a new one (state is not persisted yet). */
  restartCoordinator(): Promise<ChildProcess>;
  /** Starts one more agent process named `name`. */
  addAgent(name: string): Promise<ChildProcess>;
  stop(): Promise<void>;
}

/**
 * A real cluster on this machine: nats-server, a coordinator process and N agent processes,
 * each a separate `node` process talking over NATS, as on separate hosts.
 */
export async function startProcessCluster(options: ProcessClusterOptions = {}): Promise<ProcessCluster> {
  const nats = await startNatsServer();
  const common = ['--servers', nats.url, ...(options.cluster === undefined ? [] : ['--cluster', options.cluster])];
  const children: ChildProcess[] = [];
  const launch = async (args: string[], ready: RegExp, what: string, nodeArgs: string[] = []) => {
    const child = spawn(process.execPath, [...nodeArgs, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, SHARC_LOG_LEVEL: process.env.SHARC_LOG_LEVEL ?? 'warn' },
    });
    children.push(child);
    child.stderr?.on('data', (chunk: Buffer) => {
      if (process.env.SHARC_TEST_VERBOSE) process.stderr.write(`[${what}] ${chunk.toString()}`);
    });
    await waitForLine(child, ready, READY_TIMEOUT_MS, what);
    return child;
  };
  try {
    const startCoordinator = () => launch([COORDINATOR_MAIN, ...common], /sharc coordinator ready/, 'coordinator');
    let coordinator = await startCoordinator();
    const agents = new Map<string, ChildProcess>();
    const addAgent = async (name: string) => {
      const args = [AGENT_MAIN, ...common, '--name', name, '--advertise-host', '127.0.0.1', '--data-host', '127.0.0.1'];
      if (options.threads !== undefined) args.push('--threads', String(options.threads));
      if (options.memory !== undefined) args.push('--memory', options.memory);
      const child = await launch(args, /sharc agent ready/, `agent ${name}`, options.agentNodeArgs);
      agents.set(name, child);
      return child;
    };
    for (let i = 0; i < (options.agents ?? 2); i++) await addAgent(`agent-${i}`);
    return {
      url: nats.url,
      nats,
      get coordinator() {
        return coordinator;
      },
      agents,
      addAgent,
      async restartCoordinator() {
        const old = coordinator;
        const gone = new Promise((resolve) => old.once('exit', resolve));
        old.kill('SIGKILL');
        await gone;
        coordinator = await startCoordinator();
        return coordinator;
      },
      async stop() {
        await Promise.all(children.map((c) => stopProcess(c)));
        await nats.stop();
      },
    };
  } catch (error) {
    await Promise.all(children.map((c) => stopProcess(c)));
    await nats.stop();
    throw error;
  }
}
