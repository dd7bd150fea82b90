import { mkdir, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Argv } from 'yargs';
import { NATS_PID_FILE, NATS_STORE_DIR, natsServerBinary, startLocalCluster, type LocalCluster, type ServiceEvent } from '@sharc/launcher';
import { connect } from '@sharc/sdk';
import { runAction, type GlobalArgs } from '../context.js';
import { note, plural, printResult } from '../output.js';
import { byteSize, port, positiveInteger, UsageError } from '../options.js';
import { clusterStatus } from './inspect.js';
import { claimDataDir } from './up-lock.js';

/** This command's own script: `sharc up` runs each role as `node <bin> coordinator|agent`. */
const SHARC_BIN = fileURLToPath(new URL('../bin.js', import.meta.url));
/** The dashboard's port unless told otherwise (Ray's is 8265, Dask's 8787). */
export const DEFAULT_HTTP_PORT = 7265;
/** How long a leftover nats-server gets to stop before it is killed. */
const LEFTOVER_STOP_MS = 5000;

/** `sharc up`: a whole cluster on this machine, as separate processes, until Ctrl-C. */
export function upCommand(cli: Argv<GlobalArgs>, exit: (code: number) => void): Argv<GlobalArgs> {
  return cli.command(
    'up',
    'Launch a local cluster as separate processes (nats-server with JetStream, coordinator, N agents) until Ctrl-C; a service that exits is started again',
    (y) =>
      y
        .option('agents', { describe: 'Agent processes', default: 2, coerce: positiveInteger('agents') })
        .option('threads', { describe: 'Worker threads per agent [default: cores / agents, at least 1]', coerce: positiveInteger('threads') })
        .option('memory', { describe: 'Memory per agent, e.g. 4GiB [default: half of RAM / agents]', coerce: byteSize('memory') })
        .option('port', { describe: 'NATS port on 127.0.0.1', default: 4222, coerce: port('port') })
        .option('http-port', {
          describe: `Dashboard, /metrics and /healthz on 127.0.0.1 (served by the coordinator); 0: any free port [default: ${DEFAULT_HTTP_PORT}, or any free port if that one is taken]`,
          coerce: port('http-port'),
        })
        .option('http', { type: 'boolean', default: true, describe: 'Serve the dashboard and /metrics (--no-http: none)' })
        .option('data-dir', { type: 'string', default: '.sharc', describe: 'JetStream store, NATS config and service logs (logs/*.log); one sharc up per data dir' })
        .example('$0 up --agents 3', 'three agents; then in another terminal: sharc status')
        .example('$0 up --port 4333 --data-dir /tmp/sharc', 'a second cluster beside the first'),
    async (args) => {
      const code = await runAction(args, async () => {
        const agents = args.agents!;
        const threads = args.threads ?? Math.max(1, Math.floor(os.availableParallelism() / agents));
        const memory = args.memory ?? String(Math.floor(os.totalmem() / 2 / agents));
        const dataDir = path.resolve(args.dataDir);
        const logDir = path.join(dataDir, 'logs');
        natsServerBinary();
        if (args.port === 0) throw new UsageError('--port must be a port from 1 to 65535 (clients need to know it)');
        // One sharc up per data dir: a second one would stop the first one's nats-server.
        await claimDataDir(dataDir, args.port!);
        await stopLeftoverNatsServer(dataDir);
        // A new cluster: the state an earlier `sharc up` of this data dir left in JetStream
        // describes arrays whose agents, and their memory, are gone.
        await rm(path.join(dataDir, NATS_STORE_DIR), { recursive: true, force: true });
        await checkPortFree(args.port!);
        await mkdir(logDir, { recursive: true });
        const httpPort = args.http ? await httpPortFor(args.httpPort) : undefined;

        // Handlers stay for the whole run: a signal during startup stops what has started, and
        // a second Ctrl-C or a closed terminal (SIGHUP) cannot kill this process halfway through
        // stopping, which would leave nats-server behind.
        const stop = new AbortController();
        const onSignal = (signal: NodeJS.Signals) => {
          if (stop.signal.aborted) note(`sharc up: ${signal} again; still stopping the cluster`);
          stop.abort(signal);
        };
        const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
        for (const signal of signals) process.on(signal, onSignal);
        // After a SIGHUP the terminal is gone: writing to it must not end this process.
        process.stdout.on('error', () => undefined);
        process.stderr.on('error', () => undefined);
        note(`sharc up: starting nats-server on port ${args.port}, a coordinator and ${plural(agents, 'agent')} (${plural(threads, 'thread')} each); logs in ${logDir}`);
        // nats-server and the coordinator are started again after any exit, an agent after a
        // crash: their state is on disk (JetStream) or in the other processes, which reconnect.
        let gaveUp!: (why: string) => void;
        const failed = new Promise<string>((resolve) => (gaveUp = resolve));
        const onEvent = (event: ServiceEvent) => {
          if (stop.signal.aborted) return;
          const what = `${event.service} exited (${event.exit})`;
          if (event.kind === 'restarted') note(`sharc up: ${what}; restarted it (pid ${event.pid})`);
          else if (event.kind === 'stopped') note(`sharc up: ${what}: stopped on purpose, so not restarted; see its log`);
          else {
            const why = `${what}; it exited ${event.crashes} times within ${event.windowMs / 1000} s, so it is not restarted again`;
            if (event.essential) gaveUp(why);
            else note(`sharc up: ${why}; see its log`);
          }
        };
        let cluster: LocalCluster;
        try {
          cluster = await startLocalCluster({
            sharcBin: SHARC_BIN,
            agents,
            threads,
            memory,
            port: args.port!,
            cluster: args.cluster,
            dataDir,
            logDir,
            detached: true,
            env: { SHARC_LOG_LEVEL: args.logLevel },
            signal: stop.signal,
            restart: { onEvent },
            // Each agent serves its own /metrics on a free port (sharc status lists them).
            ...(httpPort === undefined ? {} : { coordinatorArgs: ['--http-port', String(httpPort)], agentArgs: ['--http-port', '0'] }),
          });
        } catch (error) {
          if (stop.signal.aborted) throw new Error(`${String(stop.signal.reason)} during startup: stopped what had started`);
          throw error;
        }
        try {
          const client = await connect({ servers: cluster.url, cluster: args.cluster });
          try {
            const alive = (await client.nodes()).filter((n) => n.state === 'alive').length;
            if (alive !== agents) throw new Error(`only ${alive} of ${plural(agents, 'agent')} registered; see ${logDir}`);
            process.stdout.write(`sharc cluster ready: ${cluster.url}\n`);
            if (httpPort !== undefined) process.stdout.write(`dashboard: http://127.0.0.1:${httpPort}/ (metrics: /metrics)\n`);
            const status = await clusterStatus(client);
            printResult(args, status.json, status.text);
          } finally {
            await client.close();
          }
          note(`\nClients: sharc status --servers ${cluster.url}${args.port === 4222 ? ' (the default)' : ''}. Ctrl-C stops the cluster.`);
          const why = await Promise.race([aborted(stop.signal), failed]);
          note(`\nsharc up: ${why}; stopping agents, then the coordinator, then nats-server`);
          if (!why.startsWith('SIG')) throw new Error(`${why}; see ${logDir}`);
        } finally {
          await cluster.stop();
          note('sharc up: cluster stopped');
        }
      });
      exit(code);
    },
  );
}

function aborted(signal: AbortSignal): Promise<string> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(String(signal.reason));
    signal.addEventListener('abort', () => resolve(String(signal.reason)), { once: true });
  });
}

/**
 * A nats-server that an earlier `sharc up` of this data dir left running (that one was killed
 * outright; nats-server cannot notice its parent is gone): found by its pid file, and stopped
 * only if its command line names this data dir's config. Called once this process holds the
 * data dir (claimDataDir): a live `sharc up` of it was refused before.
 */
async function stopLeftoverNatsServer(dataDir: string): Promise<void> {
  const pid = Number((await readFile(path.join(dataDir, NATS_PID_FILE), 'utf8').catch(() => '')).trim());
  if (!Number.isSafeInteger(pid) || pid <= 0) return;
  const commandLine = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (!commandLine.includes(path.join(dataDir, 'nats.conf'))) return;
  note(`sharc up: stopping nats-server (pid ${pid}) left running by an earlier sharc up of ${dataDir}`);
  process.kill(pid, 'SIGTERM');
  for (let waited = 0; waited < LEFTOVER_STOP_MS; waited += 100) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    if (!(await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).includes(dataDir)) return;
  }
  process.kill(pid, 'SIGKILL');
}

/**
 * The coordinator's HTTP port: the one asked for, which must be free; else the default, or any
 * free port when another program (another sharc up) holds the default.
 */
async function httpPortFor(asked: number | undefined): Promise<number> {
  if (asked !== undefined && asked !== 0) {
    await checkPortFree(asked, 'http-port');
    return asked;
  }
  if (asked === undefined && (await checkPortFree(DEFAULT_HTTP_PORT, 'http-port').then(() => true, () => false))) return DEFAULT_HTTP_PORT;
  return freePort();
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port: found } = server.address() as net.AddressInfo;
      server.close(() => resolve(found));
    });
  });
}

function checkPortFree(portNumber: number, option = 'port'): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new UsageError(`port ${portNumber} is in use (another sharc up${option === 'port' ? ' or nats-server' : ''}?): pick another with --${option}`)
          : error,
      ),
    );
    server.listen(portNumber, '127.0.0.1', () => server.close(() => resolve()));
  });
}

