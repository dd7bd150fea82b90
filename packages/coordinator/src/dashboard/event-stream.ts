import type http from 'node:http';
import { checkKeys, InvalidArgumentError, keysOf } from '@sharc/protocol';
import type { ClusterEvent } from '../observe/cluster-events.js';
import { STREAM_EVENTS, type DashboardArray, type DashboardSnapshot } from './dashboard-state.js';
import { dashboardSnapshot, dashboardState, type DashboardSource } from './summarize.js';

export interface DashboardStreamOptions {
  /** How often pages get what changed. @default 1000 */
  updateMs?: number;
  /** A comment line after this long without a message keeps proxies from closing the stream. @default 15000 */
  keepAliveMs?: number;
  /** Cluster events are sent in batches at most this often (a death's burst grows thousands of times). @default 200 */
  eventBatchMs?: number;
  /**
   * A page with more unsent bytes than this when the next message is due is dropped (its
   * browser reconnects by itself and gets a fresh snapshot): a stalled page cannot grow the
   * coordinator's memory. @default 4 MiB
   */
  maxBufferedBytes?: number;
}

const DEFAULTS: Required<DashboardStreamOptions> = { updateMs: 1000, keepAliveMs: 15_000, eventBatchMs: 200, maxBufferedBytes: 4 * 1024 * 1024 };
const OPTION_KEYS = keysOf<DashboardStreamOptions>()(['updateMs', 'keepAliveMs', 'eventBatchMs', 'maxBufferedBytes']);

/** Defaults filled in, each checked once (a clear error naming the field). */
function resolveStreamOptions(options: DashboardStreamOptions): Required<DashboardStreamOptions> {
  checkKeys(options, { of: 'dashboardRoutes', keys: OPTION_KEYS });
  const resolved = { ...DEFAULTS, ...options };
  for (const key of OPTION_KEYS) {
    const value = resolved[key];
    if (!(Number.isFinite(value) && value > 0)) throw new InvalidArgumentError(`${key} of dashboardRoutes must be a positive number, got ${String(value)}`);
  }
  return resolved;
}
/** How long a browser waits before reconnecting a dropped stream (the SSE `retry:` field). */
const RECONNECT_MS = 2000;

/** One open page: what it was last sent, as JSON, to send it only what changed. */
interface Listener {
  response: http.ServerResponse;
  agents: string;
  jobs: string;
  arrays: Map<string, string>;
  lastWriteAt: number;
}

/** This tick's state, each part serialized once for every page. */
interface Tick {
  at: number;
  agents: string;
  jobs: string;
  arrays: Map<string, string>;
}

/**
 * The dashboard's live feed (`/api/events`, Server-Sent Events): a snapshot when a page
 * connects, then what changed about once a second, and each cluster event as it happens.
 * Nothing runs while no page listens: the timer and the event listener exist only while one does.
 */
export class DashboardStream {
  private readonly listeners = new Set<Listener>();
  private readonly options: Required<DashboardStreamOptions>;
  private timer: NodeJS.Timeout | undefined;
  private unlisten: (() => void) | undefined;
  /** Cluster events heard since the last batch, by id (a growing burst is sent once, as it is then). */
  private readonly pendingEvents = new Map<number, ClusterEvent>();
  private eventTimer: NodeJS.Timeout | undefined;
  /** Summaries serialized at the last tick, by object: an unchanged array is not serialized again. */
  private serialized = new WeakMap<DashboardArray, string>();

  constructor(
    private readonly source: DashboardSource,
    options: DashboardStreamOptions = {},
  ) {
    this.options = resolveStreamOptions(options);
  }

  /** Pages listening now. */
  get size(): number {
    return this.listeners.size;
  }

  /** Serves one page's stream until it goes away. */
  attach(request: http.IncomingMessage, response: http.ServerResponse): void {
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      // Proxies that buffer (nginx) would hold the stream back.
      'x-accel-buffering': 'no',
    });
    if (request.method === 'HEAD') {
      response.end();
      return;
    }
    response.socket?.setNoDelay(true);
    const snapshot = dashboardSnapshot(this.source);
    const tick = this.serialize(snapshot);
    const listener: Listener = { response, agents: tick.agents, jobs: tick.jobs, arrays: new Map(tick.arrays), lastWriteAt: 0 };
    this.listeners.add(listener);
    const drop = () => this.drop(listener);
    response.once('close', drop);
    response.once('error', drop);
    this.write(listener, `retry: ${RECONNECT_MS}\n\n${message(STREAM_EVENTS.snapshot, JSON.stringify(snapshot))}`);
    if (this.listeners.size === 1) this.start();
  }

  private start(): void {
    this.unlisten = this.source.events.on((event) => this.heard(event));
    this.timer = setInterval(() => this.update(), this.options.updateMs);
    this.timer.unref();
  }

  private stop(): void {
    clearInterval(this.timer);
    clearTimeout(this.eventTimer);
    this.timer = undefined;
    this.eventTimer = undefined;
    this.unlisten?.();
    this.unlisten = undefined;
    this.pendingEvents.clear();
    this.serialized = new WeakMap();
  }

  private drop(listener: Listener): void {
    if (!this.listeners.delete(listener)) return;
    if (!listener.response.destroyed) listener.response.destroy();
    if (this.listeners.size === 0) this.stop();
  }

  private heard(event: ClusterEvent): void {
    this.pendingEvents.set(event.id, event);
    if (this.eventTimer !== undefined) return;
    this.eventTimer = setTimeout(() => {
      this.eventTimer = undefined;
      // Serialized now: a summed event has its count as it is at this moment.
      const batch = [...this.pendingEvents.values()].map((pending) => message(STREAM_EVENTS.cluster, JSON.stringify(pending))).join('');
      this.pendingEvents.clear();
      for (const listener of [...this.listeners]) this.write(listener, batch);
    }, this.options.eventBatchMs);
    this.eventTimer.unref();
  }

  /** Sends each page what changed since what it was last sent. */
  private update(): void {
    const tick = this.serialize(dashboardState(this.source));
    for (const listener of [...this.listeners]) {
      // Still sending the last one: this page is slow. It gets all that changed meanwhile once
      // it caught up, so it is not sent a message per second it cannot take.
      if (listener.response.writableLength > 0) continue;
      const parts: string[] = [];
      if (tick.agents !== listener.agents) parts.push(`"agents":${(listener.agents = tick.agents)}`);
      if (tick.jobs !== listener.jobs) parts.push(`"jobs":${(listener.jobs = tick.jobs)}`);
      const changed: string[] = [];
      for (const [id, json] of tick.arrays) {
        if (listener.arrays.get(id) !== json) {
          changed.push(json);
          listener.arrays.set(id, json);
        }
      }
      const removed = [...listener.arrays.keys()].filter((id) => !tick.arrays.has(id));
      for (const id of removed) listener.arrays.delete(id);
      if (changed.length > 0) parts.push(`"arrays":[${changed.join(',')}]`);
      if (removed.length > 0) parts.push(`"removedArrays":${JSON.stringify(removed)}`);
      if (parts.length > 0) this.write(listener, message(STREAM_EVENTS.update, `{"at":${tick.at},${parts.join(',')}}`));
      else if (tick.at - listener.lastWriteAt >= this.options.keepAliveMs) this.write(listener, ': keep-alive\n\n');
    }
  }

  private serialize(snapshot: Omit<DashboardSnapshot, 'events'>): Tick {
    const arrays = new Map<string, string>();
    const serialized = new WeakMap<DashboardArray, string>();
    for (const array of snapshot.arrays) {
      const json = this.serialized.get(array) ?? JSON.stringify(array);
      serialized.set(array, json);
      arrays.set(array.id, json);
    }
    this.serialized = serialized;
    return { at: snapshot.at, agents: JSON.stringify(snapshot.agents), jobs: JSON.stringify(snapshot.jobs), arrays };
  }

  /**
   * Writes unless the page still has more than maxBufferedBytes unsent: then it is dropped. A
   * page's unsent bytes are so bounded by that plus one message, and a big message to a page
   * that keeps up (a snapshot of many arrays) is not mistaken for a stalled page.
   */
  private write(listener: Listener, text: string): void {
    const { response } = listener;
    if (response.destroyed || response.writableEnded || response.writableLength > this.options.maxBufferedBytes) return this.drop(listener);
    response.write(text);
    listener.lastWriteAt = Date.now();
  }
}

/** One SSE message; JSON has no raw newlines, so `data` is one line. */
function message(event: string, data: string): string {
  return `event: ${event}\ndata: ${data}\n\n`;
}
