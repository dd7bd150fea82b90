/**
 * A kernel module in a user's project takes its types from the SDK: `import { type
 * KernelContext } from 'sharc'` is kept by TypeScript's verbatimModuleSyntax (a common setting)
 * as `import {} from 'sharc'`. The kernel still runs: the SDK is not bundled into it (it would
 * not load on a worker thread). A kernel that takes a value from the SDK is told, at once,
 * to import only types from it. Real worker threads (embedded cluster), kernels in a project of
 * their own outside the repository.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, KernelError, type Cluster } from '../src/index.js';

describe('kernel modules that import from the SDK', () => {
  let cluster: Cluster;
  let project: string;
  before(async () => {
    delete process.env.SHARC_SERVERS;
    project = await mkdtemp(path.join(os.tmpdir(), 'sharc-kernel-imports-'));
    await writeFile(path.join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions: { verbatimModuleSyntax: true, strict: true } }));
    await writeFile(
      path.join(project, 'typed.ts'),
      [
        "import { type KernelContext } from 'sharc';",
        "import { type ArrayRef } from '@sharc/sdk';",
        'export type Unused = ArrayRef;',
        'export function triple(input: Float64Array, output: Float64Array, ctx: KernelContext<{ k: number }>): void {',
        '  for (let i = 0; i < input.length; i++) output[i] = input[i]! * ctx.params.k;',
        '}',
      ].join('\n'),
    );
    await writeFile(
      path.join(project, 'value.ts'),
      ["import { connect } from 'sharc';", 'export function f(input: Float64Array, output: Float64Array): void {', '  void connect;', '  output.set(input);', '}'].join('\n'),
    );
    cluster = await connect({ embedded: { agents: 1, threads: 1, memoryBytes: 64 * 1024 * 1024 } });
  });
  after(async () => {
    await cluster?.close();
    await rm(project, { recursive: true, force: true });
  });

  it('runs a kernel whose SDK imports are types only, kept by verbatimModuleSyntax', async () => {
    const input = await cluster.put(Float64Array.from({ length: 1000 }, (_, i) => i), { shape: [1000] });
    const output = await cluster.map(input, { module: path.join(project, 'typed.ts'), kernel: 'triple', params: { k: 3 } });
    assert.equal(await cluster.reduce(output, 'sum'), 3 * 499_500);
  });

  it('tells a kernel that takes a value from the SDK to import only its types', async () => {
    const input = await cluster.put(Float64Array.from({ length: 10 }, (_, i) => i), { shape: [10] });
    await assert.rejects(
      cluster.map(input, { module: path.join(project, 'value.ts'), kernel: 'f' }),
      (error: Error) => error instanceof KernelError && /value\.ts.*connect.*import only types from 'sharc'/s.test(error.message),
    );
  });
});
