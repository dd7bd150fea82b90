import { h, setText } from './dom.js';

/**
 * A horizontal bar with its value as text beside it: memory used, thread load, job progress.
 * `role="progressbar"` with aria-valuenow, so screen readers (and tests) read the number.
 */
export function meter(kind: string, label: string): HTMLDivElement {
  const fill = h('div', { class: 'fill' });
  return h(
    'div',
    { class: `meter ${kind}` },
    h('div', { class: 'track', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': 0, 'aria-label': label }, fill),
    h('span', { class: 'meter-text' }),
  );
}

/** Sets a meter's fill (0–100, rounded to a tenth) and text. */
export function setMeter(element: HTMLElement, value: number, text: string, level?: 'warn' | 'high'): void {
  const track = element.querySelector<HTMLElement>('.track')!;
  const fill = element.querySelector<HTMLElement>('.fill')!;
  const clamped = Math.max(0, Math.min(100, value));
  const shown = String(Math.round(clamped * 10) / 10);
  if (track.getAttribute('aria-valuenow') !== shown) {
    track.setAttribute('aria-valuenow', shown);
    fill.style.width = `${clamped}%`;
  }
  track.dataset.level = level ?? '';
  setText(element.querySelector('.meter-text')!, text);
}
