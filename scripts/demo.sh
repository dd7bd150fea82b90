#!/usr/bin/env bash
# The main job: installs what it needs, builds, and runs `sharc demo` on the embedded cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
npm run build --silent
node packages/cli/dist/src/bin.js demo "$@"
