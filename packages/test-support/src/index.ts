/** Helpers for sharc's integration tests and benchmarks: a real nats-server and real processes. */
export { startNatsServer, startNatsCluster, natsServerBinary, freePort, waitForLine, stopProcess } from '@sharc/launcher';
export type { NatsServer, NatsCluster, NatsClusterNode } from '@sharc/launcher';
export { startProcessCluster, SHARC_BIN } from './process-cluster.js';
export type { ProcessCluster, ProcessClusterOptions } from './process-cluster.js';
export { runSharc } from './run-sharc.js';
export type { SharcRun } from './run-sharc.js';
