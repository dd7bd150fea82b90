/**
 * What an array name may hold. Names are printed in tables and logs, so a character that moves
 * the cursor, rewrites the terminal (ESC), ends a line, or reorders text (bidi overrides) could
 * fake a table row or hide what a name is: such names are refused when an array is named.
 * Arrays stored under such a name by an older version stay readable (and deletable) by it.
 */

/** Longest array name, in UTF-16 code units. */
export const MAX_ARRAY_NAME_LENGTH = 256;

/**
 * Control (C0, DEL, C1), format (bidi overrides and isolates, zero-width characters, BOM),
 * line and paragraph separators, lone surrogates, and every space but the plain one.
 */
const NOT_PRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]|(?! )\p{Zs}/u;

const CONTROL_NAMES: Readonly<Record<number, string>> = {
  0x00: 'NUL',
  0x07: 'BEL',
  0x08: 'backspace',
  0x09: 'tab',
  0x0a: 'newline',
  0x0d: 'carriage return',
  0x1b: 'ESC',
  0x7f: 'DEL',
  0x200b: 'zero-width space',
  0x200e: 'left-to-right mark',
  0x200f: 'right-to-left mark',
  0x2028: 'line separator',
  0x2029: 'paragraph separator',
  0x202e: 'right-to-left override',
  0xfeff: 'byte order mark',
};

/** `U+001B` for 0x1b. */
export function codePointLabel(codePoint: number): string {
  return `U+${codePoint.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * Why `name` cannot name a new array, or undefined when it can. The reason names the first bad
 * character by its position (1 for the first character) and code point.
 */
export function arrayNameProblem(name: string): string | undefined {
  if (name.length === 0 || name.length > MAX_ARRAY_NAME_LENGTH) {
    return `an array name must be 1 to ${MAX_ARRAY_NAME_LENGTH} characters long, got ${name.length}`;
  }
  let position = 0;
  for (const character of name) {
    position++;
    if (!NOT_PRINTABLE.test(character)) continue;
    const codePoint = character.codePointAt(0)!;
    const known = CONTROL_NAMES[codePoint];
    return (
      `array name ${escapeForTerminal(name)} holds a character that does not print, at position ${position}: ` +
      `${codePointLabel(codePoint)}${known === undefined ? '' : ` (${known})`}; names may hold letters, digits, punctuation, symbols and plain spaces`
    );
  }
  return undefined;
}

/**
 * `text` as it can be printed safely: plain text as it is; text holding a character that does
 * not print (see above) in bash's `$'…'` quoting (`$'a\x1b[2Jb'`, `$'x\ny'`), which cannot move
 * the cursor or fake a line of output, and which a user can paste into a shell to name the array.
 */
export function escapeForTerminal(text: string): string {
  if (!NOT_PRINTABLE.test(text)) return text;
  let out = '';
  for (const character of text) {
    const codePoint = character.codePointAt(0)!;
    if (character === '\\' || character === "'") out += `\\${character}`;
    else if (!NOT_PRINTABLE.test(character)) out += character;
    else out += ESCAPES[codePoint] ?? hexEscape(codePoint);
  }
  return `$'${out}'`;
}

/** An array name in a sentence: `'frames'`, or `$'a\x1b[2J'` when it holds a character that does not print. */
export function quotedName(name: string): string {
  const escaped = escapeForTerminal(name);
  return escaped === name ? `'${name}'` : escaped;
}

const ESCAPES: Readonly<Record<number, string>> = { 0x09: '\\t', 0x0a: '\\n', 0x0d: '\\r' };

function hexEscape(codePoint: number): string {
  const hex = codePoint.toString(16);
  if (codePoint <= 0xff) return `\\x${hex.padStart(2, '0')}`;
  return codePoint <= 0xffff ? `\\u${hex.padStart(4, '0')}` : `\\U${hex.padStart(8, '0')}`;
}

/**
 * `text` with every character that does not print, but newlines and tabs, written as an escape
 * (`\x1b`): for messages that may quote a name as it was typed, whose lines stay lines.
 */
export function escapeControlsInMessage(text: string): string {
  let out = '';
  for (const character of text) {
    const codePoint = character.codePointAt(0)!;
    out += codePoint === 0x0a || codePoint === 0x09 || !NOT_PRINTABLE.test(character) ? character : hexEscape(codePoint);
  }
  return out;
}
