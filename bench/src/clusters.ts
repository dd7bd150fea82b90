import { connect, type Cluster, type ConnectOptions } from '@sharc/sdk';
import { startProcessCluster, type ProcessCluster, type ProcessClusterOptions } from '@sharc/test-support';
import type { CleanupStack } from './cleanup.js';

/**
 * Starts a real cluster (nats-server, a coordinator process, agent processes), connects a
 * client over NATS, runs `use`, and stops it all again, also when `use` throws.
 */
export async function withProcessCluster<T>(
  cleanup: CleanupStack,
  options: ProcessClusterOptions,
  use: (cluster: Cluster, processes: ProcessCluster) => Promise<T>,
): Promise<T> {
  const processes = await startProcessCluster(options);
  const stopProcesses = cleanup.defer('process cluster', () => processes.stop());
  try {
    const cluster = await connect({ servers: processes.url });
    const disconnect = cleanup.defer('client connection', () => cluster.close());
    try {
      return await use(cluster, processes);
    } finally {
      await disconnect();
    }
  } finally {
    await stopProcesses();
  }
}

/** The same for a cluster embedded in this process (coordinator and agents over an in-process bus). */
export async function withEmbeddedCluster<T>(
  cleanup: CleanupStack,
  embedded: NonNullable<ConnectOptions['embedded']>,
  use: (cluster: Cluster) => Promise<T>,
): Promise<T> {
  const cluster = await connect({ embedded });
  const stop = cleanup.defer('embedded cluster', () => cluster.close());
  try {
    return await use(cluster);
  } finally {
    await stop();
  }
}

/** The one agent process of a cluster, or an error naming how many there are. */
export function onlyAgentPid(processes: ProcessCluster): number {
  const [agent, ...others] = processes.agents.values();
  if (agent?.pid === undefined || others.length > 0) {
    throw new Error(`expected one running agent process, found ${processes.agents.size}`);
  }
  return agent.pid;
}
