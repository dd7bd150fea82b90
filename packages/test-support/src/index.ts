/** Helpers for sharc's integration tests, e2e and benchmarks: a real nats-server and real processes. */
export { startNatsServer, natsServerBinary, freePort, waitForLine, stopProcess } from './nats-server.js';
export type { NatsServer } from './nats-server.js';
export { startProcessCluster } from './process-cluster.js';
export type { ProcessCluster, ProcessClusterOptions } from './process-cluster.js';
