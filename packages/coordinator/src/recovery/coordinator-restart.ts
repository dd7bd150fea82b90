import { holdersOf, type Logger } from '@sharc/protocol';
import type { JobScheduler } from '../jobs/job-scheduler.js';
import type { AgentRegistry } from '../registry/agent-registry.js';
import type { ArrayCatalog, ArrayRecord } from '../registry/array-catalog.js';
import type { PersistedJob, StateStore } from '../state/state-store.js';

/** How often a restarted coordinator checks whether the agents it expects have rejoined. */
const REJOIN_POLL_MS = 100;

export interface RestartDeps {
  arrays: ArrayCatalog;
  agents: AgentRegistry;
  scheduler: JobScheduler;
  state: StateStore;
  logger: Logger;
  deadAfterMs: number;
  /** The agent is gone: its partitions move (as when it is declared dead). */
  agentDead(agentId: string): void;
  drop(record: ArrayRecord): Promise<void>;
  /** Makes again the copies lost before (or with) the previous coordinator. */
  restoreCopies(): void;
}

/**
 * What a coordinator started on stored state does before it carries on. Agents of the
 * previous coordinator rejoin at their next heartbeat; once all are back, or the liveness
 * window has passed (those still away are dead, and their partitions are recovered), the
 * stored jobs resume and outputs of jobs that were not stored are freed. Resolves then.
 */
export function resumeAfterRejoin(
  deps: RestartDeps,
  jobs: readonly PersistedJob[],
  agentIds: readonly string[],
): { rejoined: Promise<void>; stop(): void } {
  // (A partition lost for good is held by nobody: its last agent may never come back.)
  const holders = new Set(deps.arrays.all().flatMap((r) => r.meta.partitions.filter((p) => !r.meta.lostPartitions?.includes(p.index)).flatMap(holdersOf)));
  const expected = new Set([...holders, ...agentIds]);
  let timer: NodeJS.Timeout | undefined;
  const stop = () => clearTimeout(timer);
  if (expected.size === 0 && jobs.length === 0) return { rejoined: Promise.resolve(), stop };
  const deadline = Date.now() + (Number.isFinite(deps.deadAfterMs) ? deps.deadAfterMs : 0);
  const rejoined = new Promise<void>((resolve) => {
    const check = () => {
      const missing = [...expected].filter((id) => !deps.agents.isAlive(id));
      if (missing.length > 0 && Date.now() < deadline) {
        timer = setTimeout(check, REJOIN_POLL_MS);
        timer.unref();
        return;
      }
      for (const id of missing) {
        deps.logger.warn('an agent of the previous coordinator did not rejoin', { agent: id });
        if (holders.has(id)) deps.agentDead(id);
        else deps.state.deleteAgent(id);
      }
      resolve();
      for (const job of jobs) deps.scheduler.resume(job);
      void dropOrphanedOutputs(deps, jobs);
      deps.restoreCopies();
    };
    check();
  });
  return { rejoined, stop };
}

/** Map outputs a previous coordinator allocated for jobs that were not stored (they ran < 100 ms): nobody will commit them. */
async function dropOrphanedOutputs(deps: RestartDeps, resumed: readonly PersistedJob[]): Promise<void> {
  const claimed = (record: ArrayRecord) =>
    resumed.some(
      (job) =>
        job.outputId === record.meta.id ||
        (job.spec.kind === 'map' && record.origin.kind === 'map' && job.spec.outputName === record.meta.name && job.spec.arrayId === record.origin.inputId),
    );
  for (const record of deps.arrays.all()) {
    if (record.state !== 'pending' || record.transferToken !== undefined || claimed(record)) continue;
    deps.logger.warn('dropping the output of a job the previous coordinator did not store', { arrayId: record.meta.id, name: record.meta.name });
    await deps.drop(record).catch(() => undefined);
  }
}
