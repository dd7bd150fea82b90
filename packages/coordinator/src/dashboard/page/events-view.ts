import type { ClusterEvent } from '../dashboard-state.js';
import { h, setText, showEmpty, syncChildren } from './dom.js';
import { formatClock, plural } from './format.js';

type Severity = 'failure' | 'recovery';

/** Failures and recoveries, newest first: agents dead and back, partitions moved, rebuilt, lost, copies remade, jobs failed. */
export function renderIncidents(list: HTMLElement, empty: HTMLElement, incidents: readonly ClusterEvent[]): void {
  showEmpty(empty, list, incidents.length === 0);
  syncChildren(list, incidents, (event) => String(event.id), createItem, updateItem);
}

function createItem(event: ClusterEvent): HTMLLIElement {
  return h('li', { 'data-kind': event.kind }, h('time', { class: 'muted' }), h('span', { class: 'what' }));
}

function updateItem(item: HTMLLIElement, event: ClusterEvent): void {
  const { text, severity } = describe(event);
  item.dataset.severity = severity;
  const time = item.querySelector('time')!;
  time.dateTime = new Date(event.at).toISOString();
  setText(time, formatClock(event.at));
  setText(item.querySelector('.what')!, text);
}

function describe(event: ClusterEvent): { text: string; severity: Severity } {
  switch (event.kind) {
    case 'agent.dead':
      return { text: `${event.agent} died (no heartbeat, or its process was replaced)`, severity: 'failure' };
    case 'agent.joined':
      return { text: `${event.agent} is back (${event.host}, ${plural(event.threads, 'thread')})`, severity: 'recovery' };
    case 'partitions.moved':
      return { text: `${plural(event.partitions, 'partition')} of ${event.name} moved off ${event.agent ?? 'a dead agent'} to live copies`, severity: 'recovery' };
    case 'partitions.rebuilt':
      return { text: `${plural(event.partitions, 'partition')} of ${event.name} rebuilt from their source${event.agent === undefined ? '' : ` (they were on ${event.agent})`}`, severity: 'recovery' };
    case 'copies.remade':
      return { text: `${plural(event.partitions, 'copy', 'copies')} of ${event.name} made again`, severity: 'recovery' };
    case 'partitions.lost':
      return { text: `${plural(event.partitions, 'partition')} of ${event.name} lost for good: no copy left and nothing to rebuild them from`, severity: 'failure' };
    case 'job.finished':
      return { text: `job ${event.job} (${event.jobKind} ${event.kernel} of ${event.array}) ${event.outcome}${event.error === undefined ? '' : `: ${event.error}`}`, severity: 'failure' };
    case 'job.started':
      return { text: `job ${event.job} started`, severity: 'recovery' };
  }
}
