import type { Argv } from 'yargs';
import os from 'node:os';
import { Coordinator, CoordinatorMetrics, dashboardRoutes, KvStateStore, LeaderLease, MAX_STATE_REPLICAS, MemoryStateStore } from '@sharc/coordinator';
import { Agent, AgentMetrics } from '@sharc/node-agent';
import { connectNats, natsConnectionOf, parseByteSize, serveHttp, type HttpRoute } from '@sharc/protocol';
import { runAction, type GlobalArgs } from '../context.js';
import { metricsRoute, type MetricsSource } from '../metrics-route.js';
import { serviceLogger } from '../logging.js';
import { agentName, byteSize, duration, natsAuthOf, nonNegativeInteger, port, positiveInteger, UsageError } from '../options.js';
import { runUntilStopped } from '../service.js';

/** `sharc coordinator` and `sharc agent`: the long-running roles of a multi-host cluster. */
export function serviceCommands(cli: Argv<GlobalArgs>, exit: (code: number) => void): Argv<GlobalArgs> {
  // A service runs until stopped and exits by itself; one that failed to start exits at once,
  // whatever it had opened (its NATS connection would keep it running, doing nothing).
  const exitService = (code: number) => {
    exit(code);
    if (code !== 0) process.exit(code);
  };
  // Set by launchers: stop when the launcher's IPC channel closes, i.e. when the launcher is gone.
  const withStopOption = <T>(y: Argv<T>) => y.option('stop-with-parent', { type: 'boolean', default: false, hidden: true });
  return cli
    .command(
      'coordinator',
      'Run the coordinator: places arrays, schedules jobs, watches agents (one per cluster)',
      (y) =>
        withStopOption(y)
          .option('dead-after-ms', {
            describe: 'Declare an agent dead, or a client gone (its uploads in progress dropped, its jobs cancelled unless detached), after this long without a heartbeat',
            default: 3000,
            coerce: positiveInteger('dead-after-ms'),
          })
          .option('copies', {
            describe: 'Copies of each uploaded partition, on distinct agents (2 survives one agent\'s death; a put may ask for fewer)',
            default: 2,
            coerce: positiveInteger('copies'),
          })
          .option('state', {
            choices: ['jetstream', 'memory'] as const,
            default: 'jetstream' as const,
            describe: 'Where arrays, placement, kernels and running jobs are kept: jetstream survives a coordinator restart; memory forgets everything',
          })
          .option('state-replicas', {
            describe: `Copies JetStream keeps of that state and of the coordinators' lease, each on another server of a NATS cluster (3 on a 3-server cluster survives the loss of one server); at most the number of servers, ${MAX_STATE_REPLICAS} at most`,
            default: 1,
            coerce: stateReplicas,
          })
          .option('max-running-jobs', {
            describe: 'Jobs (reduce, map) that run at once; more wait in a FIFO queue and allocate nothing until they start',
            default: 64,
            coerce: positiveInteger('max-running-jobs'),
          })
          .option('max-queued-jobs', {
            describe: 'Jobs that may wait for a running slot; a submission beyond them fails with a retryable BusyError',
            default: 1024,
            coerce: nonNegativeInteger('max-queued-jobs'),
          })
          .option('keep-results', {
            describe: 'How long the outcome of a detached job (sharc submit) is kept after it ended, for sharc result and sharc jobs: milliseconds, or 30m, 24h, 7d…',
            default: '24h',
            coerce: duration('keep-results'),
          })
          .option('http-port', { describe: 'Serve the dashboard, /metrics and /healthz on this port (0: any free one) [default: no HTTP]', coerce: port('http-port') })
          .option('http-host', { type: 'string', default: '127.0.0.1', describe: 'Address the HTTP port listens on; any other than loopback needs --http-token' })
          .option('http-token', { type: 'string', describe: 'Token HTTP requests must carry (Authorization: Bearer, or ?token= once in a browser); prefer SHARC_HTTP_TOKEN' })
          .example('$0 coordinator --servers nats://10.0.0.1:4222', 'run the coordinator of the default cluster')
          .example('$0 coordinator --dead-after-ms 5000 --copies 1', 'a longer liveness window; one copy per partition (no replicas)')
          .example('$0 coordinator --max-running-jobs 8 --max-queued-jobs 100', 'run 8 jobs at once, queue 100, refuse the rest as busy')
          .example('$0 coordinator --keep-results 7d', 'keep the results of detached jobs for a week')
          .example('$0 coordinator --state-replicas 3', 'keep the state on 3 servers of a NATS cluster (list them in --servers)'),
      async (args) => {
        exitService(
          await runAction(args, async () => {
            const logger = serviceLogger('coordinator', args.logLevel);
            const auth = natsAuthOf(args);
            const transport = await connectNats({ servers: args.servers, name: 'sharc-coordinator', logger, ...(auth === undefined ? {} : { auth }) });
            const connection = natsConnectionOf(transport);
            let state: KvStateStore | MemoryStateStore = new MemoryStateStore();
            let lease: LeaderLease | undefined;
            if (args.state === 'jetstream' && connection !== undefined) {
              // One active coordinator per cluster: the holder of the lease. Others wait as
              // standbys and take over when it stops renewing it.
              lease = await LeaderLease.open(connection, args.cluster, `${os.hostname()}-${process.pid}`, logger, { replicas: args.stateReplicas! });
              await lease.acquire((holder) => {
                logger.info('standby: another coordinator is active; taking over when it stops', { active: holder });
                process.stdout.write('sharc coordinator standby\n');
              });
              lease.keep(() => {
                // Another coordinator is active now: stop at once (a supervisor restarts this one as a standby).
                logger.error('this coordinator lost its lease to another one; stopping');
                process.exit(1);
              });
              const store = await KvStateStore.open(connection, args.cluster, logger, { replicas: args.stateReplicas! });
              const held = lease;
              store.fenceWith(() => held.held);
              state = store;
            }
            const coordinator = await Coordinator.start(transport, {
              logger,
              cluster: args.cluster,
              deadAfterMs: args.deadAfterMs!,
              copies: args.copies!,
              ...(lease === undefined ? {} : { lease }),
              maxRunningJobs: args.maxRunningJobs!,
              maxQueuedJobs: args.maxQueuedJobs!,
              keepResultsMs: args.keepResults!,
              state,
            }).catch(async (error: unknown) => {
              // (Saved state it cannot read.) Give the lease up, so a fixed coordinator starts at
              // once, and disconnect, so this process exits with the error.
              await lease?.release();
              await transport.close();
              throw error;
            });
            const web =
              args.httpPort === undefined
                ? undefined
                : await serveHttp({
                    what: 'coordinator',
                    host: args.httpHost,
                    port: args.httpPort,
                    ...(args.httpToken === undefined ? {} : { token: args.httpToken }),
                    routes: coordinatorRoutes(lease, coordinator, new CoordinatorMetrics(coordinator)),
                    logger,
                  });
            logger.info('coordinator ready', { servers: args.servers, cluster: args.cluster, ...(web === undefined ? {} : { http: web.url }) });
            if (web !== undefined) process.stdout.write(`sharc coordinator http ${web.url}\n`);
            process.stdout.write('sharc coordinator ready\n');
            await runUntilStopped(
              async () => {
                await web?.close();
                await coordinator.close();
                await lease?.release();
              },
              logger,
              args.stopWithParent,
            );
          }),
        );
      },
    )
    .command(
      'agent',
      'Run a node agent: holds partitions in shared memory and runs kernels on its worker threads (one per host)',
      (y) =>
        withStopOption(y)
          .option('name', { type: 'string', describe: "This agent's id, unique in the cluster [default: <hostname>-<pid>]", coerce: agentName })
          .option('threads', { describe: 'Worker threads [default: all cores]', coerce: positiveInteger('threads') })
          .option('memory', { describe: 'Memory for partitions, e.g. 4GiB [default: 80% of RAM]', coerce: byteSize('memory') })
          .option('advertise-host', { type: 'string', describe: "Address clients use to reach this agent's data port [default: first non-loopback IPv4]" })
          .option('data-host', { type: 'string', describe: 'Address the data port listens on [default: 0.0.0.0]' })
          .option('data-port', { describe: 'Data port [default: any free port]', coerce: port('data-port') })
          .option('thread-heap-mb', {
            describe: 'Heap limit of each worker thread in MiB: a kernel that allocates past it fails its job ("out of memory") and only its thread is replaced [default: 1024]',
            coerce: positiveInteger('thread-heap-mb'),
          })
          .option('http-port', { describe: 'Serve /metrics and /healthz on this port (0: any free one) [default: no HTTP]', coerce: port('http-port') })
          .option('http-host', { type: 'string', default: '127.0.0.1', describe: 'Address the HTTP port listens on; any other than loopback needs --http-token' })
          .option('http-token', { type: 'string', describe: 'Token HTTP requests must carry (Authorization: Bearer); prefer SHARC_HTTP_TOKEN' })
          .example('$0 agent --servers nats://10.0.0.1:4222 --threads 16 --memory 48GiB', 'serve 48 GiB of partitions on 16 threads')
          .example('$0 agent --name gpu-box-1 --advertise-host 10.0.0.7 --data-port 7070', 'a fixed name and data address (containers, firewalls)')
          .example('$0 agent --http-port 9465 --http-host 0.0.0.0', 'serve /metrics to Prometheus (with SHARC_HTTP_TOKEN set)'),
      async (args) => {
        exitService(
          await runAction(args, async () => {
            const name = args.name ?? undefined;
            const logger = serviceLogger(`agent ${name ?? process.pid}`, args.logLevel);
            const auth = natsAuthOf(args);
            // Up before the agent registers, so the coordinator hears its URL with it (503 until
            // then), and before NATS, so a port or token problem is told at once.
            const started: { metrics?: AgentMetrics } = {};
            const web =
              args.httpPort === undefined
                ? undefined
                : await serveHttp({
                    what: `agent ${name ?? process.pid}`,
                    host: args.httpHost,
                    port: args.httpPort,
                    ...(args.httpToken === undefined ? {} : { token: args.httpToken }),
                    routes: agentRoutes(() => started.metrics),
                    logger,
                  });
            const transport = await connectNats({ servers: args.servers, name: `sharc-agent-${name ?? process.pid}`, logger, ...(auth === undefined ? {} : { auth }) }).catch(
              async (error: unknown) => {
                await web?.close();
                throw error;
              },
            );
            const agent = await Agent.start(transport, {
              ...(web === undefined ? {} : { httpUrl: web.url }),
              logger,
              cluster: args.cluster,
              ...(name === undefined ? {} : { name }),
              ...(args.threads === undefined ? {} : { threads: args.threads }),
              ...(args.memory === undefined ? {} : { memoryBytes: parseByteSize(args.memory, '--memory') }),
              ...(args.advertiseHost === undefined ? {} : { advertiseHost: args.advertiseHost }),
              ...(args.dataHost === undefined ? {} : { dataHost: args.dataHost }),
              ...(args.dataPort === undefined ? {} : { dataPort: args.dataPort }),
              ...(args.threadHeapMb === undefined ? {} : { threadHeapMb: args.threadHeapMb }),
            });
            started.metrics = new AgentMetrics(agent);
            logger.info('agent ready', { agent: agent.id, servers: args.servers, ...(web === undefined ? {} : { http: agent.info().httpUrl }) });
            if (web !== undefined) process.stdout.write(`sharc agent http ${agent.info().httpUrl}\n`);
            process.stdout.write(`sharc agent ready ${agent.id}\n`);
            await runUntilStopped(
              async () => {
                await web?.close();
                await agent.close();
              },
              logger,
              args.stopWithParent,
            );
          }),
        );
      },
    );
}

function stateReplicas(value: unknown): number | undefined {
  const replicas = positiveInteger('state-replicas')(value);
  if (replicas !== undefined && replicas > MAX_STATE_REPLICAS) {
    throw new UsageError(`--state-replicas must be from 1 to ${MAX_STATE_REPLICAS} (JetStream's limit), got ${replicas}`);
  }
  return replicas;
}

/** What the coordinator serves over HTTP (--http-port): the dashboard (`/`, `/api/state`, `/api/events`), /metrics and /healthz. */
function coordinatorRoutes(lease: LeaderLease | undefined, coordinator: Coordinator, metrics: MetricsSource): Record<string, HttpRoute> {
  return {
    ...dashboardRoutes(coordinator),
    '/metrics': metricsRoute(metrics),
    // For load balancers and supervisors: 200 while this coordinator is the active one.
    '/healthz': (_request, response) => {
      const active = lease === undefined || lease.held;
      response.writeHead(active ? 200 : 503, { 'content-type': 'text/plain' }).end(active ? 'active\n' : 'lease not held\n');
    },
  };
}

/** What an agent serves over HTTP (--http-port): its metrics once it has registered. */
function agentRoutes(metrics: () => MetricsSource | undefined): Record<string, HttpRoute> {
  return {
    '/metrics': metricsRoute(metrics),
    // For supervisors (a Kubernetes readiness probe): 200 once the agent has registered.
    '/healthz': (_request, response) => {
      const ready = metrics() !== undefined;
      response.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ready\n' : 'starting\n');
    },
  };
}
