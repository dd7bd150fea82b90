#!/usr/bin/env node
// Packs `sharc`, the one package a user installs, from a built checkout:
//
//   node scripts/pack-sharc.mjs [DEST]     (npm run pack-sharc -- DEST; DEST defaults to .)
//
// prints the tarball's path on stdout (the last line). The @sharc/* workspaces are not published
// on their own: sharc carries them in lib/<name>/, each exactly what `npm pack` of that workspace
// holds (package.json, dist/src, the node agent's dist/wasm), and every `@sharc/…` module
// specifier in the shipped .js and .d.ts files is rewritten to the relative path of the file that
// workspace's "exports" names. Files keep their places relative to one another, so what is loaded
// by a path next to a module still is: the worker-thread script, the .wasm files, the CLI's own
// bin.js that `sharc up` spawns. The workspaces' public dependencies (zod, esbuild, …) are
// ordinary dependencies of sharc, installed by npm for the user's platform (esbuild's binary).
//
// Why not bundleDependencies: npm treats the public dependencies of bundled packages as part of
// the bundle when they land inside sharc/node_modules, as they do in `npm install -g`, and then
// runs their install scripts without linking their bins (msgpackr-extract fails: `sh:
// node-gyp-build-optional-packages: not found`, npm 10 and 11). Why not an esbuild bundle: the
// worker threads, .wasm files and spawned services are loaded by paths next to their modules,
// and the types would need a separate bundler.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PACKAGE_DIR = path.join(REPO, 'packages/sharc');
/** Where the workspaces go in the package: lib/<name without @sharc/>. */
const LIB = 'lib';
/** Files the installed package cannot work without, one per kind of thing loaded at run time. */
const REQUIRED_FILES = [
  'LICENSE',
  'README.md',
  'bin/sharc.js',
  'dist/src/index.js',
  'dist/src/index.d.ts',
  `${LIB}/sdk/dist/src/index.d.ts`,
  `${LIB}/cli/dist/src/bin.js`, // what `sharc up` spawns for each service
  `${LIB}/cli/package.json`, // `sharc --version` reads it
  `${LIB}/node-agent/dist/src/workers/worker.js`, // the worker-thread entry
  `${LIB}/node-agent/dist/wasm/builtins.wasm`,
  `${LIB}/protocol/dist/src/core.js`,
  `${LIB}/launcher/dist/src/index.js`,
  `${LIB}/coordinator/dist/src/index.js`,
];
/** Module specifiers in JavaScript and declaration files: `from '…'`, `import '…'`, `import('…')`. */
const SPECIFIER = /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])(@sharc\/[^'"]*)\2/g;
const COMMENT_LINE = /^\s*(\*|\/\/|\/\*)/;

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

/** `npm pack --json` in `cwd`: one entry per packed package ({ name, filename, files, … }). */
function npmPack(args, cwd, destination) {
  return JSON.parse(run('npm', ['pack', '--json', '--pack-destination', destination, ...args], cwd));
}

function filesUnder(dir) {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath ?? entry.path, entry.name));
}

const workspaceDirs = new Map(
  readJson(path.join(REPO, 'package.json')).workspaces.map((dir) => [readJson(path.join(REPO, dir, 'package.json')).name, path.join(REPO, dir)]),
);
const sharc = readJson(path.join(PACKAGE_DIR, 'package.json'));
const declared = sharc.dependencies ?? {};
/** The workspaces sharc carries: every @sharc/* it depends on. */
const carried = Object.keys(declared).filter((name) => name.startsWith('@sharc/'));
const libName = (name) => name.slice('@sharc/'.length);

// The set must be closed (every @sharc/* a carried workspace needs is carried too) and the
// public dependencies declared once, by sharc, with the workspaces' own ranges.
const needed = new Set();
for (const name of carried) {
  const dir = workspaceDirs.get(name) ?? fail(`packages/sharc depends on ${name}, which is no workspace of ${REPO}`);
  const manifest = readJson(path.join(dir, 'package.json'));
  if (manifest.private) fail(`${name} is private: sharc cannot carry it`);
  for (const [dependency, range] of Object.entries(manifest.dependencies ?? {})) {
    if (dependency.startsWith('@sharc/')) {
      if (!carried.includes(dependency)) fail(`${name} depends on ${dependency}: add "${dependency}": "^${manifest.version}" to the dependencies of packages/sharc/package.json`);
      continue;
    }
    if (declared[dependency] !== range) {
      fail(`${name} depends on ${dependency}@${range}: packages/sharc/package.json must declare "${dependency}": "${range}" (it has ${declared[dependency] ?? 'none'})`);
    }
    needed.add(dependency);
  }
  for (const entry of manifest.files ?? []) {
    if (!existsSync(path.join(dir, entry))) fail(`${path.relative(REPO, path.join(dir, entry))} is missing: run npm run build first`);
  }
}
for (const dependency of Object.keys(declared)) {
  if (!carried.includes(dependency) && !needed.has(dependency)) fail(`packages/sharc/package.json declares ${dependency}, which no @sharc workspace depends on: remove it`);
}
if (!existsSync(path.join(PACKAGE_DIR, 'dist/src/index.js'))) fail('packages/sharc/dist/src is missing: run npm run build first');

const destination = path.resolve(process.argv[2] ?? '.');
mkdirSync(destination, { recursive: true });
const work = mkdtempSync(path.join(os.tmpdir(), 'sharc-pack-'));
// On 'exit': fail() ends the process from anywhere, past any finally.
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const tarballs = path.join(work, 'tarballs');
mkdirSync(tarballs);
const packed = npmPack(['sharc', ...carried].flatMap((name) => ['--workspace', name]), REPO, tarballs);
const stage = path.join(work, 'sharc');
for (const entry of packed) {
  const into = entry.name === 'sharc' ? stage : path.join(stage, LIB, libName(entry.name));
  mkdirSync(into, { recursive: true });
  run('tar', ['-xzf', path.join(tarballs, entry.filename), '-C', into, '--strip-components=1'], REPO);
}
copyFileSync(path.join(REPO, 'LICENSE'), path.join(stage, 'LICENSE'));

// `@sharc/name/sub` → the relative path of the file the workspace exports as `./sub`: its
// "types" file (by its module's name) from a declaration file, its "default" one from JavaScript.
const exportsOf = new Map(carried.map((name) => [name, readJson(path.join(stage, LIB, libName(name), 'package.json')).exports ?? {}]));
const target = (specifier, fromFile) => {
  const [, scope, name, ...rest] = /^(@sharc)\/([^/]+)(?:\/(.+))?$/.exec(specifier) ?? [];
  const packageName = `${scope}/${name}`;
  const exports = exportsOf.get(packageName) ?? fail(`${path.relative(stage, fromFile)} imports ${specifier}, a package sharc does not carry`);
  const subpath = rest[0] === undefined ? '.' : `./${rest[0]}`;
  const entry = exports[subpath];
  const file = typeof entry === 'string' ? entry : entry?.[fromFile.endsWith('.d.ts') ? 'types' : 'default'];
  if (file === undefined) fail(`${path.relative(stage, fromFile)} imports ${specifier}, which ${packageName} does not export`);
  // A declaration file names its sibling module (x.js for x.d.ts), as tsc writes them.
  const relative = path.relative(path.dirname(fromFile), path.join(stage, LIB, name, file.replace(/\.d\.ts$/, '.js')));
  return relative.startsWith('.') ? relative : `./${relative}`;
};
let rewritten = 0;
for (const file of filesUnder(stage)) {
  if (!/\.(m?js|d\.ts)$/.test(file)) continue;
  const text = readFileSync(file, 'utf8');
  // Comment lines are left alone: a usage example reads `from '@sharc/sdk'`, not a path.
  const next = text
    .split('\n')
    .map((line) => (COMMENT_LINE.test(line) ? line : line.replace(SPECIFIER, (_, lead, quote, specifier) => `${lead}${quote}${target(specifier, file)}${quote}`)))
    .join('\n');
  if (next === text) continue;
  writeFileSync(file, next);
  rewritten++;
}

// A specifier the rewrite cannot see (createRequire, import.meta.resolve, a string built at
// run time) would fail only once installed: refuse any quoted `@sharc/` left in code.
for (const file of filesUnder(stage)) {
  if (!/\.m?js$/.test(file)) continue;
  const left = readFileSync(file, 'utf8')
    .split('\n')
    .findIndex((line) => !COMMENT_LINE.test(line) && /['"`]@sharc\//.test(line));
  if (left >= 0) fail(`${path.relative(stage, file)}:${left + 1} names an @sharc package in a way pack-sharc cannot rewrite: import it with a static import`);
}

// The published manifest: the workspaces are files of the package now, not dependencies.
const manifest = readJson(path.join(stage, 'package.json'));
for (const name of carried) delete manifest.dependencies[name];
manifest.files = [...manifest.files, LIB];
writeFileSync(path.join(stage, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);

const [result] = npmPack([], stage, destination);
const files = new Set(result.files.map((file) => file.path));
const missing = REQUIRED_FILES.filter((file) => !files.has(file));
if (missing.length > 0) fail(`the tarball lacks ${missing.join(', ')}`);
const tarball = path.join(destination, result.filename);
process.stderr.write(
  `pack-sharc: ${result.filename}: ${result.entryCount} files, ${(statSync(tarball).size / 1024).toFixed(0)} KiB packed, ` +
    `${(result.unpackedSize / 1024 / 1024).toFixed(1)} MiB unpacked; carries ${carried.join(', ')} in ${LIB}/ ` +
    `(@sharc specifiers rewritten in ${rewritten} files)\n`,
);
process.stdout.write(`${tarball}\n`);
