import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { Agent } from '@sharc/node-agent';
import { Coordinator } from '@sharc/coordinator';
import {
  ConnectionError,
  InProcessHub,
  PermissionDeniedError,
  MessageBus,
  connectNats,
  createLogger,
  misspeltSharcVariables,
  subjectFor,
  tcpDataPlane,
  type DataPlane,
  type Transport,
} from '@sharc/protocol';
import { Cluster } from './cluster.js';
import { SDK_VARIABLES, resolveConnectOptions, type ConnectOptions, type ResolvedConnectOptions } from './options.js';

const EMBEDDED_MEMORY_FRACTION = 0.8;

/**
 * Connects to a sharc cluster. With `servers` (or SHARC_SERVERS) it joins a running cluster
 * over NATS; without, it starts an embedded one in this process: the same coordinator and agent
 * code over an in-process bus, with worker threads on every core.
 */
export async function connect(options: ConnectOptions = {}): Promise<Cluster> {
  const resolved = resolveConnectOptions(options);
  const clientId = `client-${randomBytes(6).toString('hex')}`;
  const logger = createLogger(clientId);
  for (const { name, meant } of misspeltSharcVariables(SDK_VARIABLES)) {
    const consequence = resolved.servers === undefined && meant === 'SHARC_SERVERS' ? '; starting an embedded cluster' : '';
    logger.warn(`${name} is set, but sharc reads no such variable: did you mean ${meant}? (ignored${consequence})`);
  }
  if (resolved.servers === undefined) return startEmbedded(resolved, clientId);

  const transport = await connectNats({
    servers: resolved.servers,
    name: clientId,
    connectTimeoutMs: resolved.connectTimeoutMs,
    ...(resolved.auth === undefined ? {} : { auth: resolved.auth }),
    logger,
  });
  const bus = new MessageBus(transport, clientId, logger);
  await checkCoordinator(bus, resolved, transport);
  return new Cluster(bus, resolved, tcpDataPlane, () => bus.close());
}

async function checkCoordinator(bus: MessageBus, options: ResolvedConnectOptions, transport: Transport): Promise<void> {
  try {
    await bus.call(subjectFor(options.cluster, { to: 'coordinator', verb: 'client' }), { type: 'nodes.list' }, {
      timeoutMs: options.connectTimeoutMs,
    });
  } catch (error) {
    await bus.close();
    if (error instanceof PermissionDeniedError) throw error;
    throw new ConnectionError(
      `NATS at ${transport.address} answers, but no sharc coordinator for cluster '${options.cluster}' does: ` +
        'start one (sharc coordinator --servers URL), or a whole local cluster (sharc up)',
      { cause: error, retryable: true },
    );
  }
}

async function startEmbedded(options: ResolvedConnectOptions, clientId: string): Promise<Cluster> {
  const hub = new InProcessHub();
  const logger = createLogger('embedded');
  // The agents share this process's event loop: a long synchronous loop in the user's code
  // delays their heartbeats without anything being wrong, so liveness is off here.
  const coordinator = await Coordinator.start(hub.connect(), { cluster: options.cluster, deadAfterMs: Infinity });
  const agentCount = options.embedded.agents;
  const memoryBytes = options.embedded.memoryBytes ?? Math.floor((os.totalmem() * EMBEDDED_MEMORY_FRACTION) / agentCount);
  const agents: Agent[] = [];
  try {
    for (let i = 0; i < agentCount; i++) {
      agents.push(
        await Agent.start(hub.connect(), {
          cluster: options.cluster,
          name: `embedded-${process.pid}-${i}`,
          memoryBytes,
          dataHost: '127.0.0.1',
          advertiseHost: '127.0.0.1',
          // Kernel output reaches the caller (onLog, or printed on this process's stderr): logged
          // here as well, each stderr line would show twice.
          logKernelOutput: false,
          ...(options.embedded.threads === undefined ? {} : { threads: options.embedded.threads }),
          ...(options.embedded.threadHeapMb === undefined ? {} : { threadHeapMb: options.embedded.threadHeapMb }),
        }),
      );
    }
  } catch (error) {
    await Promise.all(agents.map((a) => a.close()));
    await coordinator.close();
    throw error;
  }
  const bus = new MessageBus(hub.connect(), clientId, logger);
  const local = new Map(agents.map((agent) => [agent.id, agent.localData()]));
  const localOf = (id: string) => {
    const plane = local.get(id);
    if (plane === undefined) throw new ConnectionError(`agent ${id} is not part of this embedded cluster`);
    return plane;
  };
  // Same checks as the TCP data port, without the socket: one memcpy each way.
  const data: DataPlane = {
    write: async (agent, request, bytes, signal) => {
      signal?.throwIfAborted();
      localOf(agent.id).write(request, bytes);
    },
    read: async (agent, request, target, signal) => {
      signal?.throwIfAborted();
      localOf(agent.id).read(request, target);
    },
  };
  return new Cluster(bus, options, data, async () => {
    await bus.close();
    await Promise.all(agents.map((a) => a.close()));
    await coordinator.close();
  });
}
