/**
 * Job admission: at most maxRunning jobs hold a slot, the next maxQueued wait in arrival
 * order, the rest are refused with a retryable BusyError, and a job that leaves the queue
 * (cancel, timeout) never starts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BusyError, CancelledError } from '@sharc/protocol';
import { JobAdmission } from '../src/index.js';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('JobAdmission', () => {
  it('runs up to maxRunning, queues the next in FIFO order and starts them as slots free', async () => {
    const admission = new JobAdmission(2, 10);
    const started: string[] = [];
    const tickets = ['a', 'b', 'c', 'd'].map((id) => {
      const ticket = admission.enter(id);
      void ticket.admitted.then(() => started.push(id));
      return ticket;
    });
    await tick();
    assert.deepEqual(started, ['a', 'b']);
    assert.deepEqual(['a', 'b', 'c', 'd'].map((id) => admission.stateOf(id)), ['running', 'running', 'queued', 'queued']);
    assert.equal(admission.queuedCount, 2);
    tickets[1]!.release();
    tickets[1]!.release(); // idempotent: frees one slot only
    await tick();
    assert.deepEqual(started, ['a', 'b', 'c']);
    assert.equal(admission.runningCount, 2);
    tickets[0]!.release();
    await tick();
    assert.deepEqual(started, ['a', 'b', 'c', 'd']);
    assert.equal(admission.queuedCount, 0);
  });

  it('refuses a submission beyond the queue with a retryable BusyError that says what to do', () => {
    const admission = new JobAdmission(1, 1);
    admission.enter('running');
    admission.enter('queued');
    assert.throws(
      () => admission.enter('one-too-many'),
      (error: unknown) => error instanceof BusyError && error.code === 'BUSY' && error.retryable && /retry later/.test(error.message),
    );
    assert.equal(admission.queuedCount, 1);
  });

  it('takes a withdrawn job out of the queue: it never starts and the next one moves up', async () => {
    const admission = new JobAdmission(1, 5);
    const first = admission.enter('first');
    const second = admission.enter('second');
    const third = admission.enter('third');
    second.withdraw();
    await assert.rejects(second.admitted, CancelledError);
    first.withdraw(); // running: withdraw keeps its slot
    assert.equal(admission.stateOf('third'), 'queued');
    first.release();
    await third.admitted;
    assert.equal(third.state, 'running');
    assert.equal(admission.queuedCount, 0);
  });

  it('with maxQueued 0 refuses everything beyond the running slots', () => {
    const admission = new JobAdmission(1, 0);
    admission.enter('a');
    assert.throws(() => admission.enter('b'), BusyError);
  });
});
