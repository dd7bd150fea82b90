/**
 * @sharc/launcher: starts sharc's processes on this machine (what `sharc up` and the
 * integration tests run).
 *
 * ```ts
 * import { startLocalCluster } from '@sharc/launcher';
 * const cluster = await startLocalCluster({ sharcBin: '/path/to/sharc/bin.js', agents: 3 });
 * console.log(cluster.url); // nats://127.0.0.1:<port>
 * await cluster.stop();     // agents, then the coordinator, then nats-server
 * ```
 */
export { startLocalCluster } from './local-cluster.js';
export type { LocalCluster, LocalClusterOptions } from './local-cluster.js';
export { startNatsServer, natsServerBinary, natsConfigText, freePort, NATS_PID_FILE, NATS_STORE_DIR } from './nats-server.js';
export type { NatsServer, NatsServerOptions, NatsClusterMember } from './nats-server.js';
export { startNatsCluster } from './nats-cluster.js';
export type { NatsCluster, NatsClusterNode, NatsClusterOptions } from './nats-cluster.js';
export { ServiceProcess, waitForLine, stopProcess } from './processes.js';
export type { ServiceSpec } from './processes.js';
export { DEFAULT_MAX_CRASHES, DEFAULT_CRASH_WINDOW_MS } from './supervise.js';
export type { RestartOptions, ServiceEvent } from './supervise.js';
