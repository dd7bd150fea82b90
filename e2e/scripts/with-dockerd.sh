#!/usr/bin/env bash
# Runs a command with a Docker engine: `e2e/scripts/with-dockerd.sh <command…>`.
#
# When an engine already answers (DOCKER_HOST, or the default socket), the command runs
# against it. Otherwise this starts a private dockerd (installing Debian's docker.io first when
# dockerd is missing and we are root) with its data, sockets and containers in a temporary
# directory, exports DOCKER_HOST for the command, and afterwards removes every container,
# stops the daemon and its containerd, unmounts what is left and deletes the directory, also
# when the command fails or the script is interrupted. The command's exit status is returned.
#
# The private engine needs no registry and no network setup: it runs without a bridge and
# without iptables, so containers use the host's network (`--network host`), which is what
# the e2e containers backend does.
#
# Environment:
#   SHARC_DOCKERD_DATA_ROOT  keep images between runs in this directory (default: temporary)
#   SHARC_DOCKERD_FLAGS      extra dockerd flags, e.g. "--storage-driver vfs" where overlayfs
#                            cannot be mounted (dockerd inside an overlayfs container)
#   SHARC_DOCKERD_TIMEOUT    seconds to wait for the engine to answer (default 60)
set -euo pipefail

log() { echo "with-dockerd: $*" >&2; }

if [ $# -eq 0 ]; then
  sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi

if ! command -v docker >/dev/null 2>&1; then
  log "the docker CLI is missing (Debian: apt-get install -y docker.io)"
  exit 1
fi

if docker info >/dev/null 2>&1; then
  log "using the engine that answers at ${DOCKER_HOST:-the default socket}"
  exec "$@"
fi

if [ "$(id -u)" != "0" ]; then
  log "no Docker engine answers at ${DOCKER_HOST:-the default socket}, and starting a private one needs root."
  log "Start Docker (or set DOCKER_HOST to a running engine), or run this script as root."
  exit 1
fi

if ! command -v dockerd >/dev/null 2>&1; then
  if ! command -v apt-get >/dev/null 2>&1; then
    log "dockerd is missing and apt-get is not available to install it; install Docker Engine first."
    exit 1
  fi
  log "installing docker.io (dockerd, containerd, runc) with apt-get"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi

state="$(mktemp -d "${TMPDIR:-/tmp}/sharc-dockerd.XXXXXX")"
data_root="${SHARC_DOCKERD_DATA_ROOT:-$state/data}"
mkdir -p "$data_root"
socket="$state/docker.sock"
dockerd_pid=""

# Processes of this engine: dockerd's own containerd and the shims it started all name the
# state directory on their command line, so they are found by that, never by a program name.
engine_pids() {
  local cmdline pid
  for cmdline in /proc/[0-9]*/cmdline; do
    pid="${cmdline#/proc/}"
    pid="${pid%/cmdline}"
    [ "$pid" = "$$" ] && continue
    if { tr '\0' ' ' <"$cmdline"; } 2>/dev/null | grep -qF -- "$state/"; then
      echo "$pid"
    fi
  done
}

stop_engine() {
  local status=$?
  trap - EXIT INT TERM
  set +e
  if [ -n "$dockerd_pid" ] && kill -0 "$dockerd_pid" 2>/dev/null; then
    local containers
    containers="$(DOCKER_HOST="unix://$socket" docker ps -aq 2>/dev/null)"
    if [ -n "$containers" ]; then
      # shellcheck disable=SC2086 # one id per word
      DOCKER_HOST="unix://$socket" docker rm -f $containers >/dev/null 2>&1
    fi
    kill -TERM "$dockerd_pid" 2>/dev/null
    for _ in $(seq 1 100); do
      kill -0 "$dockerd_pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -KILL "$dockerd_pid" 2>/dev/null
    wait "$dockerd_pid" 2>/dev/null
  fi
  local leftover
  leftover="$(engine_pids)"
  if [ -n "$leftover" ]; then
    # shellcheck disable=SC2086 # one pid per word
    kill -KILL $leftover 2>/dev/null
    sleep 0.5
  fi
  # Container root filesystems, network namespaces and the data root's own mounts.
  local mount_point
  for root in "$state" "$data_root"; do
    awk -v root="$root" '$2 == root || index($2, root "/") == 1 { print $2 }' /proc/mounts | sort -r |
      while read -r mount_point; do
        umount "$mount_point" 2>/dev/null || umount -l "$mount_point" 2>/dev/null
      done
  done
  rm -rf "$state"
  exit "$status"
}
trap stop_engine EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# dockerd logs a lot of gRPC chatter: show its errors, else its last lines.
show_log() {
  local errors
  errors="$(grep -E 'level=(error|fatal)|^failed|Error' "$state/dockerd.log" | tail -n 12)"
  if [ -n "$errors" ]; then echo "$errors" >&2; else tail -n 20 "$state/dockerd.log" >&2; fi
  log "extra dockerd flags go in SHARC_DOCKERD_FLAGS (e.g. \"--storage-driver vfs\" where overlayfs cannot be mounted)"
}

log "starting a private dockerd in $state"
# --bridge=none / --iptables=false: no docker0 bridge and no NAT rules to set up (or leave
# behind) on the host; containers run with --network host. The exec root holds the sockets and
# containerd state; both roots live in the temporary directory so nothing outlives the run.
# shellcheck disable=SC2086 # SHARC_DOCKERD_FLAGS is a list of flags
dockerd \
  --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false --bridge=none \
  --data-root "$data_root" --exec-root "$state/exec" \
  --host "unix://$socket" --pidfile "$state/dockerd.pid" \
  ${SHARC_DOCKERD_FLAGS:-} >"$state/dockerd.log" 2>&1 &
dockerd_pid=$!

export DOCKER_HOST="unix://$socket"
deadline=$((SECONDS + ${SHARC_DOCKERD_TIMEOUT:-60}))
until docker info >/dev/null 2>&1; do
  if ! kill -0 "$dockerd_pid" 2>/dev/null; then
    log "dockerd exited while starting; it cannot run here. From its log:"
    show_log
    exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    log "dockerd did not answer within ${SHARC_DOCKERD_TIMEOUT:-60}s. From its log:"
    show_log
    exit 1
  fi
  sleep 0.3
done
log "engine ready at $DOCKER_HOST ($(docker info --format '{{.ServerVersion}}, storage {{.Driver}}'))"

# The command runs in the background so that a signal to this script (a CI timeout, kill) is
# handled now, not after the command ends: bash defers traps while a foreground child runs.
# The signal is passed on as SIGTERM (background children ignore SIGINT), a second one kills.
"$@" &
command_pid=$!
signals=0
forward() {
  signals=$((signals + 1))
  if [ "$signals" -eq 1 ]; then kill -TERM "$command_pid" 2>/dev/null; else kill -KILL "$command_pid" 2>/dev/null; fi
}
trap forward INT TERM
set +e
while :; do
  wait "$command_pid"
  status=$?
  kill -0 "$command_pid" 2>/dev/null || break
done
set -e
if [ "$signals" -gt 0 ]; then log "interrupted; stopping the engine"; fi
exit "$status"
