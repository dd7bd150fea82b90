/**
 * `sharc op` and `sharc dot` against a real cluster (nats-server, coordinator, 2 agent
 * processes), checked against numpy: what each makes, and the errors of a mistyped call.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import { jsonOf, runSharc } from './run-sharc.js';

const PYTHON = '/usr/bin/python3';

interface ArrayJson {
  name: string;
  dtype: string;
  shape: number[];
}

describe('sharc op and sharc dot (real cluster)', () => {
  let processes: ProcessCluster;
  let dir: string;
  let sharc: (args: string[]) => ReturnType<typeof runSharc>;
  const python = (code: string) => execFileSync(PYTHON, ['-c', code], { encoding: 'utf8', cwd: dir }).trim();

  before(async () => {
    processes = await startProcessCluster({ agents: 2, threads: 1, memory: '128MiB' });
    dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-cli-ops-'));
    sharc = (args) => runSharc([...args, '--servers', processes.url]);
    python(`
import numpy as np
rng = np.random.default_rng(7)
a = rng.normal(0, 10, (200, 4)); a[3, 1] = np.nan; a[7, 2] = np.inf
np.save('a.npy', a)
np.save('b.npy', rng.integers(-1000, 1000, (200, 4), dtype=np.int32))
np.save('v.npy', rng.normal(0, 1, 200))`);
    jsonOf(await sharc(['put', path.join(dir, 'a.npy'), '--name', 'a', '--partitions', '3', '--json']));
    jsonOf(await sharc(['put', path.join(dir, 'b.npy'), '--name', 'b', '--partitions', '2', '--copies', '1', '--json']));
    jsonOf(await sharc(['put', path.join(dir, 'v.npy'), '--name', 'v', '--json']));
  });
  after(async () => {
    await processes?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** Runs `sharc op …`, fetches the output, and has numpy compare it with `expected` (a numpy expression over a, b). */
  const checkOp = async (args: string[], out: string, expected: string, shape: number[], dtype: string) => {
    const made = jsonOf<ArrayJson>(await sharc(['op', ...args, '--out', out, '--json']));
    assert.equal(made.name, out);
    assert.deepEqual(made.shape, shape);
    assert.equal(made.dtype, dtype);
    jsonOf(await sharc(['get', out, path.join(dir, `${out}.npy`), '--json']));
    const verdict = python(`
import numpy as np
a = np.load('a.npy'); b = np.load('b.npy')
got = np.load('${out}.npy'); want = ${expected}
print(got.dtype == want.dtype and got.shape == want.shape and np.allclose(got, want, rtol=1e-12, atol=0, equal_nan=True))`);
    assert.equal(verdict, 'True', `sharc op ${args.join(' ')} differs from numpy's ${expected}`);
  };

  it('makes the arrays numpy makes: astype, scale, clip, abs, sqrt, add/sub/mul/div, row statistics, matvec, slice', async () => {
    await checkOp(['a', 'astype', 'float32'], 'a32', "a.astype('float32')", [200, 4], 'float32');
    await checkOp(['a', 'scale', '2.5', '--offset', '-1'], 'scaled', 'a * 2.5 - 1', [200, 4], 'float64');
    await checkOp(['a', 'clip', '--lo', '-5', '--hi', '5'], 'clipped', 'np.clip(a, -5, 5)', [200, 4], 'float64');
    await checkOp(['b', 'abs'], 'absb', 'np.abs(b)', [200, 4], 'int32');
    await checkOp(['a', 'sqrt'], 'roots', 'np.sqrt(a)', [200, 4], 'float64');
    await checkOp(['a', 'add', 'b'], 'sum', 'a + b', [200, 4], 'float64');
    await checkOp(['b', 'mul', 'b'], 'squares', 'b * b', [200, 4], 'int32');
    await checkOp(['b', 'div', 'b'], 'ones', 'b / b', [200, 4], 'float64');
    await checkOp(['a', 'mean', '--axis', '1'], 'row-means', 'a.mean(axis=1)', [200], 'float64');
    await checkOp(['a', 'std', '--axis', '1', '--ddof', '1'], 'row-stds', 'a.std(axis=1, ddof=1)', [200], 'float64');
    await checkOp(['b', 'max', '--axis', '1'], 'row-max', 'b.max(axis=1)', [200], 'int32');
    await checkOp(['b', 'matvec', '[0.5, -1, 2, 0.25]'], 'product', 'b @ np.array([0.5, -1, 2, 0.25])', [200], 'float64');
    await checkOp(['a', 'slice', '-30'], 'tail', 'a[-30:]', [30, 4], 'float64');
    await checkOp(['a', 'slice', '10', '25'], 'middle', 'a[10:25]', [15, 4], 'float64');
  });

  it('prints the dot of two arrays as numpy computes it', async () => {
    const dot = jsonOf<{ value: number }>(await sharc(['dot', 'b', 'b', '--json']));
    assert.equal(dot.value, Number(python("import numpy as np; b = np.load('b.npy').astype(float); print(repr(float(np.dot(b.ravel(), b.ravel()))))")));
    const plain = await sharc(['dot', 'b', 'b']);
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(plain.stdout.trim(), String(dot.value));
  });

  it('says what is wrong with a mistyped call', async () => {
    const failure = async (args: string[], pattern: RegExp) => {
      const run = await sharc(args);
      assert.notEqual(run.code, 0, `sharc ${args.join(' ')} should have failed`);
      assert.match(run.stderr, pattern);
    };
    await failure(['op', 'a', 'add', 'v'], /same shape, got \[200, 4\] and \[200\]/);
    await failure(['dot', 'a', 'v'], /dot needs two arrays of the same shape/);
    await failure(['op', 'a', 'mean'], /needs --axis 1/);
    await failure(['op', 'v', 'sum', '--axis', '1'], /needs a 2-D array, got shape \[200\]/);
    await failure(['op', 'a', 'astype', 'float16'], /unknown dtype "float16"/);
    await failure(['op', 'a', 'matvec', '[1, 2]'], /v of length 4.*got 2/);
    await failure(['op', 'a', 'scale', '2', '--lo', '1'], /--lo is for sharc op NAME clip/);
    await failure(['op', 'a', 'transpose'], /Invalid values|Choices/);
  });
});
