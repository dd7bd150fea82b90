/**
 * File-backed arrays from the command line: `sharc put FILE --agents-read --stream [auto]`,
 * `--out-file` of map and op, and `sharc ls` showing where each array is kept. Command-line
 * mistakes first (no cluster needed: exit 2 and the fix), then a real cluster (nats-server,
 * coordinator, 2 agent processes of 48 MiB) checked against numpy.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createNpyFile } from '@sharc/protocol';
import { startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import { jsonOf, runSharc } from './run-sharc.js';

const PYTHON = '/usr/bin/python3';
const KERNELS = fileURLToPath(new URL('../../test/fixtures/kernels.ts', import.meta.url));

/** No cluster listens here: a command that got past its checks would fail to connect (exit 1), not 2. */
const NOWHERE = ['--servers', 'nats://127.0.0.1:1'];

interface ArrayJson {
  name: string;
  storage: 'memory' | 'file';
  file?: string;
  shape: number[];
}

describe('sharc put --stream and --out-file: command-line mistakes (exit 2, with the fix)', () => {
  const usage = async (args: string[], expected: RegExp) => {
    const run = await runSharc([...args, ...NOWHERE]);
    assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, expected);
    assert.equal(run.stdout, '');
  };

  it('--stream needs --agents-read', () =>
    usage(['put', 'big.npy', '--stream'], /^sharc: --stream needs --agents-read: a file-backed array is read by the agents from a path they all see \(sharc put FILE --agents-read --stream\)/));

  it('--stream takes no value or auto: a typo is refused, naming both', async () => {
    await usage(['put', 'big.npy', '--agents-read', '--stream', 'atuo'], /^sharc: --stream takes no value \(file-backed: .*\) or auto \(.*\), got "atuo"\n/);
    await usage(['put', 'big.npy', '--agents-read', '--stream=yes'], /--stream takes no value .* got "yes"/);
  });

  it('--stream before FILE took FILE as its value: says to put FILE first', () =>
    usage(['put', '--agents-read', '--stream', '/data/big.npy'], /--stream took "\/data\/big\.npy" as its value \(it takes none, or auto\): put FILE before it \(sharc put FILE --agents-read --stream\)/));

  it('a misspelt --stream is named', () => usage(['put', 'big.npy', '--agents-read', '--strem'], /unknown flag --strem: did you mean '--stream'\?/));

  it('--out-file must name a .npy file, for map, submit map and op', async () => {
    const expected = /^sharc: --out-file must be the path of a \.npy file to write the output to \(numpy\.load reads it\), e\.g\. --out-file \/data\/out\.npy; got "out\.bin"/;
    await usage(['map', 'a', '--kernel', `${KERNELS}#addOne`, '--out-file', 'out.bin'], expected);
    await usage(['submit', 'map', 'a', '--kernel', `${KERNELS}#addOne`, '--out-file', 'out.bin'], expected);
    await usage(['op', 'a', 'abs', '--out-file', 'out.bin'], expected);
    await usage(['op', 'a', 'abs', '--out-file', '/data/.npy'], /--out-file must be the path of a \.npy file/);
  });
});

describe('sharc put --stream, reduce, map --out-file and ls (real cluster, 2 agents of 48 MiB)', () => {
  let processes: ProcessCluster;
  let dir: string;
  let sharc: (args: string[]) => ReturnType<typeof runSharc>;
  const python = (code: string) => execFileSync(PYTHON, ['-c', code], { encoding: 'utf8', cwd: dir }).trim();

  before(async () => {
    processes = await startProcessCluster({ agents: 2, threads: 1, memory: '48MiB' });
    dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-cli-file-backed-'));
    sharc = (args) => runSharc([...args, '--servers', processes.url]);
    python("import numpy as np; np.save('m.npy', np.random.default_rng(5).normal(0, 10, (500_000, 4)))");
    // 256 MiB of zeros, sparse (no disk used): more than the agents' memory.
    await createNpyFile(path.join(dir, 'huge.npy'), 'float64', [8 * 1024 * 1024, 4], false);
  });
  after(async () => {
    await processes?.stop();
    await rm(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    const arrays = jsonOf<ArrayJson[]>(await sharc(['ls', '--all', '--json']));
    if (arrays.length > 0) await sharc(['rm', ...arrays.map((a) => a.name)]);
  });

  // ---- from here on, these need the coordinator's and the agents' side of file-backed arrays ----

  it('a resident put --agents-read that does not fit says --stream', async () => {
    const run = await sharc(['put', path.join(dir, 'huge.npy'), '--agents-read', '--name', 'huge']);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /^sharc: the array needs 256 MiB but .*; or keep \S+huge\.npy on disk as a file-backed array.*\(sharc put FILE --agents-read --stream\), or .*\(--stream auto\)/);
  });


  it('put --stream: a file-backed array whose reduces equal the resident one\'s bit for bit; ls shows where each is kept', async () => {
    const file = path.join(dir, 'm.npy');
    const streamed = jsonOf<ArrayJson>(await sharc(['put', file, '--agents-read', '--stream', '--name', 'streamed', '--partitions', '3', '--json']));
    assert.equal(streamed.storage, 'file');
    assert.equal(streamed.file, file);
    const resident = jsonOf<ArrayJson>(await sharc(['put', file, '--agents-read', '--name', 'resident', '--partitions', '3', '--json']));
    assert.equal(resident.storage, 'memory');
    for (const op of ['sum', 'mean', 'std', 'max', 'argmin']) {
      const [a, b] = [await sharc(['reduce', 'streamed', op, '--json']), await sharc(['reduce', 'resident', op, '--json'])];
      assert.deepEqual(jsonOf<{ value: unknown }>(a).value, jsonOf<{ value: unknown }>(b).value, op);
    }
    const text = await sharc(['put', file, '--agents-read', '--stream', '--name', 'text']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`^stored 'text': float64 \\[500000, 4\\], 15\\.3 MiB in \\d+ partitions?, file-backed \\(${file.replace(/[.]/g, '\\.')}\\)\n$`));
    const ls = await sharc(['ls']);
    assert.equal(ls.code, 0, ls.stderr);
    const [header, ...rows] = ls.stdout.trim().split('\n');
    assert.match(header!, /^ARRAY\s+DTYPE\s+SHAPE\s+SIZE\s+PARTITIONS\s+STATE\s+STORAGE$/);
    const storageOf = (name: string) => rows.find((row) => row.startsWith(`${name} `))?.replace(/^.*\bready\s+/, '');
    assert.equal(storageOf('streamed'), `file ${file}`);
    assert.equal(storageOf('resident'), 'memory');
    const status = await sharc(['status']);
    assert.match(status.stdout, new RegExp(`streamed .* file ${file.replace(/[.]/g, '\\.')}`));
  });

  it('put --stream auto: file-backed when the agents cannot hold the array, in memory when they can', async () => {
    const huge = jsonOf<ArrayJson>(await sharc(['put', path.join(dir, 'huge.npy'), '--agents-read', '--stream', 'auto', '--name', 'huge', '--json']));
    assert.equal(huge.storage, 'file');
    assert.equal(jsonOf<{ value: number }>(await sharc(['reduce', 'huge', 'sum', '--json'])).value, 0);
    const small = jsonOf<ArrayJson>(await sharc(['put', path.join(dir, 'm.npy'), '--agents-read', '--stream', 'auto', '--name', 'small', '--json']));
    assert.equal(small.storage, 'memory');
  });

  it('map --out-file and op --out-file write .npy files numpy reads; an existing one needs --replace', async () => {
    jsonOf(await sharc(['put', path.join(dir, 'm.npy'), '--agents-read', '--stream', '--name', 'm', '--json']));
    const out = path.join(dir, 'plus-one.npy');
    const mapped = jsonOf<ArrayJson>(await sharc(['map', 'm', '--kernel', `${KERNELS}#addOne`, '--out', 'plus-one', '--out-file', out, '--json']));
    assert.equal(mapped.storage, 'file');
    assert.equal(mapped.file, out);
    assert.equal(python("import numpy as np; print(bool(np.array_equal(np.load('plus-one.npy'), np.load('m.npy') + 1)))"), 'True');
    const again = await sharc(['map', 'm', '--kernel', `${KERNELS}#addOne`, '--out', 'plus-one-again', '--out-file', out]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /plus-one\.npy exists: give replace \(--replace\) to overwrite it, or another path/);
    // A relative --out-file is resolved where sharc runs, not on the agents.
    const relative = await runSharc(['op', 'm', 'scale', '2', '--out', 'doubled', '--out-file', 'doubled.npy', '--servers', processes.url], {}, dir);
    assert.equal(relative.code, 0, relative.stderr);
    assert.match(relative.stdout, new RegExp(`file-backed \\(${path.join(dir, 'doubled.npy').replace(/[.]/g, '\\.')}\\)\n$`));
    assert.equal(python("import numpy as np; print(bool(np.array_equal(np.load('doubled.npy'), np.load('m.npy') * 2)))"), 'True');
    // --replace overwrites a file, never the file of an array that still reads from it.
    const taken = await sharc(['map', 'm', '--kernel', `${KERNELS}#addOne`, '--out', 'plus-one', '--out-file', path.join(dir, 'doubled.npy'), '--replace']);
    assert.equal(taken.code, 1);
    assert.match(taken.stderr, /doubled\.npy is the file of the file-backed array 'doubled'.*delete 'doubled' first \(its file stays\)/);
    assert.equal((await sharc(['rm', 'doubled'])).code, 0);
    const replaced = await sharc(['map', 'm', '--kernel', `${KERNELS}#addOne`, '--out', 'plus-one', '--out-file', path.join(dir, 'doubled.npy'), '--replace', '--json']);
    assert.equal(jsonOf<ArrayJson>(replaced).storage, 'file');
    assert.equal(python("import numpy as np; print(bool(np.array_equal(np.load('doubled.npy'), np.load('m.npy') + 1)))"), 'True');
  });
});
