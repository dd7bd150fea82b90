/**
 * What the coordinator does with work an agent takes with it when it dies: a control request
 * it never answered ends as soon as it is declared dead, and a map partition it had already
 * finished is computed again elsewhere before the job ends (its output died with the agent).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ArrayNotFoundError, ConnectionError, MISSING_PARTITION_DETAIL, type AgentInfo, type ArrayMeta, type JobSpec, type Logger, type MessageBus } from '@sharc/protocol';
import { RunningJob, type JobHooks } from '../src/jobs/run-job.js';
import { AgentClient } from '../src/agents/agent-client.js';
import { PartitionAllocator } from '../src/placement/partition-allocator.js';
import { AgentRegistry } from '../src/registry/agent-registry.js';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

function agentInfo(id: string, pid: number): AgentInfo {
  return { id, host: 'h', pid, dataHost: '127.0.0.1', dataPort: 7000, threads: 1, memoryBytes: 1 << 20, usedBytes: 0, partitions: 0, workInFlight: 0 };
}

const input: ArrayMeta = {
  id: 'a1',
  name: 'input',
  dtype: 'float64',
  shape: [200],
  createdAt: 0,
  partitions: [
    { index: 0, rowStart: 0, rowCount: 100, byteLength: 800, agentId: 'agent-a', replicas: ['agent-c'] },
    { index: 1, rowStart: 100, rowCount: 100, byteLength: 800, agentId: 'agent-b', replicas: ['agent-c'] },
  ],
};

describe('work an agent takes with it when it dies', () => {
  it('a control request the agent never answered fails, retryably, once the agent is declared dead', { timeout: 5000 }, async () => {
    const agents = new AgentRegistry(Infinity, quiet);
    agents.register(agentInfo('agent-a', 1));
    // The agent got the request and died: no reply will ever come.
    const bus = { call: () => new Promise(() => undefined) } as unknown as MessageBus;
    const allocator = new PartitionAllocator(new AgentClient(bus, 'default', agents), agents, quiet);
    const meta: ArrayMeta = { ...input, partitions: [{ index: 0, rowStart: 0, rowCount: 200, byteLength: 1600, agentId: 'agent-a' }] };
    const sealing = allocator.tellAgentsOf(meta, { type: 'partition.seal', arrayId: meta.id } as never);
    // A restarted agent registering from another process is how it is declared dead here.
    setTimeout(() => agents.register(agentInfo('agent-a', 2)), 20);
    await assert.rejects(sealing, (error: Error) => {
      assert.ok(error instanceof ConnectionError && error.retryable, `${error.name}: ${error.message}`);
      assert.match(error.message, /agent agent-a died before it answered partition\.seal/);
      return true;
    });
  });

  for (const kind of ['map', 'reduce'] as const) {
    it(`a ${kind}'s partition finished on an agent that dies before the job ends is ${kind === 'map' ? 'computed again elsewhere' : 'kept'}`, async () => {
      const served = input.partitions.map((p) => p.agentId);
      const runs: string[] = [];
      let finishPartition1!: () => void;
      const hooks: JobHooks = {
        bus: { publish() {} } as unknown as MessageBus,
        logger: quiet,
        jobSubject: 'job',
        agentOf: (index) => served[index]!,
        runPartition: async (index, agentId, attempt) => {
          runs.push(`${index}@${agentId}#${attempt}`);
          // Partition 1 runs until the test lets it finish, after agent-a died.
          if (index === 1 && attempt === 0) await new Promise<void>((resolve) => (finishPartition1 = resolve));
          return { blocks: 1 };
        },
        recoverPartition: async (index) => {
          served[index] = 'agent-c';
        },
        partitionMissing() {},
        finishedWorkDiesWithAgent: kind === 'map',
        deathWindowMs: 1000,
        cancelEverywhere() {},
        finish: async () => undefined,
      };
      const spec = { kind, arrayId: input.id, kernel: { kind: 'map', hash: 'h', module: 'm', kernel: 'k' }, dtype: 'float64', cols: 1 } as unknown as JobSpec;
      const job = new RunningJob('j1', spec, input, { startedAt: Date.now(), timeoutMs: 10_000 }, 0, hooks);
      const running = job.run().catch((error: Error) => (kind === 'map' && /no output array/.test(error.message) ? undefined : Promise.reject(error)));
      await new Promise((resolve) => setTimeout(resolve, 10));
      assert.deepEqual(runs, ['0@agent-a#0', '1@agent-b#0'], 'both partitions started; partition 0 finished on agent-a');
      job.agentLost('agent-a');
      finishPartition1();
      await running;
      assert.deepEqual(runs, kind === 'map' ? ['0@agent-a#0', '1@agent-b#0', '0@agent-c#1'] : ['0@agent-a#0', '1@agent-b#0']);
    });
  }

  it('an attempt on an agent that lacks the partition (it restarted empty) moves to where a copy is', async () => {
    const served = input.partitions.map((p) => p.agentId);
    const runs: string[] = [];
    const missing: string[] = [];
    const hooks: JobHooks = {
      bus: { publish() {} } as unknown as MessageBus,
      logger: quiet,
      jobSubject: 'job',
      agentOf: (index) => served[index]!,
      runPartition: async (index, agentId, attempt) => {
        runs.push(`${index}@${agentId}#${attempt}`);
        if (agentId === 'agent-a') {
          throw new ArrayNotFoundError('this agent holds no partition 0 of array a1', {
            retryable: true,
            details: { [MISSING_PARTITION_DETAIL]: true, arrayId: 'a1', partition: index },
          });
        }
        return { blocks: 1 };
      },
      recoverPartition: async (index) => {
        served[index] = 'agent-c';
      },
      partitionMissing: (index, agentId, arrayId) => missing.push(`${arrayId}#${index}@${agentId}`),
      finishedWorkDiesWithAgent: false,
      deathWindowMs: 1000,
      cancelEverywhere() {},
      finish: async () => undefined,
    };
    const spec = { kind: 'reduce', arrayId: input.id, kernel: { kind: 'builtin', op: 'sum' } } as unknown as JobSpec;
    const done = await new RunningJob('j2', spec, input, { startedAt: Date.now(), timeoutMs: 10_000 }, 0, hooks).run();
    assert.deepEqual(missing, ['a1#0@agent-a']);
    assert.deepEqual(runs.sort(), ['0@agent-a#0', '0@agent-c#1', '1@agent-b#0']);
    assert.deepEqual(done.attempts, [1, 0], 'the partial of attempt 1 counts for partition 0');
  });
});
