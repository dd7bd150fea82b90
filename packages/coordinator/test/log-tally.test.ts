/**
 * A line said once per partition is summed up: the first is written at once, the rest are
 * counted and written as one line with a few examples, and a quiet spell starts over.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Logger } from '@sharc/protocol';
import { LogTally } from '../src/log-tally.js';

function recordingLogger(): { logger: Logger; lines: Array<{ level: string; message: string; fields: Record<string, unknown> | undefined }> } {
  const lines: Array<{ level: string; message: string; fields: Record<string, unknown> | undefined }> = [];
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) => void lines.push({ level, message, fields });
  return { logger: { debug() {}, info: at('info'), warn: at('warn'), error: at('error') }, lines };
}

describe('LogTally', () => {
  it('writes 10,000 warnings of one kind as two lines: the first, then the count of the rest', () => {
    const { logger, lines } = recordingLogger();
    const tally = new LogTally(logger, 60_000);
    for (let partition = 0; partition < 10_000; partition++) tally.warn('partition moves to another agent', { partition });
    assert.equal(lines.length, 1);
    assert.deepEqual(lines[0], { level: 'warn', message: 'partition moves to another agent', fields: { partition: 0 } });
    tally.flush();
    assert.equal(lines.length, 2);
    assert.equal(lines[1]!.level, 'warn');
    assert.match(lines[1]!.message, /^partition moves to another agent \(9999 more times/);
    assert.equal(lines[1]!.fields?.count, 9_999);
    assert.deepEqual(lines[1]!.fields?.examples, [{ partition: 1 }, { partition: 2 }, { partition: 3 }]);
  });

  it('keeps kinds apart and says the first of a kind at once after a quiet spell', async () => {
    const { logger, lines } = recordingLogger();
    const tally = new LogTally(logger, 20);
    tally.warn('a', { n: 1 });
    tally.info('b', { n: 1 });
    tally.warn('a', { n: 2 });
    assert.deepEqual(lines.map((l) => l.message), ['a', 'b']);
    // One interval: the count of 'a' is written; a second, quiet one: the tally starts over.
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(lines.length, 3);
    assert.match(lines[2]!.message, /^a \(1 more times/);
    tally.warn('a', { n: 3 });
    assert.deepEqual(lines[3], { level: 'warn', message: 'a', fields: { n: 3 } });
    tally.flush();
  });
});
