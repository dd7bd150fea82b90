import { connectNats, createLogger, type Logger } from '@sharc/protocol';
import { SimulatedAgent } from './simulated-agent.js';

/** Connections opened at once: a thousand at the same instant only queue up in nats-server's accept loop. */
const CONNECTS_IN_FLIGHT = 50;
/** What a simulated agent claims, unless told otherwise: room for any test's placement, none of it allocated. */
export const SIMULATED_MEMORY_BYTES = 64 * 1024 ** 3;

export interface SimulatedAgentGroupOptions {
  /** NATS servers, comma separated. */
  servers: string;
  /** @default 'default' */
  cluster?: string;
  /** Agents are named `<prefix>-1` … `<prefix>-<count>`. */
  prefix: string;
  count: number;
  /** @default 1000, a real agent's */
  heartbeatMs?: number;
  /** @default SIMULATED_MEMORY_BYTES */
  memoryBytes?: number;
  /** @default 2 */
  threads?: number;
  /** @default a JSON-lines logger at SHARC_LOG_LEVEL */
  logger?: Logger;
}

export interface SimulatedAgentGroup {
  readonly agents: readonly SimulatedAgent[];
  /** Stops every agent's heartbeats and closes its connection. */
  close(): Promise<void>;
}

/**
 * Starts `count` simulated agents in this process, each with its own NATS connection (as real
 * agents on separate hosts have), and resolves once every one has registered.
 */
export async function startSimulatedAgentGroup(options: SimulatedAgentGroupOptions): Promise<SimulatedAgentGroup> {
  const logger = options.logger ?? createLogger('simulated-agents');
  const agents: SimulatedAgent[] = [];
  const close = async () => {
    await Promise.all(agents.map((agent) => agent.close().catch(() => undefined)));
  };
  let next = 1;
  const startOne = async (): Promise<void> => {
    while (next <= options.count) {
      const name = `${options.prefix}-${next++}`;
      const transport = await connectNats({ servers: options.servers, name, logger });
      const agent = new SimulatedAgent(transport, {
        name,
        cluster: options.cluster ?? 'default',
        heartbeatMs: options.heartbeatMs ?? 1000,
        memoryBytes: options.memoryBytes ?? SIMULATED_MEMORY_BYTES,
        threads: options.threads ?? 2,
        logger,
      });
      agents.push(agent);
      await agent.start();
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(CONNECTS_IN_FLIGHT, options.count) }, startOne));
  } catch (error) {
    await close();
    throw error;
  }
  return { agents, close };
}
