#!/usr/bin/env bash
# CI: the sharc package works where a user installs it. Packs it from the built checkout
# (scripts/pack-sharc.mjs), installs the tarball into an empty project in a fresh temporary
# directory outside the repository (node cannot reach the repository's node_modules from there;
# checked), then, with only what npm installed:
#   1. an ES module script: connect() embedded, put, reduce 'sum', a custom kernel from a module
#      file of that project (map and reduce), values checked; and tsc checks a TypeScript file
#      against the package's types; `npm install -g` of the tarball gives a working `sharc`;
#   2. `sharc up --agents 2` (the installed bin) in its own process group; once "sharc cluster
#      ready", `npx sharc put/reduce/status` and an SDK script against it, values checked; SIGINT
#      to its process group: it must exit 0 and leave no process behind (nats-server included).
# Needs a built checkout (npm run build), nats-server on PATH and the npm registry.
#
#   bash scripts/pack-check.sh        (npm run pack-check)
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
started=$SECONDS
READY_TIMEOUT_S=90
STOP_TIMEOUT_S=60

fail() {
  echo "pack-check: FAILED: $*" >&2
  exit 1
}
step() { echo "== pack-check: $*"; }

[ -f packages/cli/dist/src/bin.js ] && [ -f packages/sharc/dist/src/index.js ] || fail "the checkout is not built: run npm run build first"
command -v nats-server >/dev/null || fail "nats-server is not on PATH (sharc up needs it): bash scripts/ensure-deps.sh --nats"

work="$(mktemp -d "${TMPDIR:-/tmp}/sharc-pack-check-XXXXXX")"
work="$(cd "$work" && pwd -P)"
project="$work/project"
up_pid=""
global_pid=""
cleanup() {
  local status=$?
  if [ -n "$global_pid" ] && kill -0 "$global_pid" 2>/dev/null; then kill "$global_pid" 2>/dev/null || true; wait "$global_pid" 2>/dev/null || true; fi
  if [ -n "$up_pid" ] && kill -0 "$up_pid" 2>/dev/null; then
    echo "pack-check: stopping the sharc up left running (process group $up_pid)" >&2
    kill -INT -- "-$up_pid" 2>/dev/null || true
    for _ in $(seq 1 "$STOP_TIMEOUT_S"); do kill -0 "$up_pid" 2>/dev/null || break; sleep 1; done
    kill -KILL -- "-$up_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
  echo "pack-check: $([ "$status" -eq 0 ] && echo passed || echo failed) in $((SECONDS - started)) s"
}
trap cleanup EXIT

# Node looks for packages in node_modules of the project and of every folder above it, and in
# NODE_PATH: none of them may be (or lead to) the repository's.
case "$work/" in "$repo"/*) fail "the temporary directory $work is inside the repository" ;; esac
unset NODE_PATH
dir="$work"
while [ "$dir" != "/" ]; do
  dir="$(dirname "$dir")"
  [ ! -e "$dir/node_modules" ] || fail "$dir/node_modules exists: node would resolve packages from it; set TMPDIR to a clean directory"
done
for folder in "$HOME/.node_modules" "$HOME/.node_libraries"; do
  [ ! -e "$folder" ] || fail "$folder exists: node's CommonJS loader would look there"
done
echo "pack-check: no node_modules above $work, no NODE_PATH, no ~/.node_modules: node there cannot reach $repo"

step "pack"
tarball="$(node scripts/pack-sharc.mjs "$work/tarball")" || fail "packing sharc failed (see above)"
tarball_kib=$(($(stat -c %s "$tarball") / 1024))

step "install $(basename "$tarball") (${tarball_kib} KiB) into an empty project in $work"
mkdir -p "$project"
cd "$project"
cat >package.json <<'EOF'
{ "name": "sharc-pack-check", "private": true, "type": "module" }
EOF
# The TypeScript a user would check their code with: the repository's own versions.
typescript="$(node -p "require('$repo/package.json').devDependencies.typescript")"
types_node="$(node -p "require('$repo/package.json').devDependencies['@types/node']")"
npm install --no-audit --no-fund --loglevel=error --prefer-offline "$tarball" "typescript@$typescript" "@types/node@$types_node" ||
  fail "npm install of the tarball failed (see above)"
# Meanwhile (npm spends most of its time waiting on the registry), the same tarball installed
# globally, as README's "Run on several machines" suggests; checked at the end.
npm install -g --prefix "$work/global" --no-audit --no-fund --loglevel=error --prefer-offline "$tarball" >"$work/global.log" 2>&1 &
global_pid=$!
resolved="$(node --input-type=module -e "console.log(new URL(import.meta.resolve('sharc')).pathname)")"
case "$resolved" in "$project"/node_modules/sharc/*) ;; *) fail "'sharc' resolves to $resolved, not to the installed package" ;; esac
if node --input-type=module -e "import.meta.resolve('@sharc/sdk')" 2>/dev/null; then
  fail "@sharc/sdk resolves from the project: the workspaces must be carried inside sharc (lib/), not installed beside it"
fi

cat >kernels.ts <<'EOF'
// A user's own kernel module, TypeScript, typed by the package.
import type { KernelContext } from 'sharc';

export function scale(input: Float64Array, output: Float64Array, ctx: KernelContext<{ factor: number }>): void {
  for (let i = 0; i < input.length; i++) output[i] = input[i]! * ctx.params.factor;
}

export function partial(block: Float64Array, ctx: KernelContext<{ threshold: number }>): number {
  let count = 0;
  for (let i = 0; i < block.length; i++) if (block[i]! > ctx.params.threshold) count++;
  return count;
}

export function combine(a: number, b: number): number {
  return a + b;
}
EOF
# The checks both scripts run: on an embedded cluster, or on the one `servers` names.
cat >check.mjs <<'EOF'
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { connect, ArrayRef, KernelError } from 'sharc';

const kernels = fileURLToPath(new URL('./kernels.ts', import.meta.url));
const servers = process.argv[2];
const cluster = await connect(servers === undefined ? { embedded: { agents: 2, threads: 2 } } : { servers });
try {
  const rows = 20_000;
  const cols = 8;
  const data = new Float64Array(rows * cols).map((_, i) => i % 10);
  const expectedSum = data.reduce((sum, value) => sum + value, 0);
  const a = await cluster.put(data, { shape: [rows, cols], name: 'pack-check', replace: true });
  assert.ok(a instanceof ArrayRef);
  assert.equal(await cluster.reduce(a, 'sum'), expectedSum, "reduce 'sum'");
  const above = await cluster.reduce(a, { module: kernels, params: { threshold: 6 } });
  assert.equal(above, data.filter((value) => value > 6).length, 'custom reduce (partial + combine)');
  const tripled = await cluster.map(a, { module: kernels, kernel: 'scale', params: { factor: 3 } }, { name: 'pack-check-tripled', replace: true });
  assert.deepEqual(await tripled.toArray(), data.map((value) => value * 3), 'custom map');
  await assert.rejects(cluster.reduce(a, { module: kernels, partial: 'missing' }), KernelError, 'a kernel export that does not exist');
  if (servers !== undefined) {
    // What `npx sharc put` stored before this script ran.
    const cli = await cluster.open('from-cli');
    assert.deepEqual([...cli.shape], [1000, 4]);
    assert.equal(await cluster.reduce(cli, 'sum'), (999 * 1000) / 2 * 4, "reduce 'sum' of the array sharc put stored");
  }
  console.log(`pack-check: ${servers === undefined ? 'embedded' : servers}: put, reduce sum, custom reduce and map: ok`);
} finally {
  await cluster.close();
}
EOF
cat >types.ts <<'EOF'
// The package's types, as a user's TypeScript sees them.
import { connect, type ArrayRef, type Cluster, type ConnectOptions, type DType } from 'sharc';

const options: ConnectOptions = { servers: 'nats://127.0.0.1:4222' };
const cluster: Cluster = await connect(options);
const a: ArrayRef = await cluster.put(new Float32Array(8), { shape: [4, 2], name: 't' });
const dtype: DType = a.dtype;
const shape: readonly number[] = a.shape;
console.log(dtype, shape);
// @ts-expect-error: put's options are checked
await cluster.put(new Float32Array(8), { shap: [4, 2] });
await cluster.close();
EOF
cat >tsconfig.json <<'EOF'
{
  "compilerOptions": {
    "target": "ES2022", "module": "NodeNext", "moduleResolution": "NodeNext", "strict": true,
    "noUncheckedIndexedAccess": true, "noEmit": true, "types": ["node"]
  },
  "files": ["types.ts", "kernels.ts"]
}
EOF

step "1. embedded: an ES module script imports sharc (put, reduce, a custom kernel of this project)"
node check.mjs || fail "the embedded cluster run failed (see above)"
step "types: tsc checks a TypeScript file against the package's types"
npx tsc -p tsconfig.json || fail "the package's types do not check (see above)"

step "2. sharc up --agents 2, then npx sharc and an SDK script against it"
port="$(node -e "const s=require('node:net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")"
up_log="$work/up.log"
data_dir="$work/data"
show_up_logs() {
  echo "--- sharc up output:" >&2
  cat "$up_log" >&2 || true
  for log in "$data_dir"/logs/*.log; do
    [ -f "$log" ] || continue
    echo "--- $log (last 20 lines):" >&2
    tail -n 20 "$log" >&2
  done
}
# Job control: the background job gets its own process group, as in a terminal, so Ctrl-C is
# one SIGINT to that group. sharc up runs from the bin npm installed (what `npx sharc` runs):
# npm exec itself exits 130 at once on SIGINT, without waiting for its command to finish, which
# would hide sharc up's own exit code and race its shutdown.
set -m
node_modules/.bin/sharc up --agents 2 --threads 1 --port "$port" --http-port 0 --data-dir "$data_dir" >"$up_log" 2>&1 &
up_pid=$!
set +m
for _ in $(seq 1 "$READY_TIMEOUT_S"); do
  grep -q 'sharc cluster ready' "$up_log" && break
  kill -0 "$up_pid" 2>/dev/null || { show_up_logs; fail "sharc up exited before the cluster was ready"; }
  sleep 1
done
grep -q 'sharc cluster ready' "$up_log" || { show_up_logs; fail "sharc up printed no 'sharc cluster ready' within $READY_TIMEOUT_S s"; }
servers="nats://127.0.0.1:$port"
grep -q "sharc cluster ready: $servers" "$up_log" || { show_up_logs; fail "sharc up is not ready on $servers"; }
nats_pid="$(cat "$data_dir/nats-server.pid")"

node -e "
  const values = new Float64Array(4000).map((_, i) => Math.floor(i / 4));
  require('node:fs').writeFileSync('from-cli.f64', Buffer.from(values.buffer));
"
npx sharc put from-cli.f64 --dtype float64 --shape 1000,4 --name from-cli --servers "$servers" ||
  { show_up_logs; fail "npx sharc put failed"; }
sum="$(npx sharc reduce from-cli sum --servers "$servers" --json | node -p "JSON.parse(require('node:fs').readFileSync(0, 'utf8')).value")" ||
  { show_up_logs; fail "npx sharc reduce failed"; }
[ "$sum" = "1998000" ] || fail "npx sharc reduce from-cli sum printed '$sum', expected 1998000"
alive="$(npx sharc status --servers "$servers" --json | node -e "
  const status = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));
  console.log(status.agents.filter((agent) => agent.state === 'alive').length)")" || { show_up_logs; fail "npx sharc status failed"; }
[ "$alive" = "2" ] || fail "npx sharc status shows $alive alive agents, expected 2"
echo "pack-check: npx sharc put, reduce (sum $sum), status ($alive agents alive): ok"
node check.mjs "$servers" || { show_up_logs; fail "the SDK script against sharc up failed (see above)"; }

step "stop: SIGINT to sharc up's process group"
kill -INT -- "-$up_pid"
for _ in $(seq 1 "$STOP_TIMEOUT_S"); do kill -0 "$up_pid" 2>/dev/null || break; sleep 1; done
kill -0 "$up_pid" 2>/dev/null && { show_up_logs; fail "sharc up still runs $STOP_TIMEOUT_S s after SIGINT"; }
up_status=0
wait "$up_pid" || up_status=$?
up_pid=""
[ "$up_status" -eq 0 ] || { show_up_logs; fail "sharc up exited $up_status after SIGINT, expected 0"; }
grep -q 'sharc up: cluster stopped' "$up_log" || { show_up_logs; fail "sharc up did not say 'cluster stopped'"; }
! kill -0 "$nats_pid" 2>/dev/null || fail "nats-server (pid $nats_pid) still runs after sharc up exited"
# Its services name the data dir (nats-server's config) or the NATS URL (coordinator, agents).
left="$(ps -eo pid=,args= | grep -v grep | grep -E "(${data_dir//./\\.}|127\\.0\\.0\\.1:$port)([^0-9]|\$)" || true)"
[ -z "$left" ] || fail "processes left behind after sharc up exited:
$left"
echo "pack-check: sharc up exited 0 on SIGINT; nats-server, the coordinator and agents are gone"

step "global: npm install -g (into a prefix of its own) gives a working sharc command"
global_status=0
wait "$global_pid" || global_status=$?
global_pid=""
[ "$global_status" -eq 0 ] || { cat "$work/global.log" >&2; fail "npm install -g of the tarball failed (its output is above)"; }
version="$("$work/global/bin/sharc" --version)" || fail "sharc --version of the global install failed (see above)"
expected_version="$(node -p "require('$repo/packages/sharc/package.json').version")"
[ "$version" = "$expected_version" ] || fail "sharc --version of the global install printed '$version', expected $expected_version"
"$work/global/bin/sharc" --help | grep -q 'sharc up' || fail "sharc --help of the global install does not list sharc up"
echo "pack-check: npm install -g: sharc --version $version, sharc --help: ok"
