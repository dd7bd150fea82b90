/**
 * ClusterEvents: what the dashboard's feed and the metrics hear. A burst of per-partition
 * events (a death moves thousands of partitions) is one event whose count grows, listeners
 * hear each addition, the recent list stays bounded, and an observer that throws does not stop
 * the others.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClusterEvents, COALESCE_MS, RECENT_EVENTS, type ClusterEvent } from '../src/observe/cluster-events.js';

describe('ClusterEvents', () => {
  it('sums partitions of one kind, array and agent within a burst, and starts a new event after it', () => {
    let now = 1_000;
    const events = new ClusterEvents(() => now);
    const heard: Array<[number, number]> = [];
    events.on((event, added) => heard.push([event.id, added]));
    events.note({ kind: 'agent.dead', agent: 'agent-3' });
    for (let i = 0; i < 412; i++) events.note({ kind: 'partitions.moved', array: 'a1', name: 'm', partitions: 1, agent: 'agent-3' });
    events.note({ kind: 'partitions.moved', array: 'a2', name: 'other', partitions: 5, agent: 'agent-3' });
    events.note({ kind: 'copies.remade', array: 'a1', name: 'm', partitions: 2 });
    now += COALESCE_MS + 1;
    events.note({ kind: 'partitions.moved', array: 'a1', name: 'm', partitions: 1, agent: 'agent-3' });

    const recent = events.recent();
    assert.deepEqual(
      recent.map((e) => [e.kind, 'name' in e ? e.name : 'agent' in e ? e.agent : undefined, 'partitions' in e ? e.partitions : undefined]),
      [
        ['agent.dead', 'agent-3', undefined],
        ['partitions.moved', 'm', 412],
        ['partitions.moved', 'other', 5],
        ['copies.remade', 'm', 2],
        ['partitions.moved', 'm', 1],
      ],
    );
    // Listeners heard every addition, each under its event's id.
    const moved = recent[1]!.id;
    assert.equal(heard.filter(([id]) => id === moved).length, 412);
    assert.equal(heard.filter(([id]) => id === moved).reduce((sum, [, added]) => sum + added, 0), 412);
    assert.deepEqual(heard[0], [recent[0]!.id, 0]);
  });

  it('keeps the last RECENT_EVENTS events, oldest first', () => {
    const events = new ClusterEvents();
    for (let i = 0; i < RECENT_EVENTS + 50; i++) events.note({ kind: 'agent.dead', agent: `agent-${i}` });
    const recent = events.recent();
    assert.equal(recent.length, RECENT_EVENTS);
    assert.equal((recent[0] as Extract<ClusterEvent, { kind: 'agent.dead' }>).agent, 'agent-50');
    assert.equal((recent.at(-1) as Extract<ClusterEvent, { kind: 'agent.dead' }>).agent, `agent-${RECENT_EVENTS + 49}`);
  });

  it('an observer that throws does not keep the others from hearing, and can stop listening', () => {
    const events = new ClusterEvents();
    const heard: string[] = [];
    events.on(() => {
      throw new Error('broken observer');
    });
    const stop = events.on((event) => heard.push(event.kind));
    events.note({ kind: 'agent.joined', agent: 'a', host: 'h', threads: 1, again: false });
    stop();
    events.note({ kind: 'agent.dead', agent: 'a' });
    assert.deepEqual(heard, ['agent.joined']);
  });
});
