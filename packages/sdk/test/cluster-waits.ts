/** Waits on what the cluster reports (agents with each heartbeat, every second), shared by the scenario suites. */
import type { Cluster } from '../src/index.js';

/** Memory the agents hold, as they report it. */
export async function usedBytes(cluster: Cluster): Promise<number> {
  return (await cluster.nodes()).reduce((sum, node) => sum + node.usedBytes, 0);
}

/** `usedBytes` once it has stopped changing: earlier cleanups have been reported. */
export async function settledUsedBytes(cluster: Cluster): Promise<number> {
  let previous = await usedBytes(cluster);
  for (let i = 0; i < 20; i++) {
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const current = await usedBytes(cluster);
    if (current === previous) return current;
    previous = current;
  }
  return previous;
}

/** Whether `condition` holds within 10 s. */
export async function eventually(condition: () => Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if (await condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

/**
 * Resolves once the coordinator shows `count` jobs running, plus `afterMs` (a coordinator
 * stores a running job 100 ms after it started, so a later coordinator can resume it).
 */
export async function jobsRunning(cluster: Cluster, count = 1, afterMs = 400): Promise<void> {
  const shown = await eventually(async () => (await cluster.runningJobs()).filter((job) => job.state === 'running').length >= count);
  if (!shown) throw new Error(`the coordinator did not show ${count} running job(s) within 10 s`);
  await new Promise((resolve) => setTimeout(resolve, afterMs));
}

/**
 * Resolves once a job runs: one the coordinator shows, or a reduce the agents run straight
 * from the client (their heartbeats count it), plus `afterMs`.
 */
export async function workRunning(cluster: Cluster, afterMs = 100): Promise<void> {
  const running = async () =>
    (await cluster.runningJobs()).some((job) => job.state === 'running') || (await cluster.nodes()).some((node) => (node.direct?.running ?? 0) > 0);
  if (!(await eventually(running))) throw new Error('no job was shown running within 10 s');
  await new Promise((resolve) => setTimeout(resolve, afterMs));
}

/**
 * `bounded(promise, what)`: the promise, or a rejection saying "<what> … hangs" once `hangMs`
 * pass: far beyond what the call may take in its test, so a call still pending then hangs.
 */
export function hangGuard(hangMs: number): <T>(promise: Promise<T>, what: string) => Promise<T> {
  return <T>(promise: Promise<T>, what: string) => {
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not settle within ${hangMs} ms: it hangs`)), hangMs);
    });
    return Promise.race([promise, hung]).finally(() => clearTimeout(timer));
  };
}
