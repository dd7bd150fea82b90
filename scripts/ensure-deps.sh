#!/usr/bin/env bash
# Installs what sharc needs to build and test: nats-server (Debian package, when missing and
# we are root) and the npm dependencies (npm ci, when node_modules is missing or stale).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nats-server >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "sharc: installing nats-server (apt-get install -y nats-server)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
  else
    echo "sharc: nats-server is not on PATH. Install it: sudo apt-get install -y nats-server" >&2
    exit 1
  fi
fi

# The .npy interop test checks our files against numpy itself (Debian's python3-numpy).
if ! /usr/bin/python3 -c 'import numpy' >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "sharc: installing python3-numpy for the .npy interop test" >&2
    [ -n "$(find /var/lib/apt/lists -name '*Packages*' -print -quit 2>/dev/null)" ] || apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-numpy >/dev/null
  else
    echo "sharc: numpy is missing for /usr/bin/python3 (the .npy interop test needs it): sudo apt-get install -y python3-numpy" >&2
    exit 1
  fi
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "sharc: installing npm dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
