/**
 * `sharc reduce NAME OP` with the statistics and their flags (--axis, --ddof, --bins, --range)
 * against a real cluster (nats-server, coordinator, 2 agent processes), compared with numpy's
 * answers for the same .npy file; flags an op does not take are usage errors (exit 2).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { formatNpyHeader } from '@sharc/protocol';
import { startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import { jsonOf, runSharc } from './run-sharc.js';

const ROWS = 501;
const COLS = 3;

describe('sharc reduce with the statistics, against numpy', () => {
  let processes: ProcessCluster;
  let dir: string;
  let file: string;
  let sharc: (args: string[]) => ReturnType<typeof runSharc>;
  const numpy = (expression: string): unknown =>
    JSON.parse(
      execFileSync('/usr/bin/python3', ['-c', `import numpy as np, json; a = np.load(${JSON.stringify(file)}); print(json.dumps(${expression}))`], { encoding: 'utf8' }),
    );

  before(async () => {
    processes = await startProcessCluster({ agents: 2, threads: 1, memory: '128MiB' });
    dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-cli-statistics-'));
    sharc = (args) => runSharc([...args, '--servers', processes.url]);
    const data = Float64Array.from({ length: ROWS * COLS }, (_, i) => ((i * 7919) % 1013) / 7 - 40);
    file = path.join(dir, 'm.npy');
    await writeFile(file, Buffer.concat([formatNpyHeader('float64', [ROWS, COLS]), Buffer.from(data.buffer)]));
    const put = await sharc(['put', file, '--name', 'm', '--partitions', '3']);
    assert.equal(put.code, 0, put.stderr);
  });
  after(async () => {
    await processes?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('argmin, argmax, std --ddof 1, norm print what numpy computes', async () => {
    const value = async (args: string[]) => jsonOf<{ value: number }>(await sharc(['reduce', 'm', ...args, '--json'])).value;
    assert.equal(await value(['argmin']), numpy('int(np.argmin(a))'));
    assert.equal(await value(['argmax']), numpy('int(np.argmax(a))'));
    const std = await value(['std', '--ddof', '1']);
    assert.ok(Math.abs(std - (numpy('float(np.std(a, ddof=1))') as number)) < 1e-9, String(std));
    const norm = await value(['norm']);
    assert.ok(Math.abs(norm - (numpy('float(np.linalg.norm(a))') as number)) < 1e-9 * norm, String(norm));
    const text = await sharc(['reduce', 'm', 'argmax']);
    assert.equal(text.stdout.trim(), String(numpy('int(np.argmax(a))')));
  });

  it('--axis 0 prints one value per column, as a JSON array with --json and as [a, b, c] in text', async () => {
    const means = jsonOf<{ value: number[] }>(await sharc(['reduce', 'm', 'mean', '--axis', '0', '--json'])).value;
    const expected = numpy('np.mean(a, axis=0).tolist()') as number[];
    assert.equal(means.length, COLS);
    means.forEach((mean, c) => assert.ok(Math.abs(mean - expected[c]!) < 1e-9, `column ${c}: ${mean} vs ${expected[c]}`));
    const max = await sharc(['reduce', 'm', 'max', '--axis', '0']);
    assert.equal(max.stdout.trim(), `[${(numpy('np.max(a, axis=0).tolist()') as number[]).join(', ')}]`);
  });

  it('histogram --bins --range prints counts and edges as numpy.histogram', async () => {
    const histogram = jsonOf<{ value: { counts: number[]; edges: number[] } }>(await sharc(['reduce', 'm', 'histogram', '--bins', '6', '--range=-30,90', '--json'])).value;
    assert.deepEqual(histogram, numpy('dict(zip(["counts", "edges"], [x.tolist() for x in np.histogram(a, bins=6, range=(-30, 90))]))'));
    const text = await sharc(['reduce', 'm', 'histogram', '--bins', '4']);
    const [counts, edges] = numpy('[x.tolist() for x in np.histogram(a, bins=4)]') as [number[], number[]];
    assert.equal(text.stdout.trim(), `counts: [${counts.join(', ')}]\nedges: [${edges.join(', ')}]`);
  });

  it('flags an op does not take, and bad values, are usage errors naming the fix', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['reduce', 'm', 'sum', '--bins', '4'], /--bins is for histogram, not sum/],
      [['reduce', 'm', 'argmin', '--axis', '0'], /--axis is for sum, mean, min, max, var, std, not argmin/],
      [['reduce', 'm', 'std', '--ddof', '-1'], /--ddof must be a non-negative whole number/],
      [['reduce', 'm', 'histogram', '--range', '5,1'], /--range must be LO,HI with LO < HI/],
      [['reduce', 'm', 'mean', '--axis', '2'], /--axis must be 0 .* or 1/],
      [['reduce', 'm', 'mean', '--axis', '1'], /--axis 1 makes a new array of one value per row: run sharc op m mean --axis 1 --out NAME/],
      [['reduce', 'm', 'medain'], /reduce OP must be one of .*argmin.*histogram/],
    ];
    for (const [args, pattern] of cases) {
      const result = await sharc(args);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, pattern);
    }
  });
});
