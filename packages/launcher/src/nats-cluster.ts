import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort, startNatsServer, type NatsServer } from './nats-server.js';

/** Electing the JetStream meta leader takes a few seconds; longer on a loaded machine. */
const DEFAULT_JETSTREAM_TIMEOUT_MS = 30_000;
const POLL_MS = 200;
const HOST = '127.0.0.1';

export interface NatsClusterOptions {
  /** Servers in the cluster (JetStream replicas can be at most this). @default 3 */
  size?: number;
  /** The NATS cluster's name. @default 'sharc-nats' */
  name?: string;
  /** Each server keeps its config and JetStream store in `<dataDir>/<server name>`. @default a temporary dir, removed on stop */
  dataDir?: string;
  /** Each server's log goes to `<logDir>/<server name>.log`. @default kept in memory only */
  logDir?: string;
  /** Each server in its own process group (see ServiceSpec.detached). @default false */
  detached?: boolean;
  /** How long start waits for JetStream to be ready (its meta group to have a leader). @default 30000 */
  jetStreamTimeoutMs?: number;
}

export interface NatsClusterNode {
  /** Its server_name: n1, n2, … */
  name: string;
  server: NatsServer;
  /** Its HTTP monitoring port (/varz, /jsz). */
  monitorPort: number;
}

export interface NatsCluster {
  /** Every server's client URL, in order. */
  urls: string[];
  /** The same, comma separated: what `--servers` and `connect({ servers })` take. */
  servers: string;
  nodes: NatsClusterNode[];
  /**
   * Resolves with the JetStream meta leader's name once every running server knows the same
   * one; rejects after `timeoutMs`. Use it after restarting a server: until then JetStream
   * requests may fail.
   */
  waitForJetStream(timeoutMs?: number): Promise<string>;
  /** The server a client of this cluster is connected to, by its client port. */
  nodeOnPort(port: number): NatsClusterNode | undefined;
  /** Stops every server (and removes a temporary data dir). */
  stop(): Promise<void>;
}

/**
 * A NATS cluster on this machine: `size` nats-servers routed to each other on loopback, each
 * with JetStream and its own store, as the README advises for production (JetStream state
 * replicated, so one server may die). Resolves once JetStream has a meta leader.
 */
export async function startNatsCluster(options: NatsClusterOptions = {}): Promise<NatsCluster> {
  const size = options.size ?? 3;
  if (!(Number.isInteger(size) && size >= 1)) throw new TypeError(`size must be a positive integer, got ${size}`);
  const temporary = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'sharc-nats-cluster-')));
  const ports = await Promise.all(
    Array.from({ length: size }, async (_, i) => ({ name: `n${i + 1}`, client: await freePort(), route: await freePort(), monitor: await freePort() })),
  );
  const nodes: NatsClusterNode[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((node) => node.server.stop()));
    if (temporary) await rm(dataDir, { recursive: true, force: true });
  };
  try {
    // Together: a server waits for its routes before JetStream is ready, not before it listens.
    const started = await Promise.allSettled(
      ports.map((own) =>
        startNatsServer({
          host: HOST,
          port: own.client,
          dataDir: path.join(dataDir, own.name),
          ...(options.logDir === undefined ? {} : { logFile: path.join(options.logDir, `${own.name}.log`) }),
          ...(options.detached === undefined ? {} : { detached: options.detached }),
          clusterMember: {
            cluster: options.name ?? 'sharc-nats',
            serverName: own.name,
            routePort: own.route,
            routes: ports.filter((other) => other !== own).map((other) => `nats-route://${HOST}:${other.route}`),
            monitorPort: own.monitor,
          },
        }).then((server) => nodes.push({ name: own.name, server, monitorPort: own.monitor })),
      ),
    );
    const failed = started.find((result) => result.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    nodes.sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
  } catch (error) {
    await stop();
    throw error;
  }
  const waitForJetStream = async (timeoutMs = DEFAULT_JETSTREAM_TIMEOUT_MS) => {
    const deadline = Date.now() + timeoutMs;
    let seen = '';
    for (;;) {
      const running = nodes.filter((node) => node.server.process.running);
      const leaders = await Promise.all(running.map((node) => metaLeaderOf(node.monitorPort)));
      seen = running.map((node, i) => `${node.name}: ${leaders[i] ?? 'no leader'}`).join(', ');
      const leader = leaders[0];
      if (leader !== undefined && leaders.every((l) => l === leader) && running.some((node) => node.name === leader)) return leader;
      if (Date.now() > deadline) throw new Error(`the NATS cluster's JetStream has no leader after ${timeoutMs} ms (${seen})`);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  };
  try {
    await waitForJetStream(options.jetStreamTimeoutMs);
  } catch (error) {
    await stop();
    throw error;
  }
  const urls = nodes.map((node) => node.server.url);
  return {
    urls,
    servers: urls.join(','),
    nodes,
    waitForJetStream,
    nodeOnPort: (port) => nodes.find((node) => node.server.port === port),
    stop,
  };
}

/** The JetStream meta leader a server knows of (its /jsz), or undefined (none yet, or not answering). */
async function metaLeaderOf(monitorPort: number): Promise<string | undefined> {
  try {
    const response = await fetch(`http://${HOST}:${monitorPort}/jsz`, { signal: AbortSignal.timeout(2000) });
    const body = (await response.json()) as { meta_cluster?: { leader?: unknown } };
    const leader = body.meta_cluster?.leader;
    return typeof leader === 'string' && leader !== '' ? leader : undefined;
  } catch {
    return undefined;
  }
}
