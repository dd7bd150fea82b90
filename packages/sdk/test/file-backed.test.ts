/**
 * File-backed arrays from the SDK (README "Arrays larger than memory"): the options
 * (fromFile's `resident`, map's and the ops' `file`) checked before anything is sent, what is
 * sent, and on real processes (nats-server, a coordinator, two agent processes with little
 * memory): a file-backed array gives the resident array's results bit for bit, `'auto'` picks
 * by what fits, a map writes a .npy file numpy reads, and a resident load that does not fit
 * says how to keep the array file-backed.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { connectNats, createNpyFile, decodeMessage, subjectFor, type Message, type Transport } from '@sharc/protocol';
import { startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import { FileFormatError, InsufficientMemoryError, InvalidArgumentError, connect, type ArrayRef, type Cluster } from '../src/index.js';

const KERNELS = fileURLToPath(new URL('../../test/fixtures/kernels.ts', import.meta.url));
const PYTHON = '/usr/bin/python3';

describe('file-backed arrays: options checked before anything is sent (embedded cluster)', () => {
  let cluster: Cluster;
  let data: ArrayRef;
  let dir: string;
  let npy: string;

  before(async () => {
    delete process.env.SHARC_SERVERS;
    cluster = await connect({ embedded: { agents: 1, threads: 1, memoryBytes: 64 * 1024 * 1024 } });
    data = await cluster.put(Float64Array.from({ length: 64 }, (_, i) => i), { shape: [32, 2], name: 'small' });
    dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-file-backed-options-'));
    npy = path.join(dir, 'zeros.npy');
    await createNpyFile(npy, 'float64', [16, 2], false);
  });
  after(async () => {
    await cluster?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("refuses a resident that is not true, false or 'auto', naming the three", async () => {
    for (const resident of ['false', 'true', 0, 1, null, 'Auto', 'stream', {}]) {
      await assert.rejects(
        cluster.fromFile(npy, { resident: resident as never }),
        (error: unknown) =>
          error instanceof InvalidArgumentError && /^resident must be true \(.*\), false \(file-backed.*\) or 'auto' \(.*\), got /.test(error.message),
        `resident: ${JSON.stringify(resident)}`,
      );
    }
    await assert.rejects(cluster.fromFile(npy, { residnet: false } as never), /unknown option 'residnet' of fromFile: did you mean 'resident'\?/);
    assert.deepEqual((await cluster.list()).map((a) => a.name), ['small'], 'nothing was loaded');
  });

  it('refuses resident in putFile, which uploads into memory, pointing to fromFile', async () => {
    await assert.rejects(cluster.putFile(npy, { resident: false } as never), (error: unknown) => {
      assert.ok(error instanceof InvalidArgumentError);
      assert.match(error.message, /^resident is for fromFile: .*use fromFile\(path, \{ resident: false \}\)$/);
      return true;
    });
  });

  it("refuses a map's or an op's file that is no .npy path, saying what to write", async () => {
    const kernel = { module: KERNELS, kernel: 'scale', params: { factor: 2 } };
    await assert.rejects(cluster.map(data, kernel, { file: '/tmp/out.bin' }), (error: unknown) => {
      assert.ok(error instanceof InvalidArgumentError);
      assert.equal(error.message, 'map writes its output file as .npy (a header numpy.load reads, then the rows), so its name must end in .npy, got "/tmp/out.bin": write "/tmp/out.npy"');
      return true;
    });
    await assert.rejects(cluster.map(data, kernel, { file: 'out' }), /must end in \.npy, got "out": write "out\.npy"/);
    await assert.rejects(cluster.map(data, kernel, { file: 'out.NPY' }), /must end in \.npy/);
    await assert.rejects(cluster.map(data, kernel, { file: '' }), /map's file must be the path of the \.npy file to write the output to, got ""/);
    await assert.rejects(cluster.map(data, kernel, { file: 42 as never }), /map's file must be the path of the \.npy file/);
    await assert.rejects(cluster.map(data, kernel, { file: '/data/.npy' }), /names no file/);
    await assert.rejects(cluster.map(data, kernel, { files: '/tmp/out.npy' } as never), /unknown option 'files' of map: did you mean 'file'\?/);
    await assert.rejects(cluster.map(data, { ...kernel, file: '/tmp/out.npy' } as never), /'file' goes in map's third argument \(options\), not in the kernel/);
    await assert.rejects(data.scale(2, { file: '/tmp/out.csv' }), /^InvalidArgumentError: scale writes its output file as \.npy/);
    await assert.rejects(data.abs({ file: 'abs.txt' }), /abs writes its output file as \.npy/);
    await assert.rejects(cluster.add(data, data, { file: 'sum' }), /add writes its output file as \.npy/);
    await assert.rejects(data.sum({ axis: 1, file: 'rows.bin' }), /rowsum writes its output file as \.npy/);
    await assert.rejects(cluster.submit('map', data, kernel, { file: 'out.bin' }), /submit\('map'\) writes its output file as \.npy/);
    assert.deepEqual((await cluster.list()).map((a) => a.name), ['small'], 'no job ran');
  });

  it('a resident array has no file', () => {
    assert.equal(data.file, undefined);
    assert.equal(data.isFileBacked, false);
  });
});

describe('file-backed arrays on real processes (2 agents of 48 MiB)', () => {
  let processes: ProcessCluster;
  let cluster: Cluster;
  let dir: string;
  /** 1.5M x 2 float64 normal samples (24 MiB): fits the cluster's memory. */
  let dataFile: string;
  /** 16M x 2 float64 zeros (256 MiB, sparse: no disk used): larger than the cluster's memory. */
  let hugeFile: string;
  /** Copies of what clients send the coordinator, read on the side. */
  let snoop: Transport;
  const sent: Message[] = [];
  const python = (code: string) => execFileSync(PYTHON, ['-c', code], { encoding: 'utf8', cwd: dir }).trim();

  before(async () => {
    processes = await startProcessCluster({ agents: 2, threads: 1, memory: '48MiB' });
    cluster = await connect({ servers: processes.url });
    dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-file-backed-'));
    dataFile = path.join(dir, 'data.npy');
    python("import numpy as np; np.save('data.npy', np.random.default_rng(11).standard_normal((1_500_000, 2)))");
    hugeFile = path.join(dir, 'huge.npy');
    await createNpyFile(hugeFile, 'float64', [16 * 1024 * 1024, 2], false);
    snoop = await connectNats({ servers: processes.url, name: 'snoop' });
    snoop.subscribe(subjectFor('default', { to: 'coordinator', verb: 'client' }), (bytes) => {
      try {
        sent.push(decodeMessage(bytes));
      } catch {
        // not a message of this protocol version: not what these tests look for
      }
    });
    await snoop.flush?.();
  });
  after(async () => {
    await snoop?.close().catch(() => undefined);
    await cluster?.close().catch(() => undefined);
    await processes?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  // A test that failed midway leaves its arrays: the next one gets the agents' memory back.
  afterEach(async () => {
    for (const array of await cluster.list({ all: true })) await array.delete().catch(() => undefined);
  });

  /** The messages of `type` sent since `from` (an index into `sent`), once the snoop has read them. */
  async function sentSince<T extends Message['type']>(from: number, type: T): Promise<Array<Extract<Message, { type: T }>>> {
    await snoop.flush?.();
    return sent.slice(from).filter((m): m is Extract<Message, { type: T }> => m.type === type);
  }

  it('sends resident with array.load, and a map\'s file resolved to an absolute path as spec.outputFile', async () => {
    const from = sent.length;
    await (await cluster.fromFile(dataFile, { name: 'sent-auto', resident: 'auto', partitions: 2 })).delete();
    await (await cluster.fromFile(dataFile, { name: 'sent-resident', partitions: 2 })).delete();
    const streamed = await cluster.fromFile(dataFile, { name: 'sent-streamed', resident: false, partitions: 2 });
    const loads = await sentSince(from, 'array.load');
    assert.deepEqual(
      loads.map((m) => [m.name, m.resident]),
      [
        ['sent-auto', 'auto'],
        ['sent-resident', undefined],
        ['sent-streamed', false],
      ],
    );
    const cwd = process.cwd();
    process.chdir(dir);
    let output: ArrayRef;
    try {
      output = await cluster.map(streamed, { module: KERNELS, kernel: 'scale', params: { factor: 3 } }, { name: 'sent-map', file: 'sent-map.npy' });
    } finally {
      process.chdir(cwd);
    }
    const submits = (await sentSince(from, 'job.submit')).filter((m) => m.spec.kind === 'map');
    assert.equal(submits.length, 1);
    assert.equal(submits[0]!.spec.kind === 'map' ? submits[0]!.spec.outputFile : undefined, path.join(dir, 'sent-map.npy'));
    for (const ref of [output, streamed]) await ref.delete();
  });

  // ---- from here on, these need the coordinator's and the agents' side of file-backed arrays ----

  it('a resident fromFile that does not fit is refused with InsufficientMemoryError saying { resident: false }', async () => {
    await assert.rejects(cluster.fromFile(hugeFile, { name: 'huge-resident' }), (error: unknown) => {
      assert.ok(error instanceof InsufficientMemoryError, String(error));
      // The coordinator's wording: the SDK's call and the CLI's flag.
      assert.match(error.message, /^the array needs 256 MiB but .*; or keep \S+huge\.npy on disk as a file-backed array.*fromFile\(path, \{ resident: false \}\) \(sharc put FILE --agents-read --stream\), or \{ resident: 'auto' \} \(--stream auto\)/);
      return true;
    });
    assert.equal((await cluster.list({ all: true })).some((a) => a.name === 'huge-resident'), false);
  });


  it('fromFile { resident: false }: ref.file is set, reductions equal the resident array\'s bit for bit, toArray equals the file', async () => {
    const info = await stat(dataFile);
    const streamed = await cluster.fromFile(dataFile, { name: 'streamed', resident: false, partitions: 3 });
    const resident = await cluster.fromFile(dataFile, { name: 'resident', partitions: 3 });
    assert.equal(resident.file, undefined);
    assert.equal(streamed.isFileBacked, true);
    assert.deepEqual(streamed.file, { path: dataFile, dataOffset: 128, size: info.size, mtimeMs: streamed.file!.mtimeMs });
    assert.equal(streamed.file!.mtimeMs, info.mtimeMs);
    assert.deepEqual(streamed.placement.map((p) => [p.rowStart, p.rowCount]), resident.placement.map((p) => [p.rowStart, p.rowCount]));
    for (const op of ['sum', 'min', 'max', 'mean', 'sumsq', 'count', 'argmin', 'argmax', 'var', 'std', 'norm'] as const) {
      assert.equal(Object.is(await cluster.reduce(streamed, op), await cluster.reduce(resident, op)), true, op);
    }
    assert.deepEqual(await streamed.mean({ axis: 0 }), await resident.mean({ axis: 0 }));
    assert.deepEqual(await streamed.histogram({ bins: 16 }), await resident.histogram({ bins: 16 }));
    const custom = { module: KERNELS, partial: 'countAbove', combine: 'add', params: { threshold: 1.5 } };
    assert.equal(await cluster.reduce(streamed, custom), await cluster.reduce(resident, custom));
    const expected = await resident.toArray();
    assert.deepEqual(await streamed.toArray(), expected);
    const fromNumpy = JSON.parse(python("import numpy as np, json; a = np.load('data.npy'); print(json.dumps([float(a.sum()), int(a.argmax())]))")) as [number, number];
    assert.equal(await streamed.argmax(), fromNumpy[1]);
    assert.ok(Math.abs(Number(await streamed.sum()) - fromNumpy[0]) < 1e-6, 'the sum agrees with numpy');
    await streamed.delete();
    await resident.delete();
  });

  it('a reduce over a file-backed array goes through the coordinator (job.submit), never direct', async () => {
    const streamed = await cluster.fromFile(dataFile, { name: 'streamed-via', resident: false, partitions: 2 });
    const from = sent.length;
    await streamed.sum();
    const submits = await sentSince(from, 'job.submit');
    assert.deepEqual(submits.map((m) => [m.spec.kind, m.spec.arrayId]), [['reduce', streamed.id]]);
    await streamed.delete();
  });

  it("resident 'auto' keeps an array the agents cannot hold file-backed, and loads one that fits into memory", async () => {
    const huge = await cluster.fromFile(hugeFile, { name: 'huge-auto', resident: 'auto' });
    assert.equal(huge.isFileBacked, true);
    assert.equal(huge.file?.path, hugeFile);
    assert.equal(await huge.sum(), 0);
    assert.equal(await cluster.reduce(huge, 'count'), 32 * 1024 * 1024);
    const fits = await cluster.fromFile(dataFile, { name: 'data-auto', resident: 'auto' });
    assert.equal(fits.isFileBacked, false);
    assert.equal(fits.file, undefined);
    const nodes = await cluster.nodes();
    assert.ok(nodes.every((n) => n.memoryBytes === 48 * 1024 * 1024));
    await huge.delete();
    await fits.delete();
  });

  it('map { file } writes a .npy file numpy reads, the output is file-backed, and an existing file needs replace', async () => {
    const streamed = await cluster.fromFile(dataFile, { name: 'map-input', resident: false, partitions: 3 });
    const out = path.join(dir, 'tripled.npy');
    const kernel = { module: KERNELS, kernel: 'scale', params: { factor: 3 } };
    const output = await cluster.map(streamed, kernel, { name: 'tripled', file: out });
    assert.equal(output.file?.path, out);
    assert.equal(output.file?.size, (await stat(out)).size);
    assert.deepEqual(output.shape, [1_500_000, 2]);
    assert.equal(python("import numpy as np; a = np.load('data.npy'); b = np.load('tripled.npy'); print(b.dtype, b.shape, bool(np.array_equal(b, a * 3)))"), 'float64 (1500000, 2) True');
    // The output is an array like any other: reduce it, read it back.
    const residentOutput = await cluster.map(await cluster.fromFile(dataFile, { name: 'map-input-resident', partitions: 3 }), kernel, { name: 'tripled-resident' });
    assert.equal(await output.sum(), await residentOutput.sum());
    assert.deepEqual(await output.toArray(), await residentOutput.toArray());

    await assert.rejects(cluster.map(streamed, kernel, { name: 'tripled-again', file: out }), (error: unknown) => {
      assert.ok(error instanceof FileFormatError, String(error));
      assert.match(error.message, /exists: give replace/);
      return true;
    });
    const again = await cluster.map(streamed, { ...kernel, params: { factor: -1 } }, { name: 'tripled', file: out, replace: true });
    assert.equal(python("import numpy as np; a = np.load('data.npy'); b = np.load('tripled.npy'); print(bool(np.array_equal(b, -a)))"), 'True');

    // The built-in ops write their output files the same way.
    const ops = [
      await streamed.abs({ name: 'abs', file: path.join(dir, 'abs.npy') }),
      await cluster.add(streamed, streamed, { name: 'twice', file: path.join(dir, 'twice.npy') }),
      await streamed.slice(5, 1000, { name: 'some-rows', file: path.join(dir, 'some-rows.npy') }),
      await streamed.sum({ axis: 1, name: 'row-sums', file: path.join(dir, 'row-sums.npy') }),
    ];
    assert.deepEqual(ops.map((op) => op.file?.path), ['abs.npy', 'twice.npy', 'some-rows.npy', 'row-sums.npy'].map((name) => path.join(dir, name)));
    assert.equal(
      python(
        "import numpy as np; a = np.load('data.npy'); print([bool(np.array_equal(np.load(f + '.npy'), e)) for f, e in [('abs', np.abs(a)), ('twice', a + a), ('some-rows', a[5:1000]), ('row-sums', a.sum(axis=1))]])",
      ),
      '[True, True, True, True]',
    );
    for (const ref of [...ops, again, residentOutput, streamed]) await ref.delete();
  });
});
