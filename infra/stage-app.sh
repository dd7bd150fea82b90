#!/usr/bin/env bash
# Copies what the sharc image runs out of a built checkout into DEST (the image's /opt/sharc):
# the root package.json, the production dependency closure of the CLI workspace
# (node_modules, the @sharc/* workspace links included) and each of those workspaces as npm
# would publish it (package.json, dist/src and any dist/wasm: no sources, no tests, no dev dependencies).
#
#   infra/stage-app.sh REPO DEST
#
# Used by infra/Dockerfile and infra/build-offline-image.sh, so both images hold the same
# files. Needs npm (it asks `npm ls` for the closure, offline) and a built checkout.
set -euo pipefail

fail() { echo "stage-app: $*" >&2; exit 1; }

[ $# -eq 2 ] || fail "usage: infra/stage-app.sh REPO DEST"
repo="$(cd "$1" && pwd)"
mkdir -p "$2"
dest="$(cd "$2" && pwd)"
[ -d "$repo/node_modules" ] || fail "$repo/node_modules is missing: run npm ci first"
[ -f "$repo/packages/cli/dist/src/bin.js" ] || fail "packages/cli/dist/src/bin.js is missing: run npm run build first"

cp "$repo/package.json" "$dest/"
# `npm ls` reads node_modules and the lock file only: no registry. It exits nonzero on any
# problem anywhere in the tree (an extraneous dev package, say), so its status is not used;
# the checks below catch a closure that is really incomplete.
mapfile -t dependency_dirs < <(
  cd "$repo" && npm ls --omit=dev --all --parseable --workspace @sharc/cli 2>/dev/null |
    sed -n "s|^$repo/node_modules/|node_modules/|p" | sort -u
)
[ "${#dependency_dirs[@]}" -gt 10 ] || fail "npm ls found no production dependencies for @sharc/cli in $repo"
workspaces=()
for dir in "${dependency_dirs[@]}"; do
  # A nested node_modules comes with its parent package (sort puts the parent first).
  if [ -e "$dest/$dir" ] || [ -L "$dest/$dir" ]; then continue; fi
  mkdir -p "$dest/$(dirname "$dir")"
  cp -a "$repo/$dir" "$dest/$dir"
  if [ -L "$repo/$dir" ]; then
    workspace="$(realpath --relative-to="$repo" "$repo/$dir")"
    case "$workspace" in ../*|/*) fail "$dir links outside the repository ($workspace)" ;; esac
    workspaces+=("$workspace")
  fi
done
[ "${#workspaces[@]}" -gt 0 ] || fail "no @sharc workspace in the closure of @sharc/cli"
for workspace in "${workspaces[@]}"; do
  [ -d "$repo/$workspace/dist/src" ] || fail "$workspace/dist/src is missing: run npm run build first"
  mkdir -p "$dest/$workspace/dist"
  cp "$repo/$workspace/package.json" "$dest/$workspace/"
  cp -R "$repo/$workspace/dist/src" "$dest/$workspace/dist/src"
  # Built WebAssembly (the node agent's built-in reductions), part of what the package publishes.
  if [ -d "$repo/$workspace/dist/wasm" ]; then cp -R "$repo/$workspace/dist/wasm" "$dest/$workspace/dist/wasm"; fi
done
# Check that the staged tree really loads: every workspace's entry point resolves and imports.
(cd "$dest" && node --input-type=module -e '
  import { readFileSync } from "node:fs";
  for (const dir of process.argv.slice(1)) await import(JSON.parse(readFileSync(`${dir}/package.json`, "utf8")).name);
' "${workspaces[@]}") || fail "the staged packages do not load"
echo "stage-app: ${#dependency_dirs[@]} packages, workspaces ${workspaces[*]}" >&2
