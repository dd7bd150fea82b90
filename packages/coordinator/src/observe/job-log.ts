import type { Logger } from '@sharc/protocol';
import type { ClusterEvents } from './cluster-events.js';

/**
 * One info line when a job starts and one when it ends (id, kind, kernel, array, partitions,
 * duration, outcome), so a successful job leaves a trace too. Refused submissions are not one
 * line each (a flood of them is summed up by the scheduler's RefusalSummary).
 */
export function logJobs(events: ClusterEvents, logger: Logger): () => void {
  return events.on((event) => {
    if (event.kind === 'job.started') {
      logger.info('job started', { jobId: event.job, kind: event.jobKind, kernel: event.kernel, array: event.array, partitions: event.partitions, client: event.client });
    } else if (event.kind === 'job.finished' && event.outcome !== 'refused') {
      logger.info('job finished', {
        jobId: event.job,
        kind: event.jobKind,
        kernel: event.kernel,
        array: event.array,
        partitions: event.partitions,
        durationMs: event.durationMs,
        outcome: event.outcome,
        ...(event.error === undefined ? {} : { error: event.error }),
      });
    }
  });
}
