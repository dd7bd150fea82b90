import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, statfs } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { runSharc } from './run-sharc.js';

/** The demo's file-backed part writes a 256 MiB file (its smallest) and needs this much free in the temporary directory. */
const FILE_BACKED_NEEDS = (256 + 64) * 2 ** 20;

describe('sharc demo', () => {
  it('runs the main job on the embedded cluster and checks its results against plain JS, then a file-backed array', async () => {
    // The demo's temporary directory is this test's own: what it leaves there is seen (and removed after).
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'sharc-demo-test-'));
    try {
      const space = await statfs(tmp);
      const run = await runSharc(['demo', '--gib', '0.02'], { TMPDIR: tmp });
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /on the embedded cluster/);
      const sum = /sum (-?[\d.]+) \(plain JS: (-?[\d.]+)\)/.exec(run.stdout);
      assert.ok(sum, run.stdout);
      assert.equal(sum[1], sum[2], 'cluster sum equals the plain JS sum');
      assert.match(run.stdout, /round trip exact: true/);
      if (space.bavail * space.bsize >= FILE_BACKED_NEEDS) {
        // A file larger than its agent's memory: 'auto' keeps it file-backed, and jobs stream it.
        assert.match(run.stdout, /file-backed arrays: 32768 rows x 1024 float64 = 256 MiB in a \.npy file, on an agent with 64\.0 MiB of memory/);
        assert.match(run.stdout, /fromFile \{ resident: 'auto' \} in [\d.]+ s: chose file-backed, rows stay in \S+signal\.npy/);
        assert.match(run.stdout, /file-backed sum -?[\d.]+ \(plain JS: -?[\d.]+, equal up to rounding: true\)/);
        assert.match(run.stdout, /rms of row 0: [\d.]+, written to \S+rms\.npy/);
      } else {
        assert.match(run.stdout, /file-backed arrays: skipped \(a 256 MiB file needs 320 MiB free in \S+, it has /);
      }
      // (sharc-kernels and sharc-client-kernels, the kernel bundles' caches, stay as for any run.)
      assert.deepEqual((await readdir(tmp)).filter((name) => name.startsWith('sharc-demo-')), [], 'the demo removed its files');
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });
});
