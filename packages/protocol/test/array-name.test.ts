import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { arrayNameProblem, decodeMessage, encodeValue, escapeForTerminal, PROTOCOL_VERSION, ProtocolError } from '../src/index.js';

describe('array names', () => {
  it('accepts printable names of any script, with plain spaces', () => {
    for (const name of ['frames', 'my array (v2)', 'données—2024', '名前', '😀 emoji', "it's", 'a\\b']) assert.equal(arrayNameProblem(name), undefined, name);
  });

  it('refuses control, format, separator and invisible space characters, naming the first by position and code point', () => {
    const cases: Array<[string, string]> = [
      ['\x00', 'position 1: U+0000 (NUL)'],
      ['ab\x1b[0m', 'position 3: U+001B (ESC)'],
      ['a\r', 'position 2: U+000D (carriage return)'],
      ['a\x7f', 'position 2: U+007F (DEL)'],
      ['a\u0085', 'position 2: U+0085'],
      ['😀\u2029', 'position 2: U+2029 (paragraph separator)'],
      ['a\u202db', 'position 2: U+202D'],
      ['\ufeffbom', 'position 1: U+FEFF (byte order mark)'],
      ['a\u3000b', 'position 2: U+3000'],
      ['lone \ud800', 'position 6: U+D800'],
    ];
    for (const [name, where] of cases) assert.ok(arrayNameProblem(name)?.includes(where), `${JSON.stringify(name)}: ${arrayNameProblem(name)}`);
    assert.match(arrayNameProblem('')!, /1 to 256 characters/);
    assert.match(arrayNameProblem('x'.repeat(257))!, /1 to 256 characters/);
  });

  it('escapes what does not print, in quoting a shell reads back', () => {
    assert.equal(escapeForTerminal('plain name'), 'plain name');
    assert.equal(escapeForTerminal("a\x1b[2J'\\\nb\u2028"), "$'a\\x1b[2J\\'\\\\\\nb\\u2028'");
  });

  it('the protocol refuses a new array named so, and still reads an existing one', () => {
    const create = encodeValue({ v: PROTOCOL_VERSION, from: 'x', type: 'array.create', name: 'bad\nname', dtype: 'float64', shape: [4] });
    assert.throws(() => decodeMessage(create), (error: unknown) => error instanceof ProtocolError && /position 4: U\+000A \(newline\)/.test(error.message));
    // Opening (and so deleting) an array an older version stored under such a name still works.
    const open = decodeMessage(encodeValue({ v: PROTOCOL_VERSION, from: 'x', type: 'array.open', name: 'bad\nname' }));
    assert.equal(open.type, 'array.open');
  });
});
