/**
 * Recovery of an agent's partitions. When a partition with no source (an upload) is lost, and
 * when it is lost for good: while its
 * agents are only dead they may come back with it (a retryable DataLostError); once every agent
 * that held a copy came back without it, it is lost for good (a PartitionLostError, not
 * retryable, naming the array, the partitions and the fix), and the catalog says so. And the
 * primaries (serving copies) are spread evenly again when a dead agent's move and when an agent
 * registers again holding copies.
 * The registry, catalog, allocator, recovery and membership are the real ones; the bus answers
 * every control request with ok.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DataLostError, PartitionLostError, fromErrorData, toErrorData, type AgentInfo, type Logger, type MessageBus } from '@sharc/protocol';
import { AgentClient } from '../src/agents/agent-client.js';
import { PartitionAllocator } from '../src/placement/partition-allocator.js';
import { PartitionRecovery } from '../src/recovery/partition-recovery.js';
import { AgentMembership } from '../src/registry/agent-membership.js';
import { AgentRegistry } from '../src/registry/agent-registry.js';
import { ArrayCatalog, type ArrayRecord } from '../src/registry/array-catalog.js';
import { MemoryStateStore } from '../src/state/state-store.js';

/** An array's id, and its placement as the catalog has it now. */
interface LiveArray {
  id: string;
  readonly meta: ArrayRecord['meta'];
}

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

function agentInfo(id: string, pid: number): AgentInfo {
  return { id, host: 'h', pid, dataHost: '127.0.0.1', dataPort: 7000, threads: 1, memoryBytes: 1 << 20, usedBytes: 0, partitions: 0, workInFlight: 0 };
}

/** Liveness window of the registry here: short, the tests wait it out. */
const DEAD_AFTER_MS = 1000;
const HEARTBEAT_MS = 100;

function setup(logger: Logger = quiet) {
  const agents = new AgentRegistry(DEAD_AFTER_MS, quiet, (id) => recovery.agentDead(id));
  const catalog = new ArrayCatalog();
  const bus = { call: async () => ({ type: 'ok' }) } as unknown as MessageBus;
  const client = new AgentClient(bus, 'default', agents);
  const placement = new PartitionAllocator(client, agents, quiet, () => catalog.servingCounts());
  const recovery: PartitionRecovery = new PartitionRecovery({ catalog, agents, placement, logger, runMapTask: async () => undefined });
  const membership = new AgentMembership({ client, agents, arrays: catalog, recovery, state: new MemoryStateStore(), logger: quiet, rejoined: () => Promise.resolve() });
  for (const [id, pid] of [['agent-a', 1], ['agent-b', 2], ['agent-c', 3]] as const) membership.register(agentInfo(id, pid));
  /** An uploaded array 'single' of a partition for each list of holders. */
  /** An array as the catalog places it now (the catalog hands out frozen snapshots, new ones after each move). */
  const live = (id: string): LiveArray => ({
    id,
    get meta() {
      return catalog.find(id)!.meta;
    },
  });
  const put = (holders: string[][]): LiveArray => {
    const record: ArrayRecord = {
      meta: {
        id: 'arr1',
        name: 'single',
        dtype: 'float64',
        shape: [holders.length * 10],
        createdAt: 0,
        partitions: holders.map(([agentId, ...replicas], index) => ({ index, rowStart: index * 10, rowCount: 10, byteLength: 80, agentId: agentId!, replicas })),
      },
      origin: { kind: 'upload', copies: holders[0]!.length },
      state: 'ready',
      replace: false,
      createdAt: 0,
    };
    catalog.restore([record]);
    return live(record.meta.id);
  };
  // Every agent sends heartbeats but those silenced; one that registers again speaks again.
  const silent = new Set<string>();
  const beat = setInterval(() => {
    for (const a of agents.alive()) if (!silent.has(a.id)) agents.heartbeat(a.id, a);
  }, HEARTBEAT_MS);
  const register = (info: AgentInfo, holds: Array<{ arrayId: string; partitions: number[] }> = []) => {
    silent.delete(info.id);
    membership.register(info, holds);
  };
  /** The agents fall silent and are declared dead. */
  const silence = async (...ids: string[]) => {
    for (const id of ids) silent.add(id);
    while (ids.some((id) => agents.isAlive(id))) await new Promise((resolve) => setTimeout(resolve, HEARTBEAT_MS));
  };
  const close = () => {
    clearInterval(beat);
    agents.close();
  };
  return { catalog, recovery, membership: { register }, put, live, silence, close };
}

/** Settles the promise, for assertions on how it failed. */
async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  assert.fail('expected a failure');
}

describe('partitions lost for now and for good', () => {
  it('a dead agent holding the only copy of 5,000 partitions logs their failure summed up, not a line each', async (t) => {
    const errors: Array<{ message: string; fields: Record<string, unknown> | undefined }> = [];
    const logger: Logger = { ...quiet, error: (message: string, fields?: Record<string, unknown>) => void errors.push({ message, fields }) };
    const { recovery, put, silence, close } = setup(logger);
    t.after(close);
    const record = put(Array.from({ length: 5_000 }, () => ['agent-a']));
    await silence('agent-a');
    const failures = await Promise.allSettled(record.meta.partitions.map((p) => recovery.whenServed(record.id, p.index)));
    assert.equal(failures.filter((f) => f.status === 'rejected').length, 5_000);
    // Written synchronously, one each, they held the coordinator's loop long enough to lose its lease.
    const perPartition = errors.filter((e) => e.message === 'a partition could not be recovered');
    assert.ok(perPartition.length <= 2, `${perPartition.length} lines for 5,000 partitions`);
  });

  it("a copies-1 partition of a dead agent is retryable; once that agent is back without it, it is lost for good", async (t) => {
    const { catalog, recovery, membership, put, silence, close } = setup();
    t.after(close);
    const record = put([['agent-a'], ['agent-b']]);
    // Declared dead (silent): it may come back with its memory.
    await silence('agent-a');
    const dead = await failure(recovery.whenServed(record.id, 0));
    assert.ok(dead instanceof DataLostError && !(dead instanceof PartitionLostError) && dead.retryable, `${dead.name}: ${dead.message}`);
    assert.match(dead.message, /partition 0 of 'single' was stored only on agent agent-a, which died: it is served again if that agent comes back/);
    assert.equal(record.meta.lostPartitions, undefined, 'not lost for good yet');
    assert.deepEqual(catalog.partitionsOnAgent('agent-a'), [{ arrayId: 'arr1', partitions: [0] }], 'the agent keeps it if it comes back with it');

    // Back, restarted: it holds nothing.
    membership.register(agentInfo('agent-a', 10), []);
    const lost = await failure(recovery.whenServed(record.id, 0));
    assert.ok(lost instanceof PartitionLostError && lost instanceof DataLostError, `${lost.name}: ${lost.message}`);
    assert.equal(lost.retryable, false);
    assert.equal(lost.code, 'PARTITION_LOST');
    assert.match(lost.message, /array 'single' has lost partition 0 for good: .*restarted without it.*Delete it .*sharc rm 'single'.* put it again, with \{ copies: 2 \}/);
    assert.deepEqual(lost.details, { array: 'single', arrayId: 'arr1', partitions: [0] });
    assert.deepEqual(record.meta.lostPartitions, [0]);
    assert.deepEqual(catalog.partitionsOnAgent('agent-a'), [], 'nobody is told to keep it');
    assert.deepEqual(catalog.list().map((m) => m.lostPartitions), [[0]], 'the listing says so');
    // Every later ask fails the same way, at once; the other partition is fine.
    assert.ok((await failure(recovery.whenServed(record.id, 0))) instanceof PartitionLostError);
    await recovery.whenServed(record.id, 1);
    // It crosses NATS as the same class.
    const rebuilt = fromErrorData(toErrorData(lost));
    assert.ok(rebuilt instanceof PartitionLostError && !rebuilt.retryable);
  });

  it('an agent restarted before it is declared dead loses its copies-1 partitions for good at once', async (t) => {
    const { recovery, membership, put, close } = setup();
    t.after(close);
    const record = put([['agent-a'], ['agent-b']]);
    // Same name, new process: declared dead and lacking its copies in one go.
    membership.register(agentInfo('agent-a', 11), []);
    const lost = await failure(recovery.whenServed(record.id, 0));
    assert.ok(lost instanceof PartitionLostError, `${lost.name}: ${lost.message}`);
    assert.deepEqual(record.meta.lostPartitions, [0]);
  });

  it('with two copies, it is lost for good only once both agents came back without it', async (t) => {
    const { recovery, membership, put, silence, close } = setup();
    t.after(close);
    const record = put([['agent-a', 'agent-b'], ['agent-b', 'agent-c']]);
    await silence('agent-a', 'agent-b');
    const bothDead = await failure(recovery.whenServed(record.id, 0));
    assert.ok(bothDead instanceof DataLostError && bothDead.retryable, bothDead.message);
    assert.match(bothDead.message, /stored on agents agent-a, agent-b, which died/);
    // agent-a is back without it: agent-b may still come back with its copy.
    membership.register(agentInfo('agent-a', 12), []);
    const waiting = await failure(recovery.whenServed(record.id, 0));
    assert.ok(!(waiting instanceof PartitionLostError) && waiting instanceof DataLostError && waiting.retryable, waiting.message);
    assert.match(waiting.message, /stored only on agent agent-b, which died/);
    assert.equal(record.meta.lostPartitions, undefined);
    // Partition 1 had a copy on agent-c, alive: it is served from there.
    await recovery.whenServed(record.id, 1);
    assert.equal(record.meta.partitions[1]!.agentId, 'agent-c');
    // agent-b is back without it too.
    membership.register(agentInfo('agent-b', 13), []);
    assert.ok((await failure(recovery.whenServed(record.id, 0))) instanceof PartitionLostError);
    assert.deepEqual(record.meta.lostPartitions, [0]);
  });

  it('a map output computed from a partition lost for good is lost for good too once its own copy is gone', async (t) => {
    const { catalog, recovery, membership, put, live, close } = setup();
    t.after(close);
    const input = put([['agent-a'], ['agent-b']]);
    const stored: ArrayRecord = {
      meta: { ...structuredClone(input.meta), id: 'out1', name: 'doubled' },
      origin: { kind: 'map', inputId: 'arr1', kernel: { kind: 'map', hash: 'h', module: 'm', kernel: 'k' } as never, params: {}, dtype: 'float64', cols: 1 },
      state: 'ready',
      replace: false,
      createdAt: 0,
    };
    catalog.restore([stored]);
    const output = live('out1');
    membership.register(agentInfo('agent-a', 14), []);
    const lost = await failure(recovery.whenServed(output.id, 0));
    assert.ok(lost instanceof PartitionLostError && !lost.retryable, `${lost.name}: ${lost.message}`);
    assert.match(lost.message, /array 'doubled' has lost partition 0 for good: .*its input 'single' lost that partition for good too/);
    assert.deepEqual(output.meta.lostPartitions, [0]);
    assert.deepEqual(input.meta.lostPartitions, [0]);
    // Partition 1 of both, on agent-b, is fine.
    await recovery.whenServed(output.id, 1);
  });

  it('an agent that comes back with its copy (a network cut) serves it again', async (t) => {
    const { recovery, membership, put, silence, close } = setup();
    t.after(close);
    const record = put([['agent-a'], ['agent-b']]);
    await silence('agent-a');
    assert.ok((await failure(recovery.whenServed(record.id, 0))).message.includes('which died'));
    // The same process registers again, holding it.
    membership.register(agentInfo('agent-a', 1), [{ arrayId: 'arr1', partitions: [0] }]);
    await recovery.whenServed(record.id, 0);
    assert.equal(record.meta.lostPartitions, undefined);
    assert.equal(record.meta.partitions[0]!.agentId, 'agent-a');
  });
});

describe('primaries after recovery', () => {
  const servedBy = (record: LiveArray, ids: string[]) => ids.map((id) => record.meta.partitions.filter((p) => p.agentId === id).length);

  it("a dead agent's primaries move to the copies serving the fewest of the array", async (t) => {
    const { recovery, put, silence, close } = setup();
    t.after(close);
    // Three copies of each; agent-a serves all four.
    const record = put([0, 1, 2, 3].map(() => ['agent-a', 'agent-b', 'agent-c']));
    await silence('agent-a');
    await Promise.all(record.meta.partitions.map((p) => recovery.whenServed(record.id, p.index)));
    assert.deepEqual(servedBy(record, ['agent-a', 'agent-b', 'agent-c']), [0, 2, 2], JSON.stringify(record.meta.partitions));
    for (const p of record.meta.partitions) assert.deepEqual([p.agentId, ...(p.replicas ?? [])].sort(), ['agent-b', 'agent-c']);
  });

  it('an agent that registers again holding its copies takes back its share of the primaries', async (t) => {
    const { recovery, membership, put, close } = setup();
    t.after(close);
    // All four served by agent-b, with copies on agent-a (as a death of agent-a left them, copies made again).
    const record = put([0, 1, 2, 3].map(() => ['agent-b', 'agent-a']));
    membership.register(agentInfo('agent-a', 1), [{ arrayId: 'arr1', partitions: [0, 1, 2, 3] }]);
    for (let i = 0; i < 50 && servedBy(record, ['agent-a'])[0] === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual(servedBy(record, ['agent-a', 'agent-b']), [2, 2], JSON.stringify(record.meta.partitions));
    // Served where it is said to be: every partition's copies are the same two agents.
    for (const p of record.meta.partitions) {
      assert.deepEqual([p.agentId, ...(p.replicas ?? [])].sort(), ['agent-a', 'agent-b']);
      await recovery.whenServed(record.id, p.index);
    }
  });
});
