/**
 * Refused job submissions are counted and summed up in the log: one info line when refusals
 * start, then one per interval while they go on, never one per refusal above debug.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Logger } from '@sharc/protocol';
import { RefusalSummary } from '../src/jobs/refusal-summary.js';

function recordingLogger() {
  const lines: Array<{ level: string; message: string; fields: Record<string, unknown> }> = [];
  const at = (level: string) => (message: string, fields: Record<string, unknown> = {}) => lines.push({ level, message, fields });
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { logger, info: () => lines.filter((l) => l.level === 'info'), debug: () => lines.filter((l) => l.level === 'debug') };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('RefusalSummary', () => {
  it('logs the first refusal at once and sums up the rest once per interval', async () => {
    const log = recordingLogger();
    const summary = new RefusalSummary(log.logger, 100);
    const load = { running: 1, queued: 2, maxRunning: 1, maxQueued: 2 };
    for (let i = 0; i < 500; i++) summary.count(load);
    assert.equal(log.info().length, 1, 'one line as refusals start');
    assert.equal(log.info()[0]!.fields.refused, 1);
    assert.equal(log.debug().length, 500, 'each refusal at debug');
    await sleep(150);
    assert.equal(log.info().length, 2);
    assert.deepEqual(log.info()[1]!.fields, { refused: 499, refusedTotal: 500, ...load });
    // Quiet for an interval: nothing more is written, and the next refusal is logged at once again.
    await sleep(150);
    assert.equal(log.info().length, 2);
    summary.count(load);
    summary.count(load);
    assert.equal(log.info().length, 3);
    assert.equal(summary.refused, 502);
    // Closing logs what is not summed up yet.
    summary.close();
    assert.equal(log.info().length, 4);
    assert.equal(log.info()[3]!.fields.refused, 1);
    assert.equal(log.info()[3]!.fields.refusedTotal, 502);
  });
});
