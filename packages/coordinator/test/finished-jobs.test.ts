/**
 * The kept outcomes of detached jobs: given out until keepResultsMs after they ended, never
 * after (even before a sweep), restored oldest first with the expired ones dropped, and listed
 * within a byte budget with large values left out.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeValue, type Logger } from '@sharc/protocol';
import { FinishedJobs, durationText } from '../src/jobs/finished-jobs.js';
import { MemoryStateStore } from '../src/state/state-store.js';
import type { FinishedJob } from '../src/state/records.js';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const KEEP_MS = 60_000;

function outcome(jobId: string, endedAt: number, value: unknown = 1): FinishedJob {
  return { jobId, kind: 'reduce', state: 'done', array: 'a', doneBlocks: 1, totalBlocks: 1, submittedAt: endedAt - 10, endedAt, value };
}

describe('FinishedJobs', () => {
  it('gives an outcome until keepMs after its job ended, with its expiry, and forgets it then', () => {
    const kept = new FinishedJobs(new MemoryStateStore(), KEEP_MS, quiet);
    try {
      kept.add(outcome('j1', 1000));
      assert.deepEqual(kept.get('j1', 1000 + KEEP_MS - 1), { ...outcome('j1', 1000), expiresAt: 1000 + KEEP_MS });
      assert.equal(kept.get('j1', 1000 + KEEP_MS), undefined);
      assert.deepEqual(kept.list(0), [], 'forgotten for good once expired');
    } finally {
      kept.close();
    }
  });

  it('restores outcomes oldest first, dropping those that expired meanwhile', () => {
    const kept = new FinishedJobs(new MemoryStateStore(), KEEP_MS, quiet);
    try {
      const now = Date.now();
      kept.restore([outcome('new', now - 10), outcome('expired', now - KEEP_MS - 1), outcome('old', now - 20)]);
      assert.deepEqual(kept.list(now).map((j) => j.jobId), ['old', 'new']);
    } finally {
      kept.close();
    }
  });

  it('lists the newest outcomes within a byte budget, leaving large values out', () => {
    const kept = new FinishedJobs(new MemoryStateStore(), KEEP_MS, quiet);
    try {
      const now = Date.now();
      kept.add(outcome('oldest', now - 3));
      kept.add(outcome('large', now - 2, new Float64Array(1000)));
      kept.add(outcome('newest', now - 1));
      const all = kept.listWithin(1_000_000, 1024, now);
      assert.deepEqual(all.map((j) => [j.jobId, j.valueOmitted === true, j.value === undefined]), [
        ['oldest', false, false],
        ['large', true, true],
        ['newest', false, false],
      ]);
      // Room for two small records (a large value left out costs as much as one): the newest two.
      const record = encodeValue(outcome('newest', now - 1)).length;
      const small = kept.listWithin(2 * record + 8, 1024, now);
      assert.deepEqual(small.map((j) => j.jobId), ['large', 'newest']);
      assert.equal(kept.get('large', now)?.value instanceof Float64Array, true, 'get gives the whole value');
    } finally {
      kept.close();
    }
  });

  it('says a keep time as a person reads it', () => {
    assert.deepEqual([86_400_000, 5_400_000, 30_000, 1500, 1].map(durationText), ['24 h', '90 min', '30 s', '1500 ms', '1 ms']);
  });
});
