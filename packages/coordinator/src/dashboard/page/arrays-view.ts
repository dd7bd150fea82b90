import { PLACEMENT_MAP_MAX_PARTITIONS, type DashboardAgent, type DashboardArray } from '../dashboard-state.js';
import type { AgentColors } from './colors.js';
import { fill, h, setText, showEmpty, syncChildren } from './dom.js';
import { formatBytes, formatCount, formatShape, plural } from './format.js';

/** Arrays: name, shape, dtype, size, copies, per-agent shares and the placement map. */
export function renderArrays(container: HTMLElement, empty: HTMLElement, arrays: readonly DashboardArray[], agents: readonly DashboardAgent[], colors: AgentColors): void {
  showEmpty(empty, container, arrays.length === 0);
  const dead = new Set(agents.filter((agent) => agent.state === 'dead').map((agent) => agent.id));
  const sorted = [...arrays].sort((a, b) => a.name.localeCompare(b.name));
  syncChildren(container, sorted, (array) => array.id, createCard, (card, array) => updateCard(card, array, dead, colors));
}

/** What each card last showed: an unchanged summary (same object) with the same dead agents is not drawn again. */
const drawn = new WeakMap<HTMLElement, { array: DashboardArray; dead: string }>();

function createCard(array: DashboardArray): HTMLElement {
  return h(
    'article',
    { class: 'array', 'data-array': array.name },
    h('header', {}, h('h3', { class: 'array-name' }), h('span', { class: 'array-facts muted' })),
    h('ul', { class: 'shares' }),
    h('div', { class: 'placement', role: 'img' }),
  );
}

function updateCard(card: HTMLElement, array: DashboardArray, dead: ReadonlySet<string>, colors: AgentColors): void {
  const deadKey = [...dead].join('\u0000');
  const last = drawn.get(card);
  if (last !== undefined && last.array === array && last.dead === deadKey) return;
  drawn.set(card, { array, dead: deadKey });
  card.dataset.array = array.name;
  setText(card.querySelector('.array-name')!, array.name);
  const copies = array.copies.min === array.copies.max ? plural(array.copies.max, 'copy', 'copies') : `${array.copies.min}–${array.copies.max} copies`;
  const stored = array.file === undefined ? copies : `file-backed: ${array.file}`;
  const facts = [array.dtype, formatShape(array.shape), formatBytes(array.bytes), plural(array.partitions, 'partition'), stored];
  if (array.lost > 0) facts.push(`${formatCount(array.lost)} lost`);
  setText(card.querySelector('.array-facts')!, facts.join(' · '));
  card.classList.toggle('has-lost', array.lost > 0);

  const shares = card.querySelector('.shares')!;
  fill(
    shares,
    ...array.shares.map((share) => {
      const swatch = h('span', { class: 'swatch' });
      swatch.style.backgroundColor = colors.of(share.agent);
      return h(
        'li',
        { 'data-agent': share.agent, class: dead.has(share.agent) ? 'dead' : undefined, title: `${share.agent} serves ${share.serving} and holds ${share.copies} copies` },
        swatch,
        h('span', {}, share.agent),
        h('span', { class: 'muted' }, ` ${formatCount(share.serving)} served · ${formatCount(share.copies)} held`),
      );
    }),
  );
  drawPlacement(card.querySelector<HTMLElement>('.placement')!, array, dead, colors);
}

/** One cell per partition, coloured by the agent serving it; cells are kept and recoloured. */
function drawPlacement(map: HTMLElement, array: DashboardArray, dead: ReadonlySet<string>, colors: AgentColors): void {
  const { placement } = array;
  if (placement === undefined) {
    map.className = 'placement too-many';
    fill(map, `${formatCount(array.partitions)} partitions: the map is drawn for arrays of up to ${formatCount(PLACEMENT_MAP_MAX_PARTITIONS)}; the shares above say where they are.`);
    map.removeAttribute('aria-label');
    return;
  }
  map.className = `placement cells-${placement.length <= 128 ? 'large' : placement.length <= 1024 ? 'medium' : 'small'}`;
  map.setAttribute('aria-label', `placement of ${array.name}: which agent serves each of its ${placement.length} partitions`);
  if (map.querySelector('.cell') === null) map.replaceChildren();
  while (map.children.length > placement.length) map.lastElementChild!.remove();
  while (map.children.length < placement.length) map.appendChild(h('div', { class: 'cell' }));
  placement.forEach((shareIndex, partition) => {
    const cell = map.children[partition] as HTMLElement;
    const agent = shareIndex < 0 ? undefined : array.shares[shareIndex]?.agent;
    const key = agent ?? '';
    if (cell.dataset.agent === key && cell.classList.contains('dead') === (agent !== undefined && dead.has(agent))) return;
    cell.dataset.agent = key;
    cell.classList.toggle('lost', agent === undefined);
    cell.classList.toggle('dead', agent !== undefined && dead.has(agent));
    cell.style.backgroundColor = agent === undefined ? '' : colors.of(agent);
    cell.title = agent === undefined ? `partition ${partition}: lost` : `partition ${partition}: ${agent}${dead.has(agent) ? ' (dead)' : ''}`;
  });
}
