/**
 * The client's submission queue on its own: at most maxJobsInFlight jobs started at once, the
 * rest started in call order as slots free; a waiting call that is aborted or times out is
 * never started; a BusyError is retried with backoff within the call's timeout (or not, with
 * retryBusy off). The queue on a real cluster: submission-queue-cluster.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BusyError, CancelledError, KernelError, TimeoutError } from '@sharc/protocol';
import { SubmissionQueue } from '../src/jobs/submission-queue.js';

/** A job the test ends by hand: `finish()` resolves it with its own label. */
function controllableJobs() {
  const started: string[] = [];
  const finishers = new Map<string, () => void>();
  const job = (label: string) => () =>
    new Promise<string>((resolve) => {
      started.push(label);
      finishers.set(label, () => resolve(label));
    });
  const finish = (label: string) => {
    const done = finishers.get(label);
    assert.ok(done, `${label} was started`);
    done();
  };
  return { started, job, finish };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));
const busy = () => new BusyError('the coordinator is running 1 jobs and 0 more are queued: retry later', { retryable: true });

describe('SubmissionQueue', () => {
  it('starts at most maxJobsInFlight jobs, and the rest in call order as slots free', async () => {
    const queue = new SubmissionQueue(2, true);
    const { started, job, finish } = controllableJobs();
    const labels = ['a', 'b', 'c', 'd', 'e'];
    const results = labels.map((label) => queue.run({}, job(label)));
    await tick();
    assert.deepEqual(started, ['a', 'b']);
    assert.equal(queue.waiting, 3);
    finish('b');
    await tick();
    assert.deepEqual(started, ['a', 'b', 'c']);
    finish('a');
    finish('c');
    await tick();
    assert.deepEqual(started, ['a', 'b', 'c', 'd', 'e']);
    finish('d');
    finish('e');
    assert.deepEqual(await Promise.all(results), labels);
    assert.equal(queue.running, 0);
    assert.equal(queue.waiting, 0);
  });

  it('a failed job frees its slot too, and its error reaches its caller unchanged', async () => {
    const queue = new SubmissionQueue(1, true);
    const failing = queue.run({}, async () => {
      throw new KernelError('partial threw');
    });
    const next = queue.run({}, async () => 'next');
    await assert.rejects(failing, KernelError);
    assert.equal(await next, 'next');
  });

  it('an aborted waiting call leaves the queue with CancelledError and is never started; the others keep their order', async () => {
    const queue = new SubmissionQueue(1, true);
    const { started, job, finish } = controllableJobs();
    const controller = new AbortController();
    const first = queue.run({}, job('first'));
    const aborted = queue.run({ signal: controller.signal }, job('aborted'));
    const last = queue.run({}, job('last'));
    await tick();
    controller.abort();
    await assert.rejects(aborted, (error: unknown) => error instanceof CancelledError && /never submitted/.test(error.message));
    assert.equal(queue.waiting, 1);
    finish('first');
    await tick();
    finish('last');
    assert.deepEqual([await first, await last], ['first', 'last']);
    assert.deepEqual(started, ['first', 'last']);
  });

  it('a waiting call whose timeout passes fails with TimeoutError and is never started; a started one gets what is left of its timeout', async () => {
    const queue = new SubmissionQueue(1, true);
    const { started, job, finish } = controllableJobs();
    const first = queue.run({}, job('first'));
    const timedOut = queue.run({ timeoutMs: 30 }, job('timed out'));
    await assert.rejects(timedOut, (error: unknown) => error instanceof TimeoutError && /never submitted/.test(error.message));
    let given: number | undefined;
    const patient = queue.run({ timeoutMs: 60_000 }, async (timeoutMs) => {
      given = timeoutMs;
      return 'patient';
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    finish('first');
    assert.equal(await patient, 'patient');
    assert.ok(given !== undefined && given > 0 && given <= 60_000 - 40, `started with ${given} ms left`);
    assert.deepEqual(started, ['first']);
    await first;
  });

  it('retries a BusyError with backoff until the job is accepted, holding its slot meanwhile', async () => {
    const queue = new SubmissionQueue(1, true);
    let tries = 0;
    const refusedTwice = queue.run({ timeoutMs: 30_000 }, async () => {
      tries++;
      if (tries <= 2) throw busy();
      return 'accepted';
    });
    const { started, job, finish } = controllableJobs();
    const later = queue.run({}, job('later'));
    assert.equal(await refusedTwice, 'accepted');
    assert.equal(tries, 3);
    await tick();
    assert.deepEqual(started, ['later'], 'the later call started only once the retried one ended');
    finish('later');
    await later;
  });

  it('with retryBusy off, the BusyError reaches the caller at once', async () => {
    const queue = new SubmissionQueue(4, false);
    let tries = 0;
    await assert.rejects(
      queue.run({}, async () => {
        tries++;
        throw busy();
      }),
      BusyError,
    );
    assert.equal(tries, 1);
  });

  it('stops retrying when the timeout is over: TimeoutError, with the last refusal as its cause', async () => {
    const queue = new SubmissionQueue(4, true);
    let tries = 0;
    await assert.rejects(
      queue.run({ timeoutMs: 200 }, async () => {
        tries++;
        throw busy();
      }),
      (error: unknown) => error instanceof TimeoutError && error.cause instanceof BusyError && /refused the job as busy/.test(error.message),
    );
    assert.ok(tries >= 2, `tried ${tries} times`);
  });

  it('an abort while backing off rejects with CancelledError and submits nothing more', async () => {
    const queue = new SubmissionQueue(4, true);
    const controller = new AbortController();
    let tries = 0;
    const call = queue.run({ signal: controller.signal }, async () => {
      tries++;
      throw busy();
    });
    await tick();
    controller.abort();
    await assert.rejects(call, CancelledError);
    const triesAtAbort = tries;
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(tries, triesAtAbort);
  });

  it('a non-retryable BusyError is not retried', async () => {
    const queue = new SubmissionQueue(4, true);
    let tries = 0;
    await assert.rejects(
      queue.run({}, async () => {
        tries++;
        throw new BusyError('refused for good', { retryable: false });
      }),
      BusyError,
    );
    assert.equal(tries, 1);
  });

  it('close() fails the waiting calls, never starting them, and refuses new ones', async () => {
    const queue = new SubmissionQueue(1, true);
    const { started, job, finish } = controllableJobs();
    const running = queue.run({}, job('running'));
    const waiting = [queue.run({}, job('w1')), queue.run({ signal: new AbortController().signal, timeoutMs: 60_000 }, job('w2'))];
    await tick();
    queue.close(new Error('closed'));
    for (const call of waiting) await assert.rejects(call, /closed/);
    await assert.rejects(queue.run({}, job('after')), /closed/);
    finish('running');
    assert.equal(await running, 'running');
    assert.deepEqual(started, ['running']);
  });

  it('holds 100,000 waiting calls and runs every one, in order', async () => {
    const queue = new SubmissionQueue(64, true);
    const order: number[] = [];
    const calls = Array.from({ length: 100_000 }, (_, i) =>
      queue.run({}, async () => {
        order.push(i);
        await Promise.resolve();
        return i * 2;
      }),
    );
    const results = await Promise.all(calls);
    assert.ok(results.every((value, i) => value === i * 2));
    assert.ok(order.every((value, i) => value === i), 'started in call order');
  });
});
