/**
 * Building the page without innerHTML: every string, array names included, becomes a text
 * node or an attribute value, never markup.
 */

type Child = Node | string | number | null | undefined | false;
type Attributes = Record<string, string | number | boolean | undefined>;

/** `h('td', { class: 'num' }, '12')`: an element with attributes (`data-*` too) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Attributes = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    element.setAttribute(name, value === true ? '' : String(value));
  }
  append(element, children);
  return element;
}

function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child);
  }
}

/** Replaces an element's children. */
export function fill(element: Element, ...children: Child[]): void {
  element.replaceChildren();
  append(element, children);
}

/** Sets text only when it changed (no layout work for a value that stayed). */
export function setText(element: Element, text: string): void {
  if (element.textContent !== text) element.textContent = text;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`the page has no #${id}`);
  return element as T;
}

/**
 * Keeps `container`'s children in step with `items`: one element per key, made once by
 * `create`, brought up to date by `update`, in the items' order; those of keys gone are removed.
 * Elements that stay are not rebuilt, so a progress bar moves instead of flickering.
 */
export function syncChildren<T, E extends HTMLElement>(
  container: Element,
  items: readonly T[],
  key: (item: T) => string,
  create: (item: T) => E,
  update: (element: E, item: T) => void,
): void {
  const existing = new Map<string, E>();
  for (const child of Array.from(container.children)) {
    const childKey = (child as HTMLElement).dataset.key;
    if (childKey !== undefined) existing.set(childKey, child as E);
  }
  let previous: Element | null = null;
  const kept = new Set<string>();
  for (const item of items) {
    const itemKey = key(item);
    kept.add(itemKey);
    let element = existing.get(itemKey);
    if (element === undefined) {
      element = create(item);
      element.dataset.key = itemKey;
    }
    update(element, item);
    const expected: Element | null = previous === null ? container.firstElementChild : previous.nextElementSibling;
    if (expected !== element) container.insertBefore(element, expected);
    previous = element;
  }
  for (const [childKey, element] of existing) if (!kept.has(childKey)) element.remove();
}

/** Shows `empty` (a "nothing here" line) when there is nothing, and `content` otherwise. */
export function showEmpty(empty: HTMLElement, content: HTMLElement, isEmpty: boolean): void {
  empty.hidden = !isEmpty;
  content.hidden = isEmpty;
}
