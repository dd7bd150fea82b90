/**
 * Listening on a caller's AbortSignal. A caller may hand one signal to hundreds of concurrent
 * calls (cancel everything on Ctrl-C): one listener per call would pass Node's limit of 10 and
 * print a MaxListenersExceededWarning, and raising the limit on the caller's signal would hide
 * real leaks. So every call on a signal shares one listener, added by the first call and
 * removed when the last one ends: a signal that outlives the calls keeps nothing of them.
 */

interface Waiters {
  callbacks: Set<() => void>;
  dispatch: () => void;
}

const waitersOf = new WeakMap<AbortSignal, Waiters>();

/**
 * Runs `callback` once if `signal` aborts before the returned function is called; that function
 * (call it when the call ends, however it ends) stops listening. On a signal that is already
 * aborted (its event is past), `callback` runs on the next microtask.
 */
export function whenAborted(signal: AbortSignal, callback: () => void): () => void {
  if (signal.aborted) {
    let stopped = false;
    queueMicrotask(() => stopped || callback());
    return () => (stopped = true);
  }
  let waiters = waitersOf.get(signal);
  if (waiters === undefined) {
    const callbacks = new Set<() => void>();
    const dispatch = () => {
      waitersOf.delete(signal);
      for (const waiting of callbacks) waiting();
      callbacks.clear();
    };
    waiters = { callbacks, dispatch };
    waitersOf.set(signal, waiters);
    signal.addEventListener('abort', dispatch, { once: true });
  }
  // A wrapper, so the same function passed twice is two waiters.
  const waiter = () => callback();
  const { callbacks, dispatch } = waiters;
  callbacks.add(waiter);
  return () => {
    if (!callbacks.delete(waiter) || callbacks.size > 0) return;
    signal.removeEventListener('abort', dispatch);
    if (waitersOf.get(signal)?.dispatch === dispatch) waitersOf.delete(signal);
  };
}
