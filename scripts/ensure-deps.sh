#!/usr/bin/env bash
# Installs what sharc needs: the npm dependencies (npm ci, when node_modules is missing or
# stale), and with --nats / --numpy / --iproute / --gcc / --chromium the Debian packages the tests use: nats-server
# (a real server for the integration tests), python3-numpy (the .npy interop test checks our
# files against numpy itself, and numpy is a baseline of the bench), iproute2 (`ip`, for the e2e
# hosts made of network namespaces), gcc (the bench compiles its C/OpenMP baseline) and chromium
# (the dashboard's browser test drives it headless with puppeteer-core, which downloads no browser).
# Debian packages are installed only when missing, and only as root.
set -euo pipefail
cd "$(dirname "$0")/.."

want_nats=false
want_numpy=false
want_ip=false
want_gcc=false
want_chromium=false
for arg in "$@"; do
  case "$arg" in
    --nats) want_nats=true ;;
    --numpy) want_numpy=true ;;
    --iproute) want_ip=true ;;
    --gcc) want_gcc=true ;;
    --chromium) want_chromium=true ;;
    *) echo "ensure-deps: unknown option $arg (use --nats, --numpy, --iproute, --gcc, --chromium)" >&2; exit 2 ;;
  esac
done

apt_updated=false
apt_install() {
  local package="$1" why="$2"
  if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "sharc: $why is missing. Install it: sudo apt-get install -y $package" >&2
    exit 1
  fi
  echo "sharc: installing $package ($why)" >&2
  if [ "$apt_updated" = false ]; then
    apt-get update -qq
    apt_updated=true
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null
}

if [ "$want_nats" = true ] && ! command -v nats-server >/dev/null 2>&1; then
  apt_install nats-server "nats-server"
fi
if [ "$want_ip" = true ] && ! command -v ip >/dev/null 2>&1; then
  apt_install iproute2 "ip (iproute2, for the network-namespace hosts of the e2e suite)"
fi
if [ "$want_gcc" = true ] && ! command -v gcc >/dev/null 2>&1; then
  apt_install gcc "gcc (the bench compiles its C/OpenMP baseline)"
fi
if [ "$want_chromium" = true ] && ! command -v chromium >/dev/null 2>&1; then
  apt_install chromium "chromium (the dashboard's browser test)"
fi
if [ "$want_numpy" = true ] && ! /usr/bin/python3 -c 'import numpy' >/dev/null 2>&1; then
  apt_install python3-numpy "numpy for /usr/bin/python3"
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "sharc: installing npm dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
