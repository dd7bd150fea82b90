/**
 * The dashboard scenario's parts: a real `sharc up` (spawned CLI, its own process group, free
 * ports), agents started beside it, and Debian's chromium driven headless by puppeteer-core
 * (nothing downloads a browser). Used by test/dashboard.test.ts and scripts/dashboard-screenshots.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { environmentValue } from '@sharc/protocol';
import { freePort, SHARC_BIN, waitForLine } from '@sharc/test-support';
import { cleanUpOnExit } from './exit-cleanup.js';

const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 20_000;
/** The browser the e2e suite drives: Debian's (scripts/ensure-deps.sh --chromium); SHARC_CHROMIUM for another. */
export const CHROMIUM = environmentValue('SHARC_CHROMIUM') ?? '/usr/bin/chromium';
/** A laptop screen: the dashboard must read well at this size. */
export const VIEWPORT = { width: 1280, height: 800 };

/** A process started in its own process group, stopped with everything it started. */
class Group {
  private output = '';
  private readonly forget: () => void;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString()).slice(-20_000);
      if (environmentValue('SHARC_TEST_VERBOSE')) process.stderr.write(`[${name}] ${chunk.toString()}`);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.forget = cleanUpOnExit(() => this.signal('SIGKILL'));
  }

  /** What it printed last, for failure messages. */
  get tail(): string {
    return this.output;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  signal(signal: NodeJS.Signals): void {
    if (!this.running || this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, signal);
    } catch {
      // Already gone.
    }
  }

  /** `signal` to the group, SIGKILL to it if it has not exited within STOP_TIMEOUT_MS. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.running) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.signal(signal);
      const timer = setTimeout(() => this.signal('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }
    // What it started and left (none, when it stopped cleanly).
    this.signal('SIGKILL');
    this.forget();
  }
}

function startGroup(name: string, args: readonly string[]): Group {
  const child = spawn(process.execPath, [SHARC_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, SHARC_LOG_LEVEL: 'warn' } });
  return new Group(name, child);
}

export interface UpCluster {
  /** NATS, for clients. */
  natsUrl: string;
  /** The dashboard, as `sharc up` printed it. */
  dashboardUrl: string;
  /** Starts an agent outside `sharc up` (not restarted when it dies), of `cluster` (default: sharc up's); resolves with its pid once it is ready. */
  addAgent(name: string, cluster?: string): Promise<number>;
  /** SIGKILLs an agent started with addAgent. */
  killAgent(name: string): void;
  /** What `sharc up` printed, for failure messages. */
  tail(): string;
  stop(): Promise<void>;
}

/** `sharc up` on free ports, in a temporary data dir; the dashboard on any free port. */
export async function startUp(options: { agents: number; memory: string }): Promise<UpCluster> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-dashboard-'));
  const port = await freePort();
  const common = ['--threads', '1', '--memory', options.memory];
  const up = startGroup('sharc up', ['up', '--agents', String(options.agents), ...common, '--port', String(port), '--http-port', '0', '--data-dir', path.join(dir, 'data')]);
  const extra = new Map<string, Group>();
  const natsUrl = `nats://127.0.0.1:${port}`;
  const stop = async () => {
    await Promise.all([...extra.values()].map((agent) => agent.stop()));
    await up.stop('SIGINT');
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitForLine(up.child, /dashboard: http:\/\/\S+/, START_TIMEOUT_MS, 'sharc up');
  } catch (error) {
    await stop();
    throw error;
  }
  const dashboardUrl = /dashboard: (http:\/\/\S+)/.exec(up.tail)![1]!;
  return {
    natsUrl,
    dashboardUrl,
    async addAgent(name, cluster) {
      const agent = startGroup(name, ['agent', '--servers', natsUrl, '--name', name, ...common, ...(cluster === undefined ? [] : ['--cluster', cluster])]);
      extra.set(name, agent);
      await waitForLine(agent.child, /sharc agent ready/, START_TIMEOUT_MS, name);
      return agent.child.pid!;
    },
    killAgent(name) {
      const agent = extra.get(name);
      if (agent === undefined) throw new Error(`no agent ${name} started by the test`);
      agent.signal('SIGKILL');
    },
    tail: () => up.tail,
    stop,
  };
}

/** A coordinator on its own (with a token), for the token case; NATS from `natsUrl`. */
export async function startCoordinator(natsUrl: string, cluster: string, token: string): Promise<{ url: string; stop(): Promise<void> }> {
  const coordinator = startGroup('coordinator', ['coordinator', '--servers', natsUrl, '--cluster', cluster, '--state', 'memory', '--http-port', '0', '--http-token', token]);
  try {
    await waitForLine(coordinator.child, /sharc coordinator ready/, START_TIMEOUT_MS, 'sharc coordinator');
  } catch (error) {
    await coordinator.stop();
    throw error;
  }
  return { url: /sharc coordinator http (\S+)/.exec(coordinator.tail)![1]!, stop: () => coordinator.stop() };
}

/** Headless chromium: `--no-sandbox` because the suite runs as root, where chromium's sandbox refuses to start. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no browser at ${CHROMIUM}: install Debian's chromium (bash scripts/ensure-deps.sh --chromium), or set SHARC_CHROMIUM`);
  }
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run', '--no-default-browser-check'],
    defaultViewport: VIEWPORT,
  });
  const forget = cleanUpOnExit(() => browser.process()?.kill('SIGKILL'));
  browser.once('disconnected', forget);
  return browser;
}

/** Opens the dashboard and waits for its first snapshot to be drawn; page errors fail the run. */
export async function openDashboard(browser: Browser, url: string, errors: string[]): Promise<Page> {
  const page = await browser.newPage();
  page.on('pageerror', (error) => errors.push(`page error: ${String(error)}`));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  page.on('requestfailed', (request) => {
    // The live stream is cut when the page closes: not a failure.
    if (!request.url().endsWith('/api/events')) errors.push(`request failed: ${request.url()} ${request.failure()?.errorText ?? ''}`);
  });
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForSelector('html[data-ready="true"]', { timeout: START_TIMEOUT_MS });
  return page;
}
