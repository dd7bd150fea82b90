/**
 * The containers backend: the same multi-host scenarios with every sharc service in its own
 * container, all from the one sharc image (infra/build-offline-image.sh, or infra/Dockerfile):
 *
 *   sharc-e2e-<run>-nats          nats-server -c /etc/sharc/nats.conf (JetStream on), on a free port
 *   sharc-e2e-<run>-coordinator   sharc coordinator
 *   sharc-e2e-<run>-agent-N       sharc agent, one per container, each with a memory limit
 *
 * Containers share the host's network (`--network host`): the engines this runs on (a private
 * dockerd from e2e/scripts/with-dockerd.sh, a CI runner) may have no bridge, so published
 * ports are not an option, and every port is picked free on 127.0.0.1 for this run. The e2e
 * client runs on the host, as a user's program next to the containers would.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Readable } from 'node:stream';
import { freePort } from '@sharc/launcher';
import { environmentValue } from '@sharc/protocol';
import type { StartedTestContainer } from 'testcontainers';
import type { ClusterBackend } from './backend.js';
import { cleanUpOnExit } from './exit-cleanup.js';
import { runCommand } from './processes.js';

/** The program `runClient` runs (this folder's client.ts, built). */
const CLIENT_PROGRAM = fileURLToPath(new URL('./client.js', import.meta.url));
const BUILD_IMAGE_SCRIPT = fileURLToPath(new URL('../../../infra/build-offline-image.sh', import.meta.url));
/** What build-offline-image.sh tags, and what this backend runs unless SHARC_E2E_IMAGE names another image. */
const DEFAULT_IMAGE = 'sharc:offline';
const IMAGE_BUILD_TIMEOUT_MS = 300_000;
/** The image's nats config: infra/nats.conf (JetStream on, 64 MiB max_payload). */
const NATS_CONFIG_IN_IMAGE = '/etc/sharc/nats.conf';
const LOOPBACK = '127.0.0.1';
/**
 * Room above `--memory` for the agent's heap, V8 isolates of its worker threads and kernel
 * bundles: partitions live in SharedArrayBuffers inside the agent's own process, so the
 * container limit must hold them and the process (infra/compose.yaml sizes the same way).
 */
const AGENT_MEMORY_HEADROOM_BYTES = 300 * 1024 * 1024;
const BYTES_PER_GIB = 1024 ** 3;
/** How long a container may take to print its ready line. */
const READY_TIMEOUT_MS = 60_000;
/** Grace a container gets between SIGTERM and SIGKILL when the cluster stops. */
const STOP_GRACE_MS = 3_000;
/** Tail of each container's output kept for failure messages. */
const LOG_TAIL_CHARS = 4_000;
const KILL_WAIT_MS = 10_000;

export interface ContainerClusterOptions {
  /** Agent containers, one agent each. @default 3 */
  agents?: number;
  /** Worker threads per agent. @default 1 */
  threads?: number;
  /** Memory each agent may fill with partitions, in bytes. @default 256 MiB */
  memoryBytes?: number;
  /**
   * The sharc image. When it is not given, infra/build-offline-image.sh builds `sharc:offline`
   * from this checkout once per process, so the containers always run the code under test.
   * @default process.env.SHARC_E2E_IMAGE, else a fresh `sharc:offline`
   */
  image?: string;
  /** How long one `runClient` may run before it is killed. @default 60000 */
  clientTimeoutMs?: number;
}

export interface ContainerCluster extends ClusterBackend {
  /** The image every container runs. */
  readonly image: string;
  /** Container id of each service: 'nats', 'coordinator', and the agent names. */
  containerIds(): Record<string, string>;
}

/** A container and the tail of what it printed. */
interface Service {
  readonly what: string;
  readonly container: StartedTestContainer;
  tail(): string;
}

type Testcontainers = typeof import('testcontainers');

let testcontainersModule: Promise<Testcontainers> | undefined;

/**
 * Loads testcontainers with the settings this backend needs, set before the library reads
 * them: no Ryuk reaper (its image would have to be pulled, and stop() and the exit hook remove
 * our containers anyway) and the host's loopback as the address of containers (they share the
 * host's network; without the override testcontainers may start a helper container to find it).
 */
function loadTestcontainers(): Promise<Testcontainers> {
  process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
  process.env.TESTCONTAINERS_HOST_OVERRIDE ??= LOOPBACK;
  return (testcontainersModule ??= import('testcontainers'));
}

/**
 * Why the containers backend cannot run here, or undefined when a container engine answers.
 * The suite uses it to fail (or, when asked, skip) with a message that says how to run it.
 */
export async function containerEngineProblem(): Promise<string | undefined> {
  const { getContainerRuntimeClient } = await loadTestcontainers();
  try {
    await getContainerRuntimeClient();
    return undefined;
  } catch (error) {
    const where = process.env.DOCKER_HOST === undefined ? 'DOCKER_HOST is not set and no default socket answers' : `DOCKER_HOST=${process.env.DOCKER_HOST} does not answer`;
    return `no container engine: ${where} (${(error as Error).message.split('\n')[0]})`;
  }
}

let imageBuild: Promise<string> | undefined;

/** The image to run: the one asked for (which must exist), else a fresh build of this checkout. */
async function resolveImage(requested: string | undefined): Promise<string> {
  const { getContainerRuntimeClient, ImageName } = await loadTestcontainers();
  if (requested !== undefined) {
    const client = await getContainerRuntimeClient();
    if (!(await client.image.exists(ImageName.fromString(requested)))) {
      throw new Error(`image ${requested} (SHARC_E2E_IMAGE) is not in the engine: build it (infra/README.md) or unset SHARC_E2E_IMAGE`);
    }
    return requested;
  }
  // Once per process: a few seconds, and it rules out running an image of older code.
  imageBuild ??= runCommand('bash', [BUILD_IMAGE_SCRIPT, '--skip-build', '--tag', DEFAULT_IMAGE], { timeoutMs: IMAGE_BUILD_TIMEOUT_MS }).then(
    () => DEFAULT_IMAGE,
    (error: unknown) => {
      imageBuild = undefined;
      throw new Error(`building ${DEFAULT_IMAGE} with infra/build-offline-image.sh failed: ${(error as Error).message}`, { cause: error });
    },
  );
  return imageBuild;
}

/** Distinct free ports on the loopback (the OS could hand the same port out twice once each is closed). */
async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

/** Starts nats-server, the coordinator and the agents in containers on the host network. */
export async function startContainerCluster(options: ContainerClusterOptions = {}): Promise<ContainerCluster> {
  const agentCount = options.agents ?? 3;
  const threads = options.threads ?? 1;
  const memoryBytes = options.memoryBytes ?? 256 * 1024 * 1024;
  const clientTimeoutMs = options.clientTimeoutMs ?? 60_000;
  const { GenericContainer, Wait, getContainerRuntimeClient } = await loadTestcontainers();
  const image = await resolveImage(options.image ?? environmentValue('SHARC_E2E_IMAGE'));
  const run = randomBytes(4).toString('hex');
  const [natsPort, ...dataPorts] = await freePorts(1 + agentCount);
  const servers = `nats://${LOOPBACK}:${natsPort}`;
  const agentNames = Array.from({ length: agentCount }, (_, i) => `agent-${i + 1}`);

  const services: Service[] = [];
  // Last resort when the test process dies before stop(): remove this run's containers by label.
  // Synchronous (an exit hook cannot wait), so through the docker CLI when there is one.
  const forgetOnExit = cleanUpOnExit(() => {
    const ids = spawnSync('docker', ['ps', '-aq', '--filter', `label=sharc.e2e.run=${run}`], { encoding: 'utf8' }).stdout?.split('\n').filter(Boolean) ?? [];
    if (ids.length > 0) spawnSync('docker', ['rm', '-f', ...ids], { stdio: 'ignore' });
  });

  const start = async (what: string, configure: (container: InstanceType<Testcontainers['GenericContainer']>) => void, ready: RegExp): Promise<Service> => {
    let output = '';
    const container = new GenericContainer(image)
      .withName(`sharc-e2e-${run}-${what}`)
      .withLabels({ 'sharc.e2e.run': run, 'sharc.e2e.service': what })
      .withNetworkMode('host')
      // SHARC_SERVERS also points the image's HEALTHCHECK (`sharc status`) at this run's server.
      .withEnvironment({ SHARC_LOG_LEVEL: 'warn', SHARC_SERVERS: servers })
      .withWaitStrategy(Wait.forLogMessage(ready))
      .withStartupTimeout(READY_TIMEOUT_MS)
      .withLogConsumer((stream: Readable) => {
        stream.on('data', (chunk: Buffer | string) => {
          output = (output + chunk.toString()).slice(-LOG_TAIL_CHARS);
          if (process.env.SHARC_TEST_VERBOSE) process.stderr.write(`[${what}] ${chunk.toString()}`);
        });
      });
    configure(container);
    let started: StartedTestContainer;
    try {
      started = await container.start();
    } catch (error) {
      throw new Error(`container ${what} did not start: ${(error as Error).message}\n--- ${what} output ---\n${output.trim() || '(no output)'}`, { cause: error });
    }
    const service = { what, container: started, tail: () => output };
    services.push(service);
    return service;
  };

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      // Agents first, so none of them logs a lost coordinator or server while the run ends.
      const stopAll = (list: Service[]) =>
        Promise.allSettled(list.map((s) => s.container.stop({ timeout: STOP_GRACE_MS, remove: true })));
      const agents = services.filter((s) => agentNames.includes(s.what));
      await stopAll(agents);
      await stopAll(services.filter((s) => s.what === 'coordinator'));
      await stopAll(services.filter((s) => s.what === 'nats'));
      // A container whose start failed is in no list above (start() threw before returning it).
      const client = await getContainerRuntimeClient();
      const leftovers = await client.container.dockerode.listContainers({ all: true, filters: { label: [`sharc.e2e.run=${run}`] } });
      await Promise.allSettled(leftovers.map((info) => client.container.getById(info.Id).remove({ force: true })));
      forgetOnExit();
    })());

  try {
    await start(
      'nats',
      (c) => c.withEntrypoint(['nats-server']).withCommand(['-c', NATS_CONFIG_IN_IMAGE, '-a', LOOPBACK, '-p', String(natsPort)]),
      /Server is ready/,
    );
    await start('coordinator', (c) => c.withCommand(['coordinator', '--servers', servers]), /sharc coordinator ready/);
    await Promise.all(
      agentNames.map((name, i) =>
        start(
          name,
          (c) =>
            c
              .withCommand([
                'agent',
                '--servers', servers,
                '--name', name,
                '--threads', String(threads),
                '--memory', String(memoryBytes),
                '--advertise-host', LOOPBACK,
                '--data-host', LOOPBACK,
                '--data-port', String(dataPorts[i]),
              ])
              .withResourcesQuota({ memory: (memoryBytes + AGENT_MEMORY_HEADROOM_BYTES) / BYTES_PER_GIB, cpu: threads }),
          /sharc agent ready/,
        ),
      ),
    );
  } catch (error) {
    await stop();
    throw error;
  }

  const serviceLogs = () => services.map((s) => `--- ${s.what} ---\n${s.tail().trim() || '(no output)'}`).join('\n');
  const serviceNamed = (what: string): Service => {
    const service = services.find((s) => s.what === what);
    if (service === undefined) throw new Error(`no service named ${what}: there are ${services.map((s) => s.what).join(', ')}`);
    return service;
  };

  return {
    name: 'containers',
    servers,
    agentNames,
    image,
    containerIds: () => Object.fromEntries(services.map((s) => [s.what, s.container.getId()])),
    async runClient(args) {
      let stdout: string;
      try {
        ({ stdout } = await runCommand(process.execPath, [CLIENT_PROGRAM, ...args], { timeoutMs: clientTimeoutMs }));
      } catch (error) {
        throw new Error(`e2e client \`${args.join(' ')}\` failed: ${(error as Error).message}\n${serviceLogs()}`, { cause: error });
      }
      const line = stdout.trim().split('\n').at(-1) ?? '';
      try {
        return JSON.parse(line) as unknown;
      } catch {
        throw new Error(`e2e client \`${args.join(' ')}\` printed no JSON object:\n${stdout}`);
      }
    },
    async killAgent(name) {
      if (!agentNames.includes(name)) throw new Error(`no agent named ${name}: agents are ${agentNames.join(', ')}`);
      // The agent is the container's main process: SIGKILL through the engine kills it as abruptly
      // as a crash (no close(), no goodbye to the coordinator), and the container ends with it.
      const client = await getContainerRuntimeClient();
      const container = client.container.getById(serviceNamed(name).container.getId());
      await container.kill({ signal: 'SIGKILL' });
      const deadline = Date.now() + KILL_WAIT_MS;
      while ((await container.inspect()).State.Running) {
        if (Date.now() > deadline) throw new Error(`agent container ${name} still runs ${KILL_WAIT_MS} ms after SIGKILL`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    stop,
  };
}
