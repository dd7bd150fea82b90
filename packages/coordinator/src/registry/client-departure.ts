import { ConnectionError, type Logger, type SharcError } from '@sharc/protocol';
import type { JobScheduler } from '../jobs/job-scheduler.js';
import type { StateStore } from '../state/state-store.js';
import type { ArrayCatalog, ArrayRecord } from './array-catalog.js';
import type { DroppedUploads } from './dropped-uploads.js';

export interface DepartureDeps {
  arrays: ArrayCatalog;
  scheduler: JobScheduler;
  droppedUploads: DroppedUploads;
  state: StateStore;
  logger: Logger;
  /** Aborts the client's file loads that are not detached; returns their job ids. */
  abortLoadsOf(clientId: string): string[];
  drop(record: ArrayRecord): Promise<void>;
}

/**
 * A client went silent past the liveness window (ClientSessions): its lease ended. Its
 * uploads in progress are dropped (their memory and names freed; a client that was only cut
 * off hears why when it commits or aborts), and its jobs and file loads are cancelled unless
 * detached (a map's output is freed with its job, as on job.cancel).
 */
export async function dropWorkOfGoneClient(deps: DepartureDeps, clientId: string, silentForMs: number): Promise<void> {
  const reason = (what: string, details: Record<string, unknown> = {}): SharcError =>
    new ConnectionError(
      `${what}: the coordinator did not hear from client ${clientId} for ${silentForMs} ms (its liveness window, sharc coordinator --dead-after-ms). ` +
        'Was its process stopped, its event loop blocked, or its link to NATS down? Run it again',
      { retryable: true, details: { clientId, ...details } },
    );
  const uploads = deps.arrays.uploadsOf(clientId);
  const jobs = [...deps.scheduler.failJobsOf(clientId, reason('the job was cancelled')), ...deps.abortLoadsOf(clientId)];
  if (uploads.length + jobs.length === 0) return;
  deps.logger.warn('a client went away: dropping its uploads in progress, cancelling its jobs', {
    client: clientId,
    silentForMs,
    uploads: uploads.map((r) => r.meta.name),
    jobs,
  });
  const mark = deps.state.mark();
  for (const record of uploads) {
    deps.droppedUploads.remember(record.meta.id, reason(`the upload of '${record.meta.name}' was dropped`, { arrayId: record.meta.id, name: record.meta.name }));
    await deps.drop(record).catch((error: unknown) => deps.logger.warn('could not free a dropped upload', { arrayId: record.meta.id, error: (error as Error).message }));
  }
  await deps.state.flush(mark).catch(() => undefined);
}
