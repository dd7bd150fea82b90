#!/usr/bin/env node
// Packs `sharc`, the one package a user installs, from a built checkout:
//
//   node scripts/pack-sharc.mjs [DEST]     (npm run pack-sharc -- DEST; DEST defaults to .)
//
// prints the tarball's path on stdout (the last line). The @sharc/* workspaces are not published
// on their own: sharc bundles them (bundleDependencies). npm cannot bundle workspace symlinks, so
// this stages a copy of packages/sharc whose node_modules/@sharc/* are real directories, each
// exactly what `npm pack` of that workspace holds (its "files": dist/src, the node agent's
// dist/wasm), and packs that. The workspaces' public dependencies (zod, esbuild, …) are not
// bundled: packages/sharc declares them, so npm installs them next to sharc, each built for the
// user's platform (esbuild's binary), and node finds them from the bundled packages by walking up.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PACKAGE_DIR = path.join(REPO, 'packages/sharc');
/** Files the installed package cannot work without, one per kind of thing loaded at run time. */
const REQUIRED_FILES = [
  'LICENSE',
  'README.md',
  'bin/sharc.js',
  'dist/src/index.js',
  'dist/src/index.d.ts',
  'node_modules/@sharc/sdk/dist/src/index.d.ts',
  'node_modules/@sharc/cli/dist/src/bin.js', // what `sharc up` spawns for each service
  'node_modules/@sharc/node-agent/dist/src/workers/worker.js', // the worker-thread entry
  'node_modules/@sharc/node-agent/dist/wasm/builtins.wasm',
  'node_modules/@sharc/protocol/dist/src/core.js',
  'node_modules/@sharc/launcher/dist/src/index.js',
  'node_modules/@sharc/coordinator/dist/src/index.js',
];

function fail(message) {
  process.stderr.write(`pack-sharc: ${message}\n`);
  process.exit(1);
}

function readJson(file) {
  return JSON.parse(readFileSync(file, 'utf8'));
}

function run(command, args, cwd) {
  try {
    return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    fail(`${command} ${args.join(' ')} (in ${cwd}) failed:\n${error.stderr || error.message}`);
  }
}

/** `npm pack --json` in `cwd`: one entry per packed package ({ filename, files, size, … }). */
function npmPack(args, cwd, destination) {
  return JSON.parse(run('npm', ['pack', '--json', '--pack-destination', destination, ...args], cwd));
}

const workspaceDirs = new Map(
  readJson(path.join(REPO, 'package.json')).workspaces.map((dir) => [readJson(path.join(REPO, dir, 'package.json')).name, path.join(REPO, dir)]),
);
const sharc = readJson(path.join(PACKAGE_DIR, 'package.json'));
const bundled = sharc.bundleDependencies ?? [];
const declared = sharc.dependencies ?? {};

// The bundle must be closed (every @sharc/* a bundled workspace needs is bundled too) and the
// public dependencies declared once, by sharc, with the workspaces' own ranges.
const needed = new Map();
for (const name of bundled) {
  const dir = workspaceDirs.get(name) ?? fail(`${name} is in bundleDependencies but is no workspace of ${REPO}`);
  const manifest = readJson(path.join(dir, 'package.json'));
  if (manifest.private) fail(`${name} is private: it cannot be bundled into sharc`);
  if (!(name in declared)) fail(`${name} is bundled: add it to the dependencies of packages/sharc/package.json too`);
  for (const [dependency, range] of Object.entries(manifest.dependencies ?? {})) {
    if (dependency.startsWith('@sharc/')) {
      if (!bundled.includes(dependency)) fail(`${name} depends on ${dependency}: add it to bundleDependencies and dependencies of packages/sharc/package.json`);
      continue;
    }
    if (declared[dependency] !== range) {
      fail(`${name} depends on ${dependency}@${range}: packages/sharc/package.json must declare "${dependency}": "${range}" (it has ${declared[dependency] ?? 'none'})`);
    }
    needed.set(dependency, name);
  }
  for (const entry of manifest.files ?? []) {
    if (!existsSync(path.join(dir, entry))) fail(`${path.relative(REPO, path.join(dir, entry))} is missing: run npm run build first`);
  }
}
for (const dependency of Object.keys(declared)) {
  if (!bundled.includes(dependency) && !needed.has(dependency)) fail(`packages/sharc/package.json declares ${dependency}, which no bundled workspace depends on: remove it`);
}
if (!existsSync(path.join(PACKAGE_DIR, 'dist/src/index.js'))) fail('packages/sharc/dist/src is missing: run npm run build first');

const destination = path.resolve(process.argv[2] ?? '.');
mkdirSync(destination, { recursive: true });
const work = mkdtempSync(path.join(os.tmpdir(), 'sharc-pack-'));
try {
  const tarballs = path.join(work, 'tarballs');
  mkdirSync(tarballs);
  const packed = npmPack(['sharc', ...bundled].flatMap((name) => ['--workspace', name]), REPO, tarballs);
  const stage = path.join(work, 'sharc');
  const extract = (entry, into) => {
    mkdirSync(into, { recursive: true });
    run('tar', ['-xzf', path.join(tarballs, entry.filename), '-C', into, '--strip-components=1'], REPO);
    copyFileSync(path.join(REPO, 'LICENSE'), path.join(into, 'LICENSE'));
  };
  for (const entry of packed) extract(entry, entry.name === 'sharc' ? stage : path.join(stage, 'node_modules', entry.name));

  const [result] = npmPack([], stage, destination);
  const files = new Set(result.files.map((file) => file.path));
  const missing = REQUIRED_FILES.filter((file) => !files.has(file));
  if (missing.length > 0) fail(`the tarball lacks ${missing.join(', ')}`);
  const tarball = path.join(destination, result.filename);
  process.stderr.write(
    `pack-sharc: ${result.filename}: ${result.entryCount} files, ${(statSync(tarball).size / 1024).toFixed(0)} KiB packed, ` +
      `${(result.unpackedSize / 1024 / 1024).toFixed(1)} MiB unpacked; bundles ${bundled.join(', ')}\n`,
  );
  process.stdout.write(`${tarball}\n`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
