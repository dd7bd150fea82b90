/**
 * The timer behind a liveness check (agents, clients) that notices when this process itself
 * did not run for a while: a long garbage collection or heap snapshot, SIGSTOP, a suspended
 * VM. A sweep that comes later than twice its period judges nobody: the heartbeats that
 * arrived meanwhile are still queued behind it (Node runs due timers before it reads sockets),
 * so silence over that time says nothing of the others. `onSweep(now, stalled)`: `stalled`
 * says this sweep ran late, and the caller counts nobody's silence before `now`.
 */
export class LivenessSweep {
  private readonly timer: NodeJS.Timeout;
  private lastSweep = Date.now();

  constructor(
    readonly everyMs: number,
    onSweep: (now: number, stalled: boolean) => void,
  ) {
    this.timer = setInterval(() => {
      const now = Date.now();
      const stalled = now - this.lastSweep > 2 * everyMs;
      this.lastSweep = now;
      onSweep(now, stalled);
    }, everyMs);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
  }
}
