#!/usr/bin/env bash
# Builds the sharc image WITHOUT a registry: no base image is pulled and no package is
# downloaded. It packs this host's own `node` and `nats-server` binaries, the shared libraries
# they (and the native addons under node_modules) load, the built workspace with its
# production dependencies, and a minimal /etc into a root filesystem, then `docker import`s it.
# The result behaves like infra/Dockerfile's image (same paths, user, entry point), so compose
# files, Kubernetes manifests and the e2e containers backend run either one.
#
#   infra/build-offline-image.sh [--tag sharc:offline] [--skip-build] [--keep-rootfs DIR]
#
# Needs: a built or buildable checkout (npm dependencies installed), node, nats-server, ldd, tar,
# and a Docker engine (DOCKER_HOST is respected; e2e/scripts/with-dockerd.sh starts one).
# Works as any user that can reach the engine: ownership is set in the tar stream, not on disk.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tag="sharc:offline"
build=true
keep_rootfs=""

usage() {
  sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
  case "$1" in
    --tag) tag="${2:?--tag needs a value}"; shift 2 ;;
    --tag=*) tag="${1#--tag=}"; shift ;;
    --skip-build) build=false; shift ;;
    --keep-rootfs) keep_rootfs="${2:?--keep-rootfs needs a directory}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "build-offline-image: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done

fail() { echo "build-offline-image: $*" >&2; exit 1; }

# The uid/gid of the `sharc` user, numeric so that Kubernetes' runAsNonRoot can check it.
# Must match infra/Dockerfile.
readonly SHARC_UID=10001
readonly SHARC_GID=10001
readonly APP_DIR=opt/sharc

command -v docker >/dev/null 2>&1 || fail "the docker CLI is not installed"
docker info >/dev/null 2>&1 ||
  fail "no Docker engine answers at ${DOCKER_HOST:-the default socket}. Start one (e2e/scripts/with-dockerd.sh infra/build-offline-image.sh) or set DOCKER_HOST."
node_bin="$(command -v node)" || fail "node is not on PATH"
nats_bin="$(command -v nats-server || true)"
[ -n "$nats_bin" ] || nats_bin=/usr/sbin/nats-server
[ -x "$nats_bin" ] || fail "nats-server is missing (apt-get install -y nats-server)"
command -v ldd >/dev/null 2>&1 || fail "ldd is missing (it is part of libc-bin)"
[ -d "$repo/node_modules" ] || fail "node_modules is missing: run npm ci in $repo first"

if [ "$build" = true ]; then
  echo "build-offline-image: building the workspace (npm run build)" >&2
  (cd "$repo" && npm run build --silent)
fi
[ -f "$repo/packages/cli/dist/src/bin.js" ] ||
  fail "packages/cli/dist/src/bin.js is missing: run npm run build (or drop --skip-build)"

work="$(mktemp -d "${TMPDIR:-/tmp}/sharc-image.XXXXXX")"
cleanup() { if [ -z "$keep_rootfs" ]; then rm -rf "$work"; fi; }
trap cleanup EXIT
rootfs="$work/rootfs"
if [ -n "$keep_rootfs" ]; then rm -rf "$keep_rootfs"; mkdir -p "$keep_rootfs"; rootfs="$(cd "$keep_rootfs" && pwd)"; fi
mkdir -p "$rootfs"

# Mirror the host's merged-/usr symlinks (/lib -> usr/lib, ...) so library paths that ldd
# prints resolve the same way inside the image.
for dir in bin sbin lib lib64; do
  if [ -L "/$dir" ]; then
    mkdir -p "$rootfs/$(readlink "/$dir")"
    ln -s "$(readlink "/$dir")" "$rootfs/$dir"
  fi
done
mkdir -p "$rootfs"/{etc,tmp,usr/local/bin,usr/sbin,var/lib/sharc,etc/sharc,"$APP_DIR"}
chmod 1777 "$rootfs/tmp"

# Copies a host file to the same path in the rootfs, following symlinks (the libraries that
# ldd names are usually links to versioned files).
copy_host_file() {
  local source="$1" target="$rootfs$1"
  mkdir -p "$(dirname "$target")"
  cp -L "$source" "$target"
}

echo "build-offline-image: collecting binaries" >&2
cp -L "$node_bin" "$rootfs/usr/local/bin/node"
cp -L "$nats_bin" "$rootfs/usr/sbin/nats-server"
# A shell and env: for `docker exec … sh`, the sharc wrapper below and HEALTHCHECK commands.
copy_host_file /bin/sh
copy_host_file /usr/bin/env

echo "build-offline-image: copying the workspace and its production dependencies" >&2
app="$rootfs/$APP_DIR"
bash "$repo/infra/stage-app.sh" "$repo" "$app"
cp "$repo/infra/nats.conf" "$rootfs/etc/sharc/nats.conf"

# The sharc command for shells and probes; the image's ENTRYPOINT runs node directly.
cat > "$rootfs/usr/local/bin/sharc" <<EOF
#!/bin/sh
exec /usr/local/bin/node /$APP_DIR/packages/cli/dist/src/bin.js "\$@"
EOF
chmod 755 "$rootfs/usr/local/bin/sharc"

echo "build-offline-image: collecting shared libraries" >&2
# Every ELF the image runs: the binaries above and the glibc builds of native addons (the musl
# builds shipped next to them are never loaded here).
mapfile -t elf_files < <(
  printf '%s\n' "$rootfs/usr/local/bin/node" "$rootfs/usr/sbin/nats-server" "$rootfs/bin/sh" "$rootfs/usr/bin/env"
  find "$app/node_modules" -name '*.node' ! -name '*musl*' -type f
)
declare -A libraries=()
for elf in "${elf_files[@]}"; do
  [ -f "$elf" ] || continue
  output="$(ldd "$elf" 2>&1 || true)"
  case "$output" in *"not a dynamic executable"*|*"statically linked"*) continue ;; esac
  if grep -q 'not found' <<<"$output"; then
    fail "$elf needs a library this host lacks: $(grep 'not found' <<<"$output" | tr -s ' \t' ' ')"
  fi
  # Lines look like `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)` or `/lib64/ld-linux-x86-64.so.2 (0x…)`.
  while read -r library; do
    libraries["$library"]=1
  done < <(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$output")
done
for library in "${!libraries[@]}"; do
  copy_host_file "$library"
done
# TLS roots for nats+tls:// servers; node carries its own, nats-server and other tools use these.
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  copy_host_file /etc/ssl/certs/ca-certificates.crt
fi

cat > "$rootfs/etc/passwd" <<EOF
root:x:0:0:root:/root:/bin/sh
sharc:x:$SHARC_UID:$SHARC_GID:sharc:/var/lib/sharc:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
cat > "$rootfs/etc/group" <<EOF
root:x:0:
sharc:x:$SHARC_GID:
nogroup:x:65534:
EOF
printf 'hosts: files dns\n' > "$rootfs/etc/nsswitch.conf"

# Smoke-check the rootfs before handing it to docker: the copied node must start through the
# copied loader with the copied libraries first in line (no chroot, which would need root).
loader="$(printf '%s\n' "${!libraries[@]}" | grep -m1 '/ld-linux' || true)"
if [ -n "$loader" ]; then
  library_path="$(printf '%s\n' "${!libraries[@]}" | xargs -n1 dirname | sort -u | sed "s|^|$rootfs|" | paste -sd:)"
  "$rootfs$loader" --library-path "$library_path" "$rootfs/usr/local/bin/node" -e 'process.exit(0)' ||
    fail "the copied node does not start with the copied libraries"
fi

echo "build-offline-image: importing $tag" >&2
# Root owns everything except the sharc user's state directory (the JetStream store and
# anything a volume mounted there starts from). Appending the second part with its own owner
# keeps this working without root.
archive="$work/rootfs.tar"
tar -C "$rootfs" --numeric-owner --owner=0 --group=0 --exclude=./var/lib/sharc -cf "$archive" .
tar -C "$rootfs" --numeric-owner --owner="$SHARC_UID" --group="$SHARC_GID" -rf "$archive" ./var/lib/sharc
docker import \
  --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --change "ENV NODE_ENV=production" \
  --change "WORKDIR /var/lib/sharc" \
  --change "USER $SHARC_UID:$SHARC_GID" \
  --change "ENTRYPOINT [\"/usr/local/bin/node\", \"/$APP_DIR/packages/cli/dist/src/bin.js\"]" \
  --change 'CMD ["--help"]' \
  --change 'HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 CMD sharc status --json >/dev/null || exit 1' \
  --change 'EXPOSE 4222 7070' \
  --change 'LABEL org.opencontainers.image.title=sharc org.opencontainers.image.description="sharc, built offline from the host binaries"' \
  "$archive" "$tag" >/dev/null
size="$(docker image inspect --format '{{.Size}}' "$tag")"
echo "build-offline-image: built $tag ($((size / 1024 / 1024)) MiB)" >&2
