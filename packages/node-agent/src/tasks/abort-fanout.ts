/**
 * Calls `onAbort` when `signal` aborts; returns a function that stops listening.
 *
 * Why not signal.addEventListener per caller: every task of a job on this agent listens on the
 * job's one signal, and Node's EventTarget looks through all of a signal's listeners on each
 * add and remove (it refuses duplicates), so 10,000 tasks of one job cost 10,000² steps. Here
 * each signal has one listener, which calls a Set of callbacks: constant time per task.
 */
export function whenJobAborted(signal: AbortSignal, onAbort: () => void): () => void {
  let callbacks = fanouts.get(signal);
  if (callbacks === undefined) {
    const created = new Set<() => void>();
    callbacks = created;
    fanouts.set(signal, created);
    signal.addEventListener(
      'abort',
      () => {
        fanouts.delete(signal);
        for (const callback of [...created]) callback();
      },
      { once: true },
    );
  }
  const registered = callbacks;
  registered.add(onAbort);
  return () => void registered.delete(onAbort);
}

const fanouts = new WeakMap<AbortSignal, Set<() => void>>();
