/**
 * AgentRegistry.forgetDead: agents started without --name register under a new id each time;
 * the dead ones are forgotten once they have been dead a while and nothing is placed on them,
 * so nodes(), the dashboard and the per-agent metrics do not grow for good. An agent something
 * is still placed on is kept (its partitions may come back with it), and so is a fresh death.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AgentInfo, Logger } from '@sharc/protocol';
import { AgentRegistry } from '../src/registry/agent-registry.js';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

function agentInfo(id: string, pid: number): AgentInfo {
  return { id, host: 'h', pid, dataHost: '127.0.0.1', dataPort: 7000, threads: 1, memoryBytes: 1 << 20, usedBytes: 0, partitions: 0, workInFlight: 0 };
}

describe('AgentRegistry.forgetDead', () => {
  it('forgets an agent dead past the window with nothing placed on it; keeps one holding partitions, and a fresh death', async () => {
    // Declared dead the real way: silent past a 50 ms liveness window, while 'alive' heartbeats.
    const registry = new AgentRegistry(50, quiet);
    for (const id of ['old-empty', 'old-holding', 'alive']) registry.register(agentInfo(id, 1));
    while (registry.isAlive('old-empty') || registry.isAlive('old-holding')) {
      registry.heartbeat('alive', { usedBytes: 0, partitions: 0, workInFlight: 0 });
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const diedAt = Date.now();
    const placed = (id: string) => (id === 'old-holding' ? 3 : 0);
    assert.deepEqual(registry.forgetDead(60_000, placed, diedAt + 1_000), [], 'dead only a second: kept');
    registry.heartbeat('alive', { usedBytes: 0, partitions: 0, workInFlight: 0 });
    assert.deepEqual(registry.forgetDead(60_000, placed, diedAt + 61_000), ['old-empty']);
    assert.deepEqual(
      registry.all().map((a) => [a.id, a.state]),
      [
        ['old-holding', 'dead'],
        ['alive', 'alive'],
      ],
    );
    // Forgotten means unknown: its heartbeat is answered as from an unknown agent (which registers again).
    assert.equal(registry.heartbeat('old-empty', { usedBytes: 0, partitions: 0, workInFlight: 0 }), 'unknown');
    registry.register(agentInfo('old-empty', 2));
    assert.equal(registry.isAlive('old-empty'), true);
    registry.close();
  });
});
