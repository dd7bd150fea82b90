import { accessSync, constants } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ServiceProcess } from './processes.js';

/** Same as infra/nats.conf: room for big kernels and reduce partials (bulk bytes use data ports). */
const MAX_PAYLOAD_BYTES = 64 * 1024 * 1024;
const READY_TIMEOUT_MS = 15_000;

export interface NatsServerOptions {
  /** @default '127.0.0.1' */
  host?: string;
  /** @default a free port */
  port?: number;
  /** JetStream store and config live here and are kept. @default a temporary dir, removed on stop */
  dataDir?: string;
  /** Where its log goes. @default kept in memory only */
  logFile?: string;
  detached?: boolean;
  /**
   * More nats-server configuration, appended to sharc's: e.g. the text of infra/nats-roles.conf and
   * an accounts block, or a `tls { … }` block (an `include` would be read relative to the generated
   * file, in the data dir). @default none: no auth, no TLS
   */
  extraConfig?: string;
  /** Environment for nats-server, e.g. the passwords an auth config reads as `$VARIABLE`s. */
  env?: NodeJS.ProcessEnv;
  /** A member of a NATS cluster (see startNatsCluster). @default a server on its own */
  clusterMember?: NatsClusterMember;
}

/** What makes a nats-server one of a cluster: its name, its route port and the others' routes. */
export interface NatsClusterMember {
  /** The cluster's name: the same on every member. */
  cluster: string;
  /** This server's name, unique in the cluster (JetStream needs one). */
  serverName: string;
  /** Where the other members connect to this one, on the server's host. */
  routePort: number;
  /** The other members' route addresses, e.g. nats-route://127.0.0.1:6222. */
  routes: readonly string[];
  /** HTTP monitoring port (/jsz tells the JetStream meta leader), on the server's host. */
  monitorPort: number;
}

export interface NatsServer {
  url: string;
  port: number;
  /** The running nats-server (a new one after restart()). */
  readonly process: ServiceProcess;
  /**
   * Starts it again with the same port, config and JetStream store (after SIGKILLing it if it
   * still runs): clients reconnect by themselves and JetStream finds its data on disk.
   * Aborting `signal` before it is ready stops it, and restart() rejects.
   */
  restart(signal?: AbortSignal): Promise<ServiceProcess>;
  /** Stops it (and removes a temporary data dir). */
  stop(): Promise<void>;
}

/** Where nats-server keeps JetStream (the coordinator's state), in a data dir of startNatsServer. */
export const NATS_STORE_DIR = 'jetstream';

/** The file nats-server writes its pid to, in a data dir of startNatsServer. */
export const NATS_PID_FILE = 'nats-server.pid';

/**
 * The nats-server configuration sharc runs with (as infra/nats.conf): JetStream with its store
 * in `dataDir`, a pid file there (so a server left behind can be found), and the max_payload.
 */
export function natsConfigText(options: { host: string; port: number; dataDir: string; extraConfig?: string; clusterMember?: NatsClusterMember }): string {
  const member = options.clusterMember;
  return [
    `listen: "${options.host}:${options.port}"`,
    ...(member === undefined
      ? []
      : [
          `server_name: "${member.serverName}"`,
          `http: "${options.host}:${member.monitorPort}"`,
          `cluster { name: "${member.cluster}", listen: "${options.host}:${member.routePort}", routes: [${member.routes.map((r) => `"${r}"`).join(', ')}] }`,
        ]),
    `max_payload: ${MAX_PAYLOAD_BYTES}`,
    `pid_file: "${path.join(options.dataDir, NATS_PID_FILE)}"`,
    `jetstream { store_dir: "${path.join(options.dataDir, NATS_STORE_DIR)}" }`,
    ...(options.extraConfig === undefined ? [] : [options.extraConfig]),
    '',
  ].join('\n');
}

/** A free TCP port on loopback (the kernel picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** The nats-server on PATH; fails with the install command when there is none. */
export function natsServerBinary(): string {
  const binary = (process.env.PATH ?? '')
    .split(path.delimiter)
    .filter((dir) => dir !== '')
    .map((dir) => path.join(dir, 'nats-server'))
    .find(isExecutable);
  if (binary === undefined) {
    throw new Error(
      'nats-server is not on PATH. Install it: `sudo apt-get install -y nats-server` (Debian/Ubuntu), ' +
        '`brew install nats-server` (macOS), or a release binary from github.com/nats-io/nats-server/releases',
    );
  }
  return binary;
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Starts a real nats-server with JetStream; `stop()` stops it (and removes a temporary data dir). */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const binary = natsServerBinary();
  const temporary = options.dataDir === undefined;
  const dir = options.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'sharc-nats-')));
  await mkdir(dir, { recursive: true });
  const port = options.port ?? (await freePort());
  const host = options.host ?? '127.0.0.1';
  const config = path.join(dir, 'nats.conf');
  await writeFile(
    config,
    natsConfigText({
      host,
      port,
      dataDir: dir,
      ...(options.extraConfig === undefined ? {} : { extraConfig: options.extraConfig }),
      ...(options.clusterMember === undefined ? {} : { clusterMember: options.clusterMember }),
    }),
  );
  const removeDir = () => (temporary ? rm(dir, { recursive: true, force: true }) : Promise.resolve());
  const spawnServer = (signal?: AbortSignal) =>
    ServiceProcess.start({
      ...(signal === undefined ? {} : { signal }),
      name: options.clusterMember?.serverName ?? 'nats-server',
      command: binary,
      args: ['-c', config],
      ready: /Server is ready/,
      readyTimeoutMs: READY_TIMEOUT_MS,
      ...(options.env === undefined ? {} : { env: options.env }),
      ...(options.logFile === undefined ? {} : { logFile: options.logFile }),
      ...(options.detached === undefined ? {} : { detached: options.detached }),
    });
  let service: ServiceProcess;
  try {
    service = await spawnServer();
  } catch (error) {
    await removeDir();
    throw error;
  }
  return {
    url: `nats://${host}:${port}`,
    port,
    get process() {
      return service;
    },
    async restart(signal) {
      await service.kill();
      service = await spawnServer(signal);
      return service;
    },
    async stop() {
      await service.stop();
      await removeDir();
    },
  };
}
