/**
 * The chaos loop of the fault suite, run by the test process: SIGKILLs a random agent, waits a
 * little, starts it again under the same name, waits until the cluster sees it alive, lets the
 * cluster settle, and again, a bounded number of times. One agent at most is down at a time.
 * With `natsBlipMs`, every other fault is a NATS blip instead: nats-server SIGKILLed and
 * started again after a pause.
 */
import type { NetnsCluster } from './netns-backend.js';

export interface ChaosMonkeyOptions {
  /** Kills at most. */
  kills: number;
  /** No kill starts after this long. */
  maxMs: number;
  /** Seeds the choice of victims and down times (printed, so a run can be repeated). */
  seed: number;
  /** How long a killed agent stays down: a random time in [min, max]. Shorter than the 3 s liveness window, a restart replaces a process not yet declared dead. */
  downMs: readonly [number, number];
  /** Every other fault kills nats-server for a random time in [min, max] instead of an agent. */
  natsBlipMs?: readonly [number, number];
  /** Pause after an agent is back before the next kill. */
  settleMs: number;
  /** Resolves once every agent named is alive in nodes() (the fault client's `alive`). */
  untilAlive(agents: readonly string[]): Promise<void>;
}

export interface KillRecord {
  /** The agent killed, or 'nats-server'. */
  victim: string;
  killedAt: number;
  restartedAt: number;
  aliveAt: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A small seeded generator (mulberry32): the same seed gives the same victims and pauses. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Kills and restarts agents as described above; resolves with what it did. */
export async function killAndRestartAgents(cluster: NetnsCluster, options: ChaosMonkeyOptions): Promise<KillRecord[]> {
  const random = seededRandom(options.seed);
  const startedAt = Date.now();
  const kills: KillRecord[] = [];
  const between = ([min, max]: readonly [number, number]) => min + random() * (max - min);
  while (kills.length < options.kills && Date.now() - startedAt < options.maxMs) {
    const blip = options.natsBlipMs !== undefined && kills.length % 2 === 1;
    let victim: string;
    const killedAt = Date.now();
    if (blip) {
      victim = 'nats-server';
      await cluster.blipNats(between(options.natsBlipMs!));
    } else {
      victim = cluster.agentNames[Math.floor(random() * cluster.agentNames.length)]!;
      await cluster.killAgent(victim);
      await sleep(between(options.downMs));
      await cluster.restartAgent(victim);
    }
    const restartedAt = Date.now();
    await options.untilAlive(cluster.agentNames);
    kills.push({ victim, killedAt, restartedAt, aliveAt: Date.now() });
    await sleep(options.settleMs);
  }
  return kills;
}
