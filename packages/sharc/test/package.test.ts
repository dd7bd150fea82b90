import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as sdk from '@sharc/sdk';
import * as sharc from 'sharc';

// What the installed tarball does (outside this repository, embedded and against `sharc up`) is
// checked by scripts/pack-check.sh; these check the package's two faces in the checkout.
const BIN = fileURLToPath(new URL('../../bin/sharc.js', import.meta.url));
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const run = promisify(execFile);

test("import from 'sharc' gives the SDK's whole public API", async () => {
  assert.deepEqual(Object.keys(sharc).sort(), Object.keys(sdk).sort());
  for (const [name, value] of Object.entries(sdk)) assert.equal((sharc as Record<string, unknown>)[name], value, name);
  const cluster = await sharc.connect({ embedded: { agents: 1, threads: 1 } });
  try {
    const a = await cluster.put(new Float64Array([1, 2, 3, 4, 5, 6]), { shape: [3, 2], name: 'package-face' });
    assert.equal(await cluster.reduce(a, 'sum'), 21);
  } finally {
    await cluster.close();
  }
});

test("the package's sharc command is the CLI", async () => {
  const version = await run(process.execPath, [BIN, '--version']);
  assert.equal(version.stdout.trim(), VERSION);
  const help = await run(process.execPath, [BIN, '--help']);
  for (const command of ['up', 'coordinator', 'agent', 'put', 'reduce', 'status']) assert.match(help.stdout, new RegExp(`sharc ${command}\\b`), command);
  await assert.rejects(run(process.execPath, [BIN, 'no-such-command']), (error: { code?: number; stderr?: string }) => {
    assert.equal(error.code, 2);
    return true;
  });
});
