/**
 * What the coordinator does with work an agent takes with it when it dies: a control request
 * it never answered ends as soon as it is declared dead.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectionError, type AgentInfo, type ArrayMeta, type Logger, type MessageBus } from '@sharc/protocol';
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
    const allocator = new PartitionAllocator(bus, agents, 'default', quiet);
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
});
