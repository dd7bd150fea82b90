import { InvalidArgumentError } from './errors.js';

/**
 * Option objects come from plain JavaScript and config files too, where the compiler does not
 * catch `timeoutMS` or `server`: an unknown key is an InvalidArgumentError naming it and the
 * nearest valid one, never silently ignored (an ignored `server` starts an embedded cluster).
 *
 * Each call declares its keys once, next to its TypeScript type, with `keysOf<T>()([...])`:
 * the compiler refuses the list when it misses a key of T or names one T lacks, so the list
 * and the type cannot drift apart. (zod's strict objects were considered: they report
 * "Unrecognized key" without a suggestion, and these options hold functions, AbortSignals and
 * typed arrays next to data, which the interfaces with their JSDoc describe better.)
 */

/** Every key of T: the list given, checked by the compiler to hold each key of T and no other. */
export function keysOf<T extends object>() {
  return <const K extends readonly (keyof T & string)[]>(
    keys: K & ([Exclude<keyof T & string, K[number]>] extends [never] ? unknown : { missingKeys: Exclude<keyof T & string, K[number]> }),
  ): K => keys;
}

/** The valid keys of one options object, and who takes it, for messages. */
export interface KnownKeys {
  /** `reduce`, `connect's embedded`, `reduce's kernel`. */
  of: string;
  keys: readonly string[];
  /** `option` (default) or `key` (a kernel description, a message field). */
  noun?: string;
  /** What the object is called where a misplaced key is refused ("not in the kernel"). @default `of` */
  here?: string;
}

/** Keys that are valid, but in another argument of the same call. */
export interface ElsewhereKeys {
  keys: readonly string[];
  /** Where they go: `reduce's third argument (options)`. */
  goesIn: string;
}

/**
 * Throws InvalidArgumentError unless `value` is an object whose own keys are all in `known`:
 * the message names the first bad key and, when one is close (edit distance, ignoring case),
 * the valid key meant; a key that belongs in another argument says which.
 */
export function checkKeys(value: unknown, known: KnownKeys, elsewhere: readonly ElsewhereKeys[] = []): void {
  const noun = known.noun ?? 'option';
  if (!isPlainObject(value)) {
    const subject = noun === 'option' ? `the options of ${known.of}` : known.of;
    throw new InvalidArgumentError(`${subject} must be a plain object ({ … }), got ${describe(value)}`);
  }
  for (const key of Object.keys(value)) {
    if (known.keys.includes(key)) continue;
    const home = elsewhere.find((place) => place.keys.includes(key));
    if (home !== undefined) throw new InvalidArgumentError(`'${key}' goes in ${home.goesIn}, not in ${known.here ?? known.of}`, { details: { option: key } });
    throw new InvalidArgumentError(unknownKeyMessage(key, known, elsewhere), { details: { option: key } });
  }
}

/** "unknown option 'timeoutMS' of reduce: did you mean 'timeoutMs'?", or the valid keys when none is close. */
export function unknownKeyMessage(key: string, known: KnownKeys, elsewhere: readonly ElsewhereKeys[] = []): string {
  const noun = known.noun ?? 'option';
  const head = `unknown ${noun} '${key}' of ${known.of}`;
  const nearest = nearestName(key, [...known.keys, ...elsewhere.flatMap((place) => place.keys)]);
  if (nearest === undefined) {
    return known.keys.length === 0 ? `${head}: it takes none` : `${head}: the valid ${noun}s are ${known.keys.map((k) => `'${k}'`).join(', ')}`;
  }
  const home = known.keys.includes(nearest) ? undefined : elsewhere.find((place) => place.keys.includes(nearest));
  return `${head}: did you mean '${nearest}'?${home === undefined ? '' : ` (it goes in ${home.goesIn})`}`;
}

/**
 * The candidate closest to `name` by edit distance (adjacent swaps count one), ignoring case,
 * when it is close enough to be the one meant; undefined otherwise. Ties go to the first.
 */
export function nearestName(name: string, candidates: readonly string[]): string | undefined {
  const wanted = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const lower = candidate.toLowerCase();
    let distance = editDistance(wanted, lower);
    // `timeout` for `timeoutMs`: a clear prefix is as good as one edit.
    if (Math.min(wanted.length, lower.length) >= MIN_PREFIX && (lower.startsWith(wanted) || wanted.startsWith(lower))) distance = Math.min(distance, 1);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  // One edit in four letters (`auth` → `out`) is another word; in six (`server`) it is a typo.
  return bestDistance <= Math.min(MAX_SUGGESTION_DISTANCE, Math.max(1, Math.floor(wanted.length / 3))) ? best : undefined;
}

/** Beyond this many edits a suggestion is more likely a different word than a typo. */
const MAX_SUGGESTION_DISTANCE = 2;
/** A prefix shorter than this (`t` of `threads`) says nothing. */
const MIN_PREFIX = 4;

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps. */
function editDistance(a: string, b: string): number {
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number) => rows[i]![j]!;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let distance = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) distance = Math.min(distance, at(i - 2, j - 2) + 1);
      rows[i]![j] = distance;
    }
  }
  return at(a.length, b.length);
}

/** `{ … }` or Object.create(null); not an AbortSignal, array or other instance passed where options go. */
function isPlainObject(value: unknown): value is object {
  if (typeof value !== 'object' || value === null) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === null || prototype === Object.prototype || Object.getPrototypeOf(prototype) === null;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') {
    const name = (value as { constructor?: { name?: string } }).constructor?.name ?? 'object';
    return `${/^[aeiou]/i.test(name) ? 'an' : 'a'} ${name}`;
  }
  return typeof value === 'string' ? JSON.stringify(value) : typeof value;
}
