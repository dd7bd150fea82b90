#!/usr/bin/env bash
# The multi-host end-to-end suites (run as root): the same scenarios on separate hosts made of
# network namespaces, and in containers of the sharc image on a private Docker engine that
# e2e/scripts/with-dockerd.sh starts and removes (installing Debian's docker.io when missing);
# then the fault scenarios (agents killed, a host cut off, chaos) on network namespaces, a
# bounded soak of small jobs from 4 clients on local processes, and the web dashboard in
# headless chromium against a real `sharc up`.
# SHARC_E2E_CONTAINERS=skip leaves the containers suite out on purpose (it is reported skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh --nats --iproute --chromium
npm run build --silent
run_suites() {
  node --test --test-concurrency=1 --test-timeout=600000 --test-reporter=spec e2e/dist/test/netns.test.js e2e/dist/test/containers.test.js
}
run_fault_suites() {
  node --test --test-concurrency=1 --test-timeout=600000 --test-reporter=spec e2e/dist/test/netns-faults.test.js e2e/dist/test/soak.test.js e2e/dist/test/dashboard.test.js
}
# The fault scenarios, the soak and the dashboard need no Docker engine: they run after the engine is gone,
# and even when the shared suites failed (the script fails if either did).
status=0
if [ "${SHARC_E2E_CONTAINERS:-}" = "skip" ]; then
  run_suites || status=$?
else
  export -f run_suites
  bash e2e/scripts/with-dockerd.sh bash -c run_suites || status=$?
fi
run_fault_suites || status=$?
exit "$status"
