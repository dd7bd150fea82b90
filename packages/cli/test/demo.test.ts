import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runSharc } from './run-sharc.js';

describe('sharc demo', () => {
  it('runs the main job on the embedded cluster and checks its results against plain JS', async () => {
    const run = await runSharc(['demo', '--gib', '0.02']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /on the embedded cluster/);
    const sum = /sum (-?[\d.]+) \(plain JS: (-?[\d.]+)\)/.exec(run.stdout);
    assert.ok(sum, run.stdout);
    assert.equal(sum[1], sum[2], 'cluster sum equals the plain JS sum');
    assert.match(run.stdout, /round trip exact: true/);
  });
});
