#!/usr/bin/env bash
# The one test command: installs what it needs, builds, and runs every unit and integration
# test (embedded cluster, and a real nats-server with coordinator and agent processes).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh --nats --numpy
npm run build --silent
mapfile -t tests < <(find packages -path '*/node_modules' -prune -o -path '*/dist/test/*' -name '*.test.js' -print | sort)
if [ "${#tests[@]}" -eq 0 ]; then
  echo "sharc: no compiled tests found under packages/*/dist/test" >&2
  exit 1
fi
node --test --test-concurrency=1 --test-timeout=300000 --test-reporter=spec "${tests[@]}"
