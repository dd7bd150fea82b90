import type { DashboardAgent } from '../dashboard-state.js';
import type { AgentColors } from './colors.js';
import { h, setText, showEmpty, syncChildren } from './dom.js';
import { formatBytes, formatCount, percent, plural } from './format.js';
import { meter, setMeter } from './meter.js';

/** The agents table: state, memory used of its limit, partitions, thread load, direct work. */
export function renderAgents(table: HTMLTableElement, empty: HTMLElement, agents: readonly DashboardAgent[], colors: AgentColors): void {
  showEmpty(empty, table, agents.length === 0);
  syncChildren(table.tBodies[0]!, agents, (agent) => agent.id, createRow, (row, agent) => updateRow(row, agent, colors));
}

function createRow(agent: DashboardAgent): HTMLTableRowElement {
  return h(
    'tr',
    { 'data-agent': agent.id },
    h('td', { class: 'agent' }, h('span', { class: 'swatch' }), h('span', { class: 'agent-id' }), h('span', { class: 'host muted' })),
    h('td', {}, h('span', { class: 'badge', 'data-field': 'state' })),
    h('td', { class: 'wide' }, meter('memory', `memory of ${agent.id}`)),
    h('td', { class: 'num', 'data-field': 'partitions' }),
    h('td', {}, meter('load', `thread load of ${agent.id}`)),
    h('td', { class: 'direct muted', 'data-field': 'direct' }),
  );
}

function updateRow(row: HTMLTableRowElement, agent: DashboardAgent, colors: AgentColors): void {
  const [who, state, memory, partitions, load, direct] = Array.from(row.cells);
  row.dataset.state = agent.state;
  who!.querySelector<HTMLElement>('.swatch')!.style.backgroundColor = colors.of(agent.id);
  setText(who!.querySelector('.agent-id')!, agent.id);
  setText(who!.querySelector('.host')!, `${agent.host} · pid ${agent.pid}`);
  const badge = state!.querySelector<HTMLElement>('.badge')!;
  badge.dataset.state = agent.state;
  setText(badge, agent.state);
  const dead = agent.state === 'dead';
  const used = percent(agent.usedBytes, agent.memoryBytes);
  // A dead agent's last heartbeat says nothing about now: its memory and load are not shown.
  setMeter(memory!.firstElementChild as HTMLElement, dead ? 0 : used, dead ? `— / ${formatBytes(agent.memoryBytes)}` : `${formatBytes(agent.usedBytes)} / ${formatBytes(agent.memoryBytes)}`, used >= 90 ? 'high' : used >= 75 ? 'warn' : undefined);
  setText(partitions!, formatCount(agent.partitions));
  // Blocks in flight per thread: more than one each means work waits for a thread.
  const perThread = dead ? 0 : agent.workInFlight / agent.threads;
  setMeter(load!.firstElementChild as HTMLElement, perThread * 100, dead ? `${plural(agent.threads, 'thread')}` : `${plural(agent.workInFlight, 'block')} · ${plural(agent.threads, 'thread')}`, perThread > 1 ? 'warn' : undefined);
  const work = agent.direct;
  setText(direct!, work === undefined || dead ? '—' : `${work.running === 0 ? 'idle' : `${formatCount(work.running)} running`} · ${plural(work.batches, 'batch', 'batches')}`);
  direct!.title = work === undefined ? '' : `reduces clients sent straight to ${agent.id}: ${formatCount(work.running)} running now; ${plural(work.batches, 'batch', 'batches')} of ${plural(work.partitions, 'partition')} so far`;
}
