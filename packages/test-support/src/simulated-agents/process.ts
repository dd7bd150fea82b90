import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ServiceProcess } from '@sharc/launcher';

const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), 'main.js');
/** A thousand NATS connections and registrations on a loaded 2-core machine take a while. */
const READY_TIMEOUT_MS = 120_000;

export interface SimulatedAgentsOptions {
  /** NATS servers, comma separated (a ProcessCluster's `url`). */
  servers: string;
  /** @default 'default' */
  cluster?: string;
  /** Agents are named `<prefix>-1` … `<prefix>-<count>`: one prefix per process. */
  prefix: string;
  count: number;
  /** @default 1000 */
  heartbeatMs?: number;
  /** Copy its output to this process's stderr. @default false */
  echo?: boolean;
}

/**
 * Starts a process of `count` simulated agents (the real protocol over one NATS connection
 * each, no partition bytes: see SimulatedAgent) and resolves once all registered with the
 * coordinator. `kill()` (SIGKILL) takes all of them down at once, as a crash would; `stop()`
 * closes them. Several processes give several groups that can die apart.
 */
export function startSimulatedAgents(options: SimulatedAgentsOptions): Promise<ServiceProcess> {
  return ServiceProcess.start({
    name: `simulated agents ${options.prefix}`,
    command: process.execPath,
    args: [
      MAIN,
      '--servers', options.servers,
      '--cluster', options.cluster ?? 'default',
      '--prefix', options.prefix,
      '--count', String(options.count),
      '--heartbeat-ms', String(options.heartbeatMs ?? 1000),
    ],
    ready: /simulated agents ready/,
    readyTimeoutMs: READY_TIMEOUT_MS,
    env: { SHARC_LOG_LEVEL: process.env.SHARC_LOG_LEVEL || 'warn' },
    echo: options.echo ?? false,
    parentChannel: true,
  });
}
