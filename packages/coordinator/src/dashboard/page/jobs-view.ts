import type { DashboardJob } from '../dashboard-state.js';
import { h, setText, showEmpty, syncChildren } from './dom.js';
import { formatClock, formatCount, formatDuration, percent, plural } from './format.js';
import { meter, setMeter } from './meter.js';
import type { DashboardModel, JobFinished } from './model.js';

/** Running and queued jobs, each with a progress bar (blocks done of all). */
export function renderJobs(container: HTMLElement, empty: HTMLElement, model: DashboardModel): void {
  const jobs = [...model.jobs].sort((a, b) => (a.state === b.state ? a.startedAt - b.startedAt : a.state === 'running' ? -1 : 1));
  showEmpty(empty, container, jobs.length === 0);
  const now = model.serverNow();
  syncChildren(container, jobs, (job) => job.jobId, createJob, (element, job) => updateJob(element, job, model.kernels.get(job.jobId), now));
}

function createJob(job: DashboardJob): HTMLElement {
  return h(
    'article',
    { class: 'job', 'data-job': job.jobId },
    h('header', {}, h('span', { class: 'badge', 'data-field': 'state' }), h('span', { class: 'job-what' }), h('span', { class: 'job-time muted' })),
    meter('progress', `progress of job ${job.jobId}`),
  );
}

function updateJob(element: HTMLElement, job: DashboardJob, kernel: string | undefined, now: number): void {
  element.dataset.state = job.state;
  const badge = element.querySelector<HTMLElement>('.badge')!;
  badge.dataset.state = job.state;
  setText(badge, job.state);
  setText(element.querySelector('.job-what')!, `${job.kind}${kernel === undefined ? '' : ` ${kernel}`} · ${job.array}`);
  const time = element.querySelector<HTMLElement>('.job-time')!;
  setText(time, `${shortId(job.jobId)} · ${job.state === 'queued' ? 'waiting' : 'running'} ${formatDuration(now - job.startedAt)}`);
  time.title = `job ${job.jobId}`;
  const done = percent(job.doneBlocks, job.totalBlocks);
  setMeter(
    element.querySelector('.meter')!,
    done,
    job.totalBlocks === 0 ? 'starting' : `${formatCount(job.doneBlocks)} / ${plural(job.totalBlocks, 'block')} · ${Math.floor(done)}%`,
  );
}

/** Finished jobs, newest first: outcome, what ran, how long it took. */
export function renderFinished(table: HTMLTableElement, empty: HTMLElement, finished: readonly JobFinished[]): void {
  showEmpty(empty, table, finished.length === 0);
  syncChildren(table.tBodies[0]!, finished, (event) => event.job, createFinished, updateFinished);
}

function createFinished(event: JobFinished): HTMLTableRowElement {
  return h(
    'tr',
    { 'data-job': event.job },
    h('td', {}, h('span', { class: 'badge', 'data-field': 'outcome' })),
    h('td', { class: 'finished-job' }, h('div', { class: 'job-what' }), h('div', { class: 'job-facts muted' }), h('div', { class: 'error' })),
    h('td', { class: 'num', 'data-field': 'duration' }),
    h('td', { class: 'num muted' }),
  );
}

function updateFinished(row: HTMLTableRowElement, event: JobFinished): void {
  const [outcome, what, took, ended] = Array.from(row.cells);
  const badge = outcome!.querySelector<HTMLElement>('.badge')!;
  badge.dataset.outcome = event.outcome;
  setText(badge, event.outcome);
  setText(what!.querySelector('.job-what')!, `${event.jobKind} ${event.kernel} · ${event.array}`);
  setText(what!.querySelector('.job-facts')!, `${shortId(event.job)} · ${plural(event.partitions, 'partition')}`);
  what!.title = `job ${event.job}`;
  const error = what!.querySelector<HTMLElement>('.error')!;
  setText(error, event.error ?? '');
  error.title = event.error ?? '';
  error.hidden = event.error === undefined;
  setText(took!, formatDuration(event.durationMs));
  setText(ended!, formatClock(event.at));
}

/** Job ids are long: the first 8 characters tell them apart on one page (the whole id is the tooltip). */
function shortId(jobId: string): string {
  return jobId.length > 10 ? `${jobId.slice(0, 8)}…` : jobId;
}
