/**
 * A job's timeout counts from its submission: a job that waited (queued, or resumed by a new
 * coordinator) gets only what is left, and its TimeoutError names the time the caller gave.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TimeoutError, type ArrayMeta, type JobSpec, type Logger, type MessageBus } from '@sharc/protocol';
import { RunningJob, type JobHooks } from '../src/jobs/run-job.js';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

const input: ArrayMeta = {
  id: 'a1',
  name: 'input',
  dtype: 'float64',
  shape: [100],
  createdAt: 0,
  partitions: [{ index: 0, rowStart: 0, rowCount: 100, byteLength: 800, agentId: 'agent-a' }],
};

describe('job timeout', () => {
  it('gives a partition only what is left of the job time, and names the whole timeout when it runs out', async () => {
    const given: number[] = [];
    const hooks: JobHooks = {
      bus: { publish() {} } as unknown as MessageBus,
      logger: quiet,
      jobSubject: 'job',
      agentOf: () => 'agent-a',
      // The agent never answers: only the job's timeout ends it.
      runPartition: (_index, _agent, _attempt, timeoutMs) => {
        given.push(timeoutMs);
        return new Promise(() => undefined);
      },
      recoverPartition: async () => undefined,
      partitionMissing() {},
      finishedWorkDiesWithAgent: false,
      deathWindowMs: 1000,
      cancelEverywhere() {},
      finish: async () => undefined,
    };
    const spec = { kind: 'reduce', arrayId: input.id, kernel: { kind: 'builtin', op: 'sum' } } as unknown as JobSpec;
    // Submitted 1.9 s ago with 2 s to run (as a job resumed by a new coordinator is).
    const job = new RunningJob('j1', spec, input, { startedAt: Date.now() - 1900, timeoutMs: 2000 }, 0, hooks);
    // The job's own timer does not hold the process open (unref'd); this one does, meanwhile.
    const keepAlive = setInterval(() => undefined, 1000);
    await assert.rejects(job.run().finally(() => clearInterval(keepAlive)), (error: Error) => {
      assert.ok(error instanceof TimeoutError, `${error.name}: ${error.message}`);
      assert.equal(error.message, 'job j1 did not finish within 2000 ms');
      return true;
    });
    assert.equal(given.length, 1);
    assert.ok(given[0]! <= 100, `the partition was given ${given[0]} ms, more than the 100 ms left`);
    assert.equal(job.status().startedAt <= Date.now() - 1900, true, 'status shows when the job was submitted');
  });
});
