/**
 * @sharc/node-agent: one per host. Holds partitions in SharedArrayBuffers, serves their bytes
 * on a TCP data port, and runs kernels over them on worker threads that share the buffers.
 *
 * ```ts
 * const transport = await connectNats({ servers: 'nats://10.0.0.1:4222', name: 'agent-a' });
 * const agent = await Agent.start(transport, { name: 'agent-a', threads: 8 });
 * ```
 */
export { Agent } from './agent.js';
export { resolveAgentOptions } from './options.js';
export type { AgentOptions, ResolvedAgentOptions } from './options.js';
export type { AgentObservation } from './agent.js';
export { AgentMetrics } from './metrics/agent-metrics.js';
export type { AgentMetricsOptions } from './metrics/agent-metrics.js';
export type { AgentTally } from './metrics/agent-tally.js';
