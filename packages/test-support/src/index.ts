/** Helpers for sharc's integration tests and benchmarks: a real nats-server and real processes. */
export { startNatsServer, startNatsCluster, natsServerBinary, freePort, waitForLine, stopProcess } from '@sharc/launcher';
export type { NatsServer, NatsCluster, NatsClusterNode, ServiceProcess } from '@sharc/launcher';
export { startProcessCluster, SHARC_BIN } from './process-cluster.js';
export type { ProcessCluster, ProcessClusterOptions } from './process-cluster.js';
export { runSharc } from './run-sharc.js';
export type { SharcRun } from './run-sharc.js';
export { startSimulatedAgents } from './simulated-agents/process.js';
export type { SimulatedAgentsOptions } from './simulated-agents/process.js';
export { startSimulatedAgentGroup, SIMULATED_MEMORY_BYTES } from './simulated-agents/agent-group.js';
export type { SimulatedAgentGroup, SimulatedAgentGroupOptions } from './simulated-agents/agent-group.js';
export { SimulatedAgent } from './simulated-agents/simulated-agent.js';
export type { SimulatedAgentOptions } from './simulated-agents/simulated-agent.js';
export { fillRulePartial } from './simulated-agents/fill-rule.js';
export type { BookedPartition } from './simulated-agents/fill-rule.js';
export { ProtocolClient } from './simulated-agents/protocol-client.js';
export type { PlaceArrayOptions } from './simulated-agents/protocol-client.js';
