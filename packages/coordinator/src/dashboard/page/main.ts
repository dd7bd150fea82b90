/**
 * The dashboard page: one stream from the coordinator (`api/events`: a snapshot, then what
 * changed about once a second, and each cluster event as it happens), drawn without reloads.
 * The browser reconnects a dropped stream by itself and gets a fresh snapshot.
 */
import { STREAM_EVENTS, type ClusterEvent, type DashboardSnapshot, type DashboardUpdate } from '../dashboard-state.js';
import { renderAgents } from './agents-view.js';
import { renderArrays } from './arrays-view.js';
import { AgentColors } from './colors.js';
import { byId, h, fill, setText } from './dom.js';
import { renderIncidents } from './events-view.js';
import { formatBytes } from './format.js';
import { renderFinished, renderJobs } from './jobs-view.js';
import { DashboardModel } from './model.js';

/** How long to wait before opening a stream again after the browser gave up on it (a 401, the coordinator gone). */
const RETRY_MS = 3000;

const model = new DashboardModel();
const colors = new AgentColors();
let renderQueued = false;

/** Draws once per frame at most, however many messages arrived. */
function scheduleRender(): void {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    render();
  });
}

function render(): void {
  colors.learn(model.agents.map((agent) => agent.id));
  setText(byId('cluster-name'), model.cluster === '' ? '' : `cluster ${model.cluster}`);
  renderTotals();
  renderAgents(byId<HTMLTableElement>('agents'), byId('agents-empty'), model.agents, colors);
  renderArrays(byId('arrays'), byId('arrays-empty'), [...model.arrays.values()], model.agents, colors);
  renderJobs(byId('jobs'), byId('jobs-empty'), model);
  renderFinished(byId<HTMLTableElement>('finished'), byId('finished-empty'), model.finished);
  renderIncidents(byId('events'), byId('events-empty'), model.incidents);
  // For tests and screenshots: the page has drawn a snapshot.
  document.documentElement.dataset.ready = 'true';
}

function renderTotals(): void {
  const alive = model.agents.filter((agent) => agent.state === 'alive');
  const used = alive.reduce((sum, agent) => sum + agent.usedBytes, 0);
  const limit = alive.reduce((sum, agent) => sum + agent.memoryBytes, 0);
  const running = model.jobs.filter((job) => job.state === 'running').length;
  const queued = model.jobs.length - running;
  const totals: Array<[string, string]> = [
    ['agents', `${alive.length} of ${model.agents.length} alive`],
    ['memory', `${formatBytes(used)} / ${formatBytes(limit)}`],
    ['arrays', String(model.arrays.size)],
    ['jobs', `${running} running${queued > 0 ? `, ${queued} queued` : ''}`],
  ];
  fill(byId('totals'), ...totals.flatMap(([term, value]) => [h('dt', {}, term), h('dd', { 'data-total': term }, value)]));
}

function setConnection(state: 'connecting' | 'live' | 'reconnecting' | 'refused', text: string): void {
  const element = byId('connection');
  element.dataset.state = state;
  setText(element, text);
}

function connect(): void {
  const source = new EventSource('api/events');
  source.addEventListener('open', () => setConnection('live', 'live'));
  source.addEventListener(STREAM_EVENTS.snapshot, (message) => {
    model.applySnapshot(JSON.parse((message as MessageEvent<string>).data) as DashboardSnapshot);
    scheduleRender();
  });
  source.addEventListener(STREAM_EVENTS.update, (message) => {
    model.applyUpdate(JSON.parse((message as MessageEvent<string>).data) as DashboardUpdate);
    scheduleRender();
  });
  source.addEventListener(STREAM_EVENTS.cluster, (message) => {
    model.applyEvent(JSON.parse((message as MessageEvent<string>).data) as ClusterEvent);
    scheduleRender();
  });
  source.addEventListener('error', () => {
    if (source.readyState !== EventSource.CLOSED) {
      setConnection('reconnecting', 'reconnecting…');
      return;
    }
    // The browser gave up (an answer other than the stream): find out why, and try again.
    source.close();
    void fetch('api/state', { cache: 'no-store' })
      .then((response) => {
        if (response.status === 401) setConnection('refused', 'this coordinator needs its token: open this page with ?token=TOKEN');
        else setConnection('reconnecting', `reconnecting… (${response.status})`);
      })
      .catch(() => setConnection('reconnecting', 'coordinator unreachable; reconnecting…'))
      .finally(() => setTimeout(connect, RETRY_MS));
  });
}

/**
 * A token given as ?token= was turned into a cookie by the server for this page's own requests:
 * take it out of the address bar, so it is not bookmarked, shared or screenshotted.
 */
function forgetTokenInAddress(): void {
  const url = new URL(window.location.href);
  if (!url.searchParams.has('token')) return;
  url.searchParams.delete('token');
  history.replaceState(null, '', url.pathname + url.search + url.hash);
}

forgetTokenInAddress();
// Running jobs show how long they have run: redrawn each second even when nothing else changes.
setInterval(() => {
  if (model.jobs.length > 0) scheduleRender();
}, 1000);
connect();
