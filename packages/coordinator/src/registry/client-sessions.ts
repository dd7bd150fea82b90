import type { Logger } from '@sharc/protocol';
import { LivenessSweep } from './liveness-sweep.js';

/**
 * Which clients are still there: the lease on what the coordinator holds for a client (its
 * uploads in progress, its running jobs). Every message from a client renews it, and clients
 * send a `client.heartbeat` every second; one silent for `deadAfterMs` is gone, and `onGone`
 * drops what it held (as Dask's scheduler drops a disconnected client's futures, and Ray an
 * owner's objects). A client is judged only by what this coordinator could have heard: after
 * a restart, or a pause of its own, each gets a full window again.
 */
export class ClientSessions {
  private readonly lastHeard = new Map<string, number>();
  private readonly sweeper: LivenessSweep | undefined;
  /** Whether this coordinator is cut off from NATS now, and since when it could hear clients again. */
  private cutOff = false;
  private deafUntil = 0;

  constructor(
    private readonly deadAfterMs: number,
    private readonly logger: Logger,
    private readonly onGone: (clientId: string, silentForMs: number) => void,
    private readonly active: () => boolean = () => true,
  ) {
    // Infinity turns liveness off: the embedded cluster's one client is this process.
    if (Number.isFinite(deadAfterMs)) this.sweeper = new LivenessSweep(Math.max(100, Math.floor(deadAfterMs / 4)), (now, stalled) => this.sweep(now, stalled));
  }

  /** The client was heard from: its lease runs a full window from now. */
  heard(clientId: string): void {
    this.lastHeard.set(clientId, Date.now());
  }

  /**
   * A client that holds something this coordinator has not heard from yet (its state was
   * restored from the store): it gets a full window from now to show it is still there.
   */
  expect(clientId: string): void {
    if (!this.lastHeard.has(clientId)) this.heard(clientId);
  }

  /**
   * The coordinator's own connection to NATS went (false) or came back (true): while it is
   * away no client can be heard, so nobody's silence counts until it is back.
   */
  connected(connected: boolean): void {
    this.cutOff = !connected;
    this.deafUntil = Date.now();
  }

  close(): void {
    this.sweeper?.close();
  }

  private sweep(now: number, stalled: boolean): void {
    // A coordinator cut off from NATS, unsure of its lease (it ignores messages then), or that
    // did not run for a while cannot hear clients, and must not judge them: their silence
    // counts from when it hears again.
    if (!this.active() || this.cutOff || stalled) {
      this.deafUntil = now;
      return;
    }
    for (const [clientId, heard] of this.lastHeard) {
      const silentForMs = now - Math.max(heard, this.deafUntil);
      if (silentForMs <= this.deadAfterMs) continue;
      this.lastHeard.delete(clientId);
      this.logger.debug('client session ended', { client: clientId, silentForMs });
      this.onGone(clientId, silentForMs);
    }
  }
}
