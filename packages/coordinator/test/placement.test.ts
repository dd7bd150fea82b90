/**
 * Partition placement: rows are cut into contiguous ranges that cover the array exactly once,
 * spread over agents by free memory, and a request the cluster cannot hold is refused; the
 * copy serving each partition (its primary) is spread evenly over the agents holding copies.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InsufficientMemoryError, InvalidArgumentError, NoAgentsError, reservedBytesOf, type Logger, type MessageBus, type PartitionMeta } from '@sharc/protocol';
import { DEFAULT_PARTITION_BYTES, addReplicas, balancePrimaries, choosePrimary, placePartitions, type AgentCapacity } from '../src/index.js';
import { AgentClient } from '../src/agents/agent-client.js';
import { PartitionAllocator, heldBytes } from '../src/placement/partition-allocator.js';
import { placeRowRanges } from '../src/placement/place-partitions.js';
import { AgentRegistry } from '../src/registry/agent-registry.js';

const GiB = 1024 ** 3;

function agents(...freeBytes: number[]): AgentCapacity[] {
  return freeBytes.map((free, i) => ({ id: `agent-${i}`, freeBytes: free }));
}

function countsByAgent(partitions: PartitionMeta[], capacity: AgentCapacity[]): number[] {
  return capacity.map((agent) => partitions.filter((p) => p.agentId === agent.id).length);
}

function bytesByAgent(partitions: PartitionMeta[], capacity: AgentCapacity[]): number[] {
  return capacity.map((agent) => partitions.filter((p) => p.agentId === agent.id).reduce((sum, p) => sum + p.byteLength, 0));
}

/** Partitions are indexed in order, contiguous, cover rows 0..rows once, and say their bytes. */
function assertCovers(partitions: PartitionMeta[], rows: number, rowBytes: number): void {
  let next = 0;
  partitions.forEach((partition, i) => {
    assert.equal(partition.index, i, 'partitions are numbered in row order');
    assert.equal(partition.rowStart, next, `partition ${i} starts where the previous ended`);
    assert.ok(Number.isInteger(partition.rowCount) && partition.rowCount >= 0, 'whole rows only');
    assert.equal(partition.byteLength, partition.rowCount * rowBytes, 'byteLength is whole rows');
    next += partition.rowCount;
  });
  assert.equal(next, rows, 'every row is placed exactly once');
}

describe('placePartitions', () => {
  it('covers all rows exactly once with contiguous whole-row partitions', () => {
    for (const rows of [1, 2, 7, 10, 99, 1000, 1_000_003]) {
      for (const partitions of [1, 2, 3, 4, 7, 16]) {
        for (const rowBytes of [1, 8, 24]) {
          const placed = placePartitions({ rows, rowBytes, partitions }, agents(1e12, 1e12, 1e12));
          assertCovers(placed, rows, rowBytes);
        }
      }
    }
  });

  it('makes partitions of nearly equal rows (they differ by at most one row)', () => {
    const placed = placePartitions({ rows: 1_000_003, rowBytes: 8, partitions: 7 }, agents(GiB, GiB));
    const sizes = placed.map((p) => p.rowCount);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `sizes ${sizes.join(', ')}`);
  });

  it('by default makes one partition per agent for a small array, one on each agent', () => {
    const capacity = agents(GiB, GiB, GiB, GiB);
    const placed = placePartitions({ rows: 1000, rowBytes: 8 }, capacity);
    assert.equal(placed.length, 4);
    assert.deepEqual(countsByAgent(placed, capacity), [1, 1, 1, 1]);
  });

  it('by default makes more partitions than agents when partitions would exceed DEFAULT_PARTITION_BYTES', () => {
    const rowBytes = 8;
    const rows = (3 * DEFAULT_PARTITION_BYTES) / rowBytes + 1;
    const placed = placePartitions({ rows, rowBytes }, agents(16 * GiB));
    assert.equal(placed.length, 4);
    assert.ok(placed.every((p) => p.byteLength <= DEFAULT_PARTITION_BYTES));
    assertCovers(placed, rows, rowBytes);
  });

  it('gives equal agents equal partition counts', () => {
    for (const [agentCount, partitions] of [
      [2, 8],
      [3, 9],
      [4, 4],
      [4, 16],
      [5, 20],
    ] as const) {
      const capacity = agents(...Array.from({ length: agentCount }, () => 10 * GiB));
      const placed = placePartitions({ rows: 1_000_003, rowBytes: 8, partitions }, capacity);
      const counts = countsByAgent(placed, capacity);
      assert.ok(
        counts.every((count) => count === partitions / agentCount),
        `${agentCount} agents, ${partitions} partitions: counts ${counts.join(', ')}`,
      );
    }
  });

  it('gives an agent with less free memory fewer partitions', () => {
    const capacity = agents(1.5 * GiB, GiB);
    const placed = placePartitions({ rows: 1_000_000, rowBytes: 1024, partitions: 10 }, capacity);
    const [big, small] = countsByAgent(placed, capacity);
    assert.ok(big !== undefined && small !== undefined);
    assert.ok(small < big, `counts ${big} and ${small}`);
    assert.ok(small > 0, 'the smaller agent still takes its share once the bigger one has used as much');
  });

  it('never gives an agent more bytes than it has free', () => {
    const capacity = agents(100, 300, 600);
    const placed = placePartitions({ rows: 100, rowBytes: 10, partitions: 20 }, capacity);
    const used = bytesByAgent(placed, capacity);
    capacity.forEach((agent, i) => assert.ok(used[i]! <= agent.freeBytes, `${agent.id} got ${used[i]} of ${agent.freeBytes}`));
    assertCovers(placed, 100, 10);
  });

  it('splits finer than the default when unequal agents can only hold the array in smaller pieces', () => {
    // Default: 2 partitions of 120 bytes; the 100-byte agent cannot take one. 4 of 60 fit.
    const capacity = agents(200, 100);
    const placed = placePartitions({ rows: 4, rowBytes: 60 }, capacity);
    assert.equal(placed.length, 4);
    assertCovers(placed, 4, 60);
    capacity.forEach((agent, i) => assert.ok(bytesByAgent(placed, capacity)[i]! <= agent.freeBytes));
  });

  it('keeps a requested partition count even when a finer split would fit', () => {
    assert.throws(() => placePartitions({ rows: 4, rowBytes: 60, partitions: 2 }, agents(200, 100)), InsufficientMemoryError);
  });

  it('fills a cluster exactly to its free memory', () => {
    const capacity = agents(400, 400);
    const placed = placePartitions({ rows: 100, rowBytes: 8, partitions: 4 }, capacity);
    assert.deepEqual(bytesByAgent(placed, capacity), [400, 400]);
  });

  it('refuses with InsufficientMemoryError when the agents have less free memory than the array needs', () => {
    assert.throws(
      () => placePartitions({ rows: 1000, rowBytes: 8 }, agents(3000, 4999)),
      (error: unknown) => {
        assert.ok(error instanceof InsufficientMemoryError);
        assert.deepEqual(error.details, { neededBytes: 8000, freeBytes: 7999 });
        assert.match(error.message, /2 agents have/);
        return true;
      },
    );
  });

  it('refuses an array larger than the cluster up front, though its first partitions would fit', () => {
    // Four 40-byte partitions: two would fit, but the whole array (160 bytes) cannot, so the
    // refusal names the totals rather than failing half way at partition 2.
    assert.throws(
      () => placePartitions({ rows: 20, rowBytes: 8, partitions: 4 }, agents(50, 50)),
      (error: unknown) => {
        assert.ok(error instanceof InsufficientMemoryError);
        assert.deepEqual(error.details, { neededBytes: 160, freeBytes: 100 });
        assert.doesNotMatch(error.message, /partition \d/);
        return true;
      },
    );
  });

  it('refuses with NoAgentsError when no agent is registered', () => {
    assert.throws(
      () => placePartitions({ rows: 10, rowBytes: 8 }, []),
      (error: unknown) => {
        assert.ok(error instanceof NoAgentsError);
        assert.equal(error.retryable, true);
        assert.match(error.message, /start one \(sharc agent --servers URL\)/);
        return true;
      },
    );
  });

  it('honours the requested partition count', () => {
    for (const partitions of [1, 3, 5, 64]) {
      const placed = placePartitions({ rows: 1000, rowBytes: 4, partitions }, agents(GiB, GiB));
      assert.equal(placed.length, partitions);
    }
  });

  it('caps the partition count at the number of rows, so no partition is empty', () => {
    const placed = placePartitions({ rows: 3, rowBytes: 8, partitions: 10 }, agents(GiB, GiB));
    assert.equal(placed.length, 3);
    assert.ok(placed.every((p) => p.rowCount === 1));
  });

  it('refuses a partition count that is not a positive integer', () => {
    for (const partitions of [0, -1, 1.5, NaN]) {
      assert.throws(() => placePartitions({ rows: 10, rowBytes: 8, partitions }, agents(GiB)), InvalidArgumentError, String(partitions));
    }
  });

  it('gives a 0-row array one empty partition', () => {
    for (const partitions of [undefined, 4]) {
      const placed = placePartitions({ rows: 0, rowBytes: 8, ...(partitions === undefined ? {} : { partitions }) }, agents(GiB, GiB));
      assert.equal(placed.length, 1);
      const [only] = placed;
      assert.ok(only);
      const { agentId, ...range } = only;
      assert.deepEqual(range, { index: 0, rowStart: 0, rowCount: 0, byteLength: 0 });
      assert.ok(agentId === 'agent-0' || agentId === 'agent-1', `placed on ${agentId}`);
    }
  });

  it('refuses when no single agent can hold a partition, naming the partition', () => {
    // 160 bytes are free in total, but each of the two 80-byte partitions needs one agent with 80.
    assert.throws(
      () => placePartitions({ rows: 20, rowBytes: 8, partitions: 2 }, agents(40, 40, 40, 40)),
      (error: unknown) => {
        assert.ok(error instanceof InsufficientMemoryError);
        assert.match(error.message, /partition 0/);
        return true;
      },
    );
  });

  it('counts a partition of 1 MiB or more as the whole 64 KiB pages the agent reserves for it', () => {
    const rows = 1024 * 128 + 1; // 1 MiB + 8 bytes of float64: 17 pages
    const reserved = reservedBytesOf(rows * 8);
    assert.equal(reserved, 17 * 64 * 1024);
    // Each agent has room for two such partitions by their bytes, for one by their pages.
    const capacity = agents(2 * rows * 8, 2 * rows * 8);
    assert.throws(() => placePartitions({ rows: 4 * rows, rowBytes: 8, partitions: 4 }, capacity), InsufficientMemoryError);
    // By default the array is split finer, into partitions held exactly.
    const placed = placePartitions({ rows: 4 * rows, rowBytes: 8 }, capacity);
    assert.ok(placed.every((p) => reservedBytesOf(p.byteLength) === p.byteLength));
    capacity.forEach((agent, i) => assert.ok(bytesByAgent(placed, capacity)[i]! <= agent.freeBytes));
    // Two copies of a partition fit by bytes, not by pages.
    const one = placePartitions({ rows, rowBytes: 8, partitions: 1 }, agents(reserved, reserved - 8));
    assert.throws(() => addReplicas(one, agents(reserved, reserved - 8), 2), InsufficientMemoryError);
  });
});

describe('addReplicas', () => {
  const MiB = 1024 ** 2;
  const holders = (p: PartitionMeta) => [p.agentId, ...(p.replicas ?? [])];

  it('puts each copy of a partition on a different agent, spreading the copies by free memory', () => {
    const capacity = agents(GiB, GiB, GiB);
    const placed = addReplicas(placePartitions({ rows: 600, rowBytes: MiB, partitions: 6 }, capacity), capacity, 2);
    for (const p of placed) assert.equal(new Set(holders(p)).size, 2, JSON.stringify(p));
    // 6 partitions × 2 copies over 3 equal agents: 4 copies each.
    assert.deepEqual(capacity.map((a) => placed.filter((p) => holders(p).includes(a.id)).length), [4, 4, 4]);
  });

  it("spreads the copies of one agent's partitions over many agents, keeping every agent's share even", () => {
    // 20 equal agents, 2 copies of 2,000 partitions: each agent serves about 100, and the
    // copies of those should not all sit on one other agent (whose death with it loses them).
    const capacity = agents(...Array.from({ length: 20 }, () => GiB));
    const placed = addReplicas(placePartitions({ rows: 2_000, rowBytes: 8, partitions: 2_000 }, capacity), capacity, 2);
    for (const p of placed) assert.equal(new Set(holders(p)).size, 2, JSON.stringify(p));
    const copies = capacity.map((a) => placed.filter((p) => holders(p).includes(a.id)).length);
    assert.ok(Math.max(...copies) - Math.min(...copies) <= 2, `copies per agent: ${copies.join(', ')}`);
    for (const agent of capacity) {
      const replicaHolders = new Map<string, number>();
      for (const p of placed) if (p.agentId === agent.id) for (const id of p.replicas ?? []) replicaHolders.set(id, (replicaHolders.get(id) ?? 0) + 1);
      // Over at least 10 of the 19 others, none holding more than a quarter of them.
      assert.ok(replicaHolders.size >= 10, `${agent.id}'s copies are on ${replicaHolders.size} agents only`);
      const served = placed.filter((p) => p.agentId === agent.id).length;
      assert.ok(Math.max(...replicaHolders.values()) <= served / 4, `${agent.id}: ${JSON.stringify([...replicaHolders])}`);
      // Killing any two agents at once loses few partitions: those with both copies on them.
    }
    let worstLoss = 0;
    for (const a of capacity) for (const b of capacity) if (a.id < b.id) worstLoss = Math.max(worstLoss, placed.filter((p) => holders(p).every((id) => id === a.id || id === b.id)).length);
    assert.ok(worstLoss <= 30, `two agents dying at once lose ${worstLoss} of 2,000 partitions`);
  });

  it('makes as many copies as there are agents when there are fewer agents than copies', () => {
    const one = agents(GiB);
    assert.deepEqual(addReplicas(placePartitions({ rows: 10, rowBytes: 8 }, one), one, 2).map(holders), [['agent-0']]);
    const two = agents(GiB, GiB);
    for (const p of addReplicas(placePartitions({ rows: 10, rowBytes: 8, partitions: 2 }, two), two, 3)) assert.equal(holders(p).length, 2);
  });

  it('refuses copies that do not fit, naming the way out', () => {
    // 3 × 100 MiB: one copy fits (200 + 200 MiB free), two copies (600 MiB) do not.
    const capacity = agents(200 * MiB, 200 * MiB);
    const placed = placePartitions({ rows: 300, rowBytes: MiB, partitions: 3 }, capacity);
    assert.throws(() => addReplicas(placed, capacity, 2), (error: Error) => {
      assert.ok(error instanceof InsufficientMemoryError);
      assert.match(error.message, /2 copies of partition \d+ .* do not fit.*copies: 1/);
      return true;
    });
    assert.deepEqual(addReplicas(placed, capacity, 1), placed);
  });
});

describe('primaries (the copy that serves each partition)', () => {
  const MiB = 1024 ** 2;
  const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };
  const served = (partitions: readonly PartitionMeta[], ids: readonly string[]) => ids.map((id) => partitions.filter((p) => p.agentId === id).length);
  const holderSets = (partitions: readonly PartitionMeta[]) => partitions.map((p) => [p.agentId, ...(p.replicas ?? [])].sort());
  /** 8 partitions all served by agent-b, each with a copy on agent-a: what a death of agent-a and its copies made again leave. */
  const piledOnB = (): PartitionMeta[] =>
    Array.from({ length: 8 }, (_, index) => ({ index, rowStart: index * 10, rowCount: 10, byteLength: 80, agentId: 'agent-b', replicas: ['agent-a'] }));

  it('spreads primaries piled onto one agent evenly over the agents holding copies, moving no copy', () => {
    const before = piledOnB();
    const balanced = balancePrimaries(before);
    assert.deepEqual(served(balanced, ['agent-a', 'agent-b']), [4, 4]);
    assert.deepEqual(holderSets(balanced), holderSets(before), 'every partition keeps the same copies');
    for (const p of balanced) assert.equal(new Set([p.agentId, ...(p.replicas ?? [])]).size, 2, JSON.stringify(p));
    assert.deepEqual(served(before, ['agent-a', 'agent-b']), [0, 8], 'the input is not changed');
  });

  it('is deterministic and leaves a balanced array as it is (the same objects: nothing moves for nothing)', () => {
    const once = balancePrimaries(piledOnB());
    assert.deepEqual(balancePrimaries(piledOnB()), once);
    const again = balancePrimaries(once);
    again.forEach((p, i) => assert.equal(p, once[i], `partition ${i} was not touched`));
  });

  it('moves no primary to an agent that cannot serve, and leaves partitions of such an agent and pinned ones alone', () => {
    const partitions = piledOnB();
    assert.deepEqual(served(balancePrimaries(partitions, { canServe: (id) => id !== 'agent-a' }), ['agent-a', 'agent-b']), [0, 8]);
    const pinned = balancePrimaries(partitions, { pinned: (index) => index < 6 });
    assert.deepEqual(pinned.slice(0, 6), partitions.slice(0, 6));
    assert.deepEqual(served(pinned, ['agent-a', 'agent-b']), [2, 6]);
    // A dead primary is recovery's to move (it releases the dead copy), not balancing's.
    const deadPrimary = partitions.map((p) => ({ ...p, agentId: 'agent-a', replicas: ['agent-b'] }));
    assert.deepEqual(balancePrimaries(deadPrimary, { canServe: (id) => id !== 'agent-a' }), deadPrimary);
  });

  it('breaks ties by what each agent serves of all arrays', () => {
    // One partition, copies on both: the agent serving less elsewhere serves it.
    const one: PartitionMeta[] = [{ index: 0, rowStart: 0, rowCount: 10, byteLength: 80, agentId: 'agent-a', replicas: ['agent-b'] }];
    assert.equal(balancePrimaries(one, { servedElsewhere: new Map([['agent-a', 3]]) })[0]!.agentId, 'agent-b');
    assert.equal(balancePrimaries(one)[0], one[0], 'serving one partition more than another agent is even enough');
    assert.equal(balancePrimaries(one, { servedElsewhere: new Map([['agent-a', 1], ['agent-b', 2]]) })[0], one[0]);
    // Three copies: the least loaded of the holders takes a primary first.
    const three = Array.from({ length: 2 }, (_, index) => ({ index, rowStart: index, rowCount: 1, byteLength: 8, agentId: 'agent-a', replicas: ['agent-b', 'agent-c'] }));
    const balanced = balancePrimaries(three, { servedElsewhere: new Map([['agent-b', 5]]) });
    assert.deepEqual(served(balanced, ['agent-a', 'agent-b', 'agent-c']), [1, 0, 1]);
    assert.equal(choosePrimary(['agent-b', 'agent-c'], new Map(), new Map([['agent-b', 5]])), 'agent-c');
    assert.equal(choosePrimary(['agent-b', 'agent-c'], new Map([['agent-c', 1]]), new Map([['agent-b', 5]])), 'agent-b');
    assert.equal(choosePrimary(['agent-c', 'agent-b'], new Map(), new Map()), 'agent-c', 'a full tie: the first holder');
    assert.equal(choosePrimary([], new Map()), undefined);
  });

  it('ends balanced for any placement: no partition could move to a holder serving two fewer of the array', () => {
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const ids = ['a', 'b', 'c', 'd'];
    for (let round = 0; round < 200; round++) {
      const partitions: PartitionMeta[] = Array.from({ length: 1 + random(12) }, (_, index) => {
        const copies = 1 + random(3);
        const holders = [...ids].sort(() => random(3) - 1).slice(0, copies);
        return { index, rowStart: index, rowCount: 1, byteLength: 8, agentId: holders[0]!, replicas: holders.slice(1) };
      });
      const balanced = balancePrimaries(partitions);
      assert.deepEqual(holderSets(balanced), holderSets(partitions));
      const counts = new Map(ids.map((id) => [id, balanced.filter((p) => p.agentId === id).length]));
      for (const p of balanced) {
        for (const r of p.replicas ?? []) assert.ok(counts.get(p.agentId)! - counts.get(r)! < 2, `round ${round}: ${JSON.stringify(balanced)}`);
      }
    }
  });

  it('a new array with copies on 2 agents of unequal free memory is served half by each', () => {
    const registry = new AgentRegistry(Infinity, quiet);
    registry.register({ id: 'big', host: 'h', pid: 1, dataHost: '127.0.0.1', dataPort: 7000, threads: 1, memoryBytes: 4096 * MiB, usedBytes: 0, partitions: 0, workInFlight: 0 });
    registry.register({ id: 'small', host: 'h', pid: 2, dataHost: '127.0.0.1', dataPort: 7001, threads: 1, memoryBytes: 1024 * MiB, usedBytes: 0, partitions: 0, workInFlight: 0 });
    const allocator = new PartitionAllocator(new AgentClient({} as MessageBus, 'default', registry), registry, quiet);
    const meta = allocator.place('x', 'float64', [8 * 1024 * 1024], 8, 2);
    // By room alone, 'big' would serve all 8 (it has the most free memory left after each).
    assert.deepEqual(served(meta.partitions, ['big', 'small']), [4, 4]);
    for (const p of meta.partitions) assert.deepEqual([p.agentId, ...(p.replicas ?? [])].sort(), ['big', 'small']);
    registry.close();
  });
});

describe('file-backed arrays (their rows stay in the file)', () => {
  const quietLog: Logger = { debug() {}, info() {}, warn() {}, error() {} };
  const served = (partitions: readonly PartitionMeta[], ids: readonly string[]) => ids.map((id) => partitions.filter((p) => p.agentId === id).length);
  const file = { path: '/data/big.npy', dataOffset: 128, size: 128 + 64 * GiB, mtimeMs: 1 };

  function registryOf(...memoryMiB: number[]): AgentRegistry {
    const registry = new AgentRegistry(Infinity, quietLog);
    memoryMiB.forEach((memory, i) =>
      registry.register({ id: `a${i}`, host: 'h', pid: i + 1, dataHost: '127.0.0.1', dataPort: 7000 + i, threads: 1, memoryBytes: memory * 1024 * 1024, usedBytes: 0, partitions: 0, workInFlight: 0 }),
    );
    return registry;
  }

  it('places an array far larger than the agents\' memory, partitions spread evenly by count, cut as a resident array would be', () => {
    const registry = registryOf(256, 256);
    const allocator = new PartitionAllocator(new AgentClient({} as MessageBus, 'default', registry), registry, quietLog);
    assert.throws(() => allocator.place('big', 'float64', [8 * GiB], undefined), InsufficientMemoryError, 'resident, it does not fit');
    const meta = allocator.placeFileBacked('big', 'float64', [8 * GiB], undefined, file);
    assert.deepEqual(meta.file, file);
    assertCovers(meta.partitions, 8 * GiB, 8);
    assert.equal(meta.partitions.length, (64 * GiB) / DEFAULT_PARTITION_BYTES, 'the default partition size, as for a resident array');
    assert.deepEqual(served(meta.partitions, ['a0', 'a1']), [128, 128]);
    for (const p of meta.partitions) assert.equal(p.replicas, undefined, 'one copy: the file is where a lost partition is read again');
    registry.close();
  });

  it('books no memory for a file-backed partition, and frees none when it is released', async () => {
    const registry = registryOf(256);
    const freeBefore = registry.freeBytes('a0');
    const calls: string[] = [];
    const client = { control: async (_agent: string, message: { type: string }) => void calls.push(message.type) } as unknown as AgentClient;
    const allocator = new PartitionAllocator(client, registry, quietLog);
    const meta = allocator.placeFileBacked('big', 'float64', [4 * GiB], 4, file);
    await allocator.allocateAll(meta);
    assert.equal(registry.freeBytes('a0'), freeBefore, 'nothing booked');
    const partition = meta.partitions[0]!;
    await allocator.allocateCopy('a0', meta.id, partition, { type: 'partition.allocate', arrayId: meta.id, dtype: 'float64', shape: [4 * GiB], partition, file });
    assert.equal(registry.freeBytes('a0'), freeBefore, 'a copy of a file-backed partition books nothing either');
    await allocator.release(meta);
    assert.equal(registry.freeBytes('a0'), freeBefore);
    assert.equal(heldBytes(meta, partition), 0);
    assert.equal(heldBytes({}, partition), partition.byteLength);
    assert.ok(calls.includes('partitions.allocate'));
    registry.close();
  });

  it('refuses with NoAgentsError when no agent is registered', () => {
    assert.throws(() => placeRowRanges({ rows: 10, rowBytes: 8 }, [], new Map()), NoAgentsError);
  });

  it('gives the partitions to the agents serving fewest partitions of other arrays first', () => {
    const placed = placeRowRanges({ rows: 3, rowBytes: 8, partitions: 3 }, ['busy', 'idle'], new Map([['busy', 10]]));
    assert.deepEqual(
      placed.map((p) => p.agentId),
      ['idle', 'busy', 'idle'],
    );
  });
});
