/**
 * Last-resort cleanup when the test process ends without running its `after` hooks (an uncaught
 * error, Ctrl-C, the test runner's SIGTERM): namespaces and service processes must not outlive
 * the run. Cleanups here are synchronous because an 'exit' listener cannot wait for anything.
 */
const cleanups = new Set<() => void>();
const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
let installed = false;

function runAll(): void {
  for (const cleanup of [...cleanups]) {
    cleanups.delete(cleanup);
    try {
      cleanup();
    } catch {
      // Best effort: one failed cleanup must not stop the others.
    }
  }
}

function onSignal(signal: NodeJS.Signals): void {
  runAll();
  // Die of the same signal, as if we had never caught it.
  for (const s of SIGNALS) process.removeListener(s, onSignal);
  process.kill(process.pid, signal);
}

/** Runs `cleanup` if the process exits or is signalled before the returned function is called. */
export function cleanUpOnExit(cleanup: () => void): () => void {
  if (!installed) {
    installed = true;
    process.on('exit', runAll);
    for (const signal of SIGNALS) process.on(signal, onSignal);
  }
  cleanups.add(cleanup);
  return () => {
    cleanups.delete(cleanup);
  };
}
