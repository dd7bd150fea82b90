/**
 * The array catalog: names are unique unless replaced, a pending upload is invisible by name
 * until committed, and replacing swaps the old array out only at commit.
 */
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { ArrayNotFoundError, NameTakenError } from '@sharc/protocol';
import { ArrayCatalog, type ArrayRecord } from '../src/registry/array-catalog.js';

function pendingRecord(id: string, name: string, options: { replace?: boolean; createdAt?: number } = {}): ArrayRecord {
  const createdAt = options.createdAt ?? Date.now();
  return {
    meta: {
      id,
      name,
      dtype: 'float64',
      shape: [10],
      partitions: [{ index: 0, rowStart: 0, rowCount: 10, byteLength: 80, agentId: 'agent-0' }],
      createdAt,
    },
    origin: { kind: 'upload', copies: 1 },
    state: 'pending',
    transferToken: `token-${id}`,
    replace: options.replace ?? false,
    createdAt,
  };
}

describe('ArrayCatalog', () => {
  let catalog: ArrayCatalog;

  /** Checks the name, adds the array and commits it, as a successful put does. */
  function put(id: string, name: string, replace = false): ReturnType<ArrayCatalog['commit']> {
    catalog.checkName(name, replace);
    catalog.addPending(pendingRecord(id, name, { replace }));
    return catalog.commit(id);
  }

  beforeEach(() => {
    catalog = new ArrayCatalog();
  });

  it('finds a committed array by name and by id', () => {
    put('id-1', 'temps');
    assert.equal(catalog.byNameOrThrow('temps').id, 'id-1');
    assert.equal(catalog.ready('id-1').name, 'temps');
    assert.equal(catalog.getRecord('id-1').state, 'ready');
  });

  it('clears the transfer token on commit, so the array can no longer be written', () => {
    const { record } = put('id-1', 'temps');
    assert.equal(record.transferToken, undefined);
  });

  it('refuses a taken name with NameTakenError naming it', () => {
    put('id-1', 'temps');
    assert.throws(
      () => catalog.checkName('temps', false),
      (error: unknown) => {
        assert.ok(error instanceof NameTakenError);
        assert.match(error.message, /'temps'/);
        assert.match(error.message, /replace: true/);
        assert.deepEqual(error.details, {
          name: 'temps',
          problem: "an array named 'temps' already exists",
          fix: { option: 'replace', value: true, alternative: 'pick another name' },
        });
        return true;
      },
    );
  });

  it('accepts a taken name when replace is set', () => {
    put('id-1', 'temps');
    assert.doesNotThrow(() => catalog.checkName('temps', true));
  });

  it('refuses a name another upload is writing right now, even with replace', () => {
    catalog.addPending(pendingRecord('id-1', 'temps'));
    assert.throws(() => catalog.checkName('temps', false), /being written right now/);
    assert.throws(() => catalog.checkName('temps', true), NameTakenError);
  });

  it('keeps a pending array invisible by name and out of the list', () => {
    catalog.addPending(pendingRecord('id-1', 'temps'));
    assert.throws(() => catalog.byNameOrThrow('temps'), ArrayNotFoundError);
    assert.throws(() => catalog.ready('id-1'), /still being written/);
    assert.deepEqual(catalog.list(), []);
    assert.equal(catalog.getRecord('id-1').state, 'pending', 'the coordinator still finds it by id');
  });

  it('refuses an unknown name with ArrayNotFoundError that says how to list arrays', () => {
    assert.throws(
      () => catalog.byNameOrThrow('nope'),
      (error: unknown) => {
        assert.ok(error instanceof ArrayNotFoundError);
        assert.match(error.message, /no array named 'nope'/);
        assert.match(error.message, /cluster\.list\(\)/);
        return true;
      },
    );
  });

  it('commit with replace returns the replaced record, and the name then points at the new array', () => {
    put('old', 'temps');

    const { record, replaced } = put('new', 'temps', true);

    assert.equal(record.meta.id, 'new');
    assert.equal(replaced?.meta.id, 'old');
    assert.equal(catalog.byNameOrThrow('temps').id, 'new');
    assert.throws(() => catalog.getRecord('old'), ArrayNotFoundError, 'the replaced array is gone');
    assert.deepEqual(
      catalog.list().map((meta) => meta.id),
      ['new'],
    );
  });

  it('keeps the old array readable by name while its replacement is being written', () => {
    put('old', 'temps');
    catalog.checkName('temps', true);
    catalog.addPending(pendingRecord('new', 'temps', { replace: true }));
    assert.equal(catalog.byNameOrThrow('temps').id, 'old');
  });

  it('keeps the old array when the replacing upload is removed before commit', () => {
    put('old', 'temps');
    catalog.addPending(pendingRecord('new', 'temps', { replace: true }));
    catalog.remove('new');
    assert.equal(catalog.byNameOrThrow('temps').id, 'old');
  });

  it('refuses a commit without replace when the name was taken meanwhile', () => {
    catalog.addPending(pendingRecord('first', 'temps'));
    catalog.addPending(pendingRecord('second', 'temps'));
    catalog.commit('first');
    assert.throws(() => catalog.commit('second'), NameTakenError);
    assert.equal(catalog.byNameOrThrow('temps').id, 'first');
  });

  it('commit returns nothing replaced for a new name and is harmless when repeated', () => {
    const first = put('id-1', 'temps');
    assert.equal(first.replaced, undefined);
    const again = catalog.commit('id-1');
    assert.equal(again.replaced, undefined);
    assert.equal(catalog.byNameOrThrow('temps').id, 'id-1');
  });

  it('remove frees the name for a new array', () => {
    put('id-1', 'temps');
    const removed = catalog.remove('id-1');
    assert.equal(removed.meta.id, 'id-1');
    assert.throws(() => catalog.byNameOrThrow('temps'), ArrayNotFoundError);
    assert.doesNotThrow(() => catalog.checkName('temps', false));
    put('id-2', 'temps');
    assert.equal(catalog.byNameOrThrow('temps').id, 'id-2');
  });

  it('refuses to remove an unknown id', () => {
    assert.throws(() => catalog.remove('ghost'), ArrayNotFoundError);
  });

  it('lists only ready arrays', () => {
    put('a', 'alpha');
    put('b', 'beta');
    catalog.addPending(pendingRecord('c', 'gamma'));
    assert.deepEqual(catalog.list().map((meta) => meta.name).sort(), ['alpha', 'beta']);
  });

  it("finds the uploads in progress whose lease a client holds, and arrays being written by name", () => {
    catalog.addPending({ ...pendingRecord('mine', 'a'), owner: 'client-1' });
    catalog.addPending({ ...pendingRecord('theirs', 'b'), owner: 'client-2' });
    // A running map's output is pending too, but has no transfer token and no lease: never dropped with a client.
    const output = { ...pendingRecord('map-output', 'd'), owner: 'client-1' };
    delete output.transferToken;
    catalog.addPending(output);
    put('done', 'c');
    assert.deepEqual(catalog.uploadsOf('client-1').map((record) => record.meta.id), ['mine']);
    assert.deepEqual(catalog.pending().map((record) => record.meta.id).sort(), ['map-output', 'mine', 'theirs']);
    assert.equal(catalog.pendingByName('b')?.meta.id, 'theirs');
    assert.equal(catalog.pendingByName('c'), undefined, 'a ready array is not pending');
    assert.throws(() => catalog.checkName('a', true), /being written right now \(by an upload of client client-1\)/);
  });
});

describe('ArrayCatalog lineage', () => {
  const mapOf = (id: string, name: string, inputId: string): ArrayRecord => ({
    ...pendingRecord(id, name),
    origin: { kind: 'map', inputId, kernel: { kind: 'map', hash: 'h', module: 'k.ts', kernel: 'f' }, params: undefined, dtype: 'float64', cols: 1 },
  });

  it('retires a deleted input of a live map output: unnamed and unlisted, but kept for rebuilding the output', () => {
    const catalog = new ArrayCatalog();
    catalog.addPending(pendingRecord('in', 'input'));
    catalog.commit('in');
    catalog.addPending(mapOf('out', 'output', 'in'));
    catalog.commit('out');
    assert.equal(catalog.hasDependents('in'), true);
    catalog.retire('in');
    assert.deepEqual(catalog.list().map((m) => m.name), ['output']);
    assert.throws(() => catalog.byNameOrThrow('input'), ArrayNotFoundError);
    assert.throws(() => catalog.ready('in'), /was deleted or replaced/);
    assert.equal(catalog.find('in')?.state, 'retired');
    // The name is free for a new array.
    catalog.checkName('input', false);
  });

  it('keeps a chain of lineage: an input is needed while a retired output computed from it is', () => {
    const catalog = new ArrayCatalog();
    catalog.addPending(pendingRecord('a', 'a'));
    catalog.commit('a');
    catalog.addPending(mapOf('b', 'b', 'a'));
    catalog.commit('b');
    catalog.addPending(mapOf('c', 'c', 'b'));
    catalog.commit('c');
    catalog.retire('b');
    // c is rebuilt from b, and b from a: a is still needed.
    assert.equal(catalog.hasDependents('a'), true);
  });

  it('keeps a replaced array that a map output was computed from, retired', () => {
    const catalog = new ArrayCatalog();
    catalog.addPending(pendingRecord('v1', 'data'));
    catalog.commit('v1');
    catalog.addPending(mapOf('out', 'output', 'v1'));
    catalog.commit('out');
    catalog.addPending(pendingRecord('v2', 'data', { replace: true }));
    const { replaced } = catalog.commit('v2');
    assert.equal(replaced?.state, 'retired');
    assert.equal(catalog.find('v1')?.state, 'retired');
    assert.equal(catalog.byNameOrThrow('data').id, 'v2');
  });

  it('lists the partitions an agent holds, replicas included', () => {
    const catalog = new ArrayCatalog();
    const record = pendingRecord('a', 'a');
    record.meta.partitions = [
      { index: 0, rowStart: 0, rowCount: 5, byteLength: 40, agentId: 'agent-0', replicas: ['agent-1'] },
      { index: 1, rowStart: 5, rowCount: 5, byteLength: 40, agentId: 'agent-1', replicas: ['agent-2'] },
    ];
    catalog.addPending(record);
    assert.deepEqual(catalog.partitionsOnAgent('agent-1'), [{ arrayId: 'a', partitions: [0, 1] }]);
    assert.deepEqual(catalog.partitionsOnAgent('agent-2'), [{ arrayId: 'a', partitions: [1] }]);
    assert.deepEqual(catalog.partitionsOnAgent('agent-3'), []);
  });

  it('records partitions lost for good: stored, listed, kept by no agent, counted as served by none', () => {
    const saved: Array<number[] | undefined> = [];
    const catalog = new ArrayCatalog((_, current) => saved.push(current?.().meta.lostPartitions && [...current().meta.lostPartitions!]));
    const record = pendingRecord('a', 'a');
    record.meta.partitions = [0, 1, 2].map((index) => ({ index, rowStart: index, rowCount: 1, byteLength: 8, agentId: 'agent-0' }));
    catalog.addPending(record);
    catalog.commit('a');
    saved.length = 0;
    catalog.markLost('a', 2);
    catalog.markLost('a', 0);
    catalog.markLost('a', 2);
    assert.deepEqual(catalog.find('a')?.meta.lostPartitions, [0, 2], 'in index order, once each');
    assert.deepEqual(saved, [[2], [0, 2]], 'each change is stored, a repeat is not');
    assert.deepEqual(catalog.list()[0]?.lostPartitions, [0, 2]);
    assert.deepEqual(catalog.partitionsOnAgent('agent-0'), [{ arrayId: 'a', partitions: [1] }]);
    assert.deepEqual(catalog.servingCounts(), new Map([['agent-0', 1]]));
    assert.deepEqual(catalog.servingCounts('a'), new Map());
  });
});

describe('ArrayCatalog: the one owner of placement', () => {
  const twoPartitions = (id: string, name: string): ArrayRecord => {
    const record = pendingRecord(id, name);
    record.meta.partitions = [0, 1].map((index) => ({ index, rowStart: index * 5, rowCount: 5, byteLength: 40, agentId: 'agent-0', replicas: ['agent-1'] }));
    return record;
  };

  it('hands out arrays their holder cannot change: a record, its ArrayMeta, partitions and replicas are frozen', () => {
    const catalog = new ArrayCatalog();
    catalog.addPending(twoPartitions('a', 'a'));
    const { record } = catalog.commit('a');
    const meta = catalog.ready('a');
    // Module code is strict: writing to a frozen object throws.
    assert.throws(() => {
      meta.partitions[0] = { ...meta.partitions[0]!, agentId: 'agent-9' };
    }, TypeError);
    assert.throws(() => {
      meta.partitions[1]!.agentId = 'agent-9';
    }, TypeError);
    assert.throws(() => meta.partitions[1]!.replicas!.push('agent-9'), TypeError);
    assert.throws(() => {
      meta.lostPartitions = [0];
    }, TypeError);
    assert.throws(() => {
      record.state = 'retired';
    }, TypeError);
    assert.deepEqual(
      catalog.ready('a').partitions.map((p) => p.agentId),
      ['agent-0', 'agent-0'],
      'the catalog still places both on agent-0',
    );
    assert.equal(catalog.find('a')?.state, 'ready');
  });

  it('moves a partition only through the catalog: a new snapshot, the old one unchanged, revisions raised', () => {
    const catalog = new ArrayCatalog();
    catalog.addPending(twoPartitions('a', 'a'));
    catalog.commit('a');
    catalog.addPending(twoPartitions('b', 'b'));
    const before = catalog.ready('a');
    const [arrayRevision, globalRevision] = [catalog.revisionOf('a')!, catalog.revision];
    assert.equal(catalog.servingAgent('a', 1), 'agent-0');

    assert.equal(catalog.placePartition('a', { ...before.partitions[1]!, agentId: 'agent-1', replicas: ['agent-0'] }), true);
    assert.equal(catalog.servingAgent('a', 1), 'agent-1', 'who serves partition 1 now');
    assert.equal(catalog.ready('a').partitions[0], before.partitions[0], 'the partition that did not move is shared');
    assert.equal(before.partitions[1]!.agentId, 'agent-0', 'a snapshot handed out earlier never changes');
    assert.ok(catalog.revisionOf('a')! > arrayRevision, 'the array revision rises on a move');
    assert.ok(catalog.revision > globalRevision, 'so does the catalog revision');
    const afterMove = catalog.revisionOf('a')!;
    catalog.markLost('a', 0);
    assert.ok(catalog.revisionOf('a')! > afterMove, 'and on a partition lost for good');
    assert.throws(() => catalog.placePartition('a', { ...before.partitions[1]!, index: 7 }), RangeError);
  });

  it('a name deleted and created again is another array: the old one is gone by id, moves of it change nothing', () => {
    const saved: string[] = [];
    const catalog = new ArrayCatalog((arrayId, current) => saved.push(`${arrayId}:${current?.().state ?? 'deleted'}`));
    catalog.addPending(twoPartitions('old', 'data'));
    catalog.commit('old');
    const old = catalog.byNameOrThrow('data');
    const oldRevision = catalog.revisionOf('old')!;
    catalog.remove('old');
    catalog.checkName('data', false);
    catalog.addPending(twoPartitions('new', 'data'));
    catalog.commit('new');

    assert.equal(catalog.byNameOrThrow('data').id, 'new');
    assert.equal(catalog.find(old.id), undefined, 'the deleted array is gone by its id');
    assert.equal(catalog.revisionOf(old.id), undefined);
    assert.ok(catalog.revisionOf('new')! > oldRevision, 'the new array has a later revision than any of the old one');
    // A recovery or a job that held the old array: its move is refused, the new array untouched.
    saved.length = 0;
    assert.equal(catalog.placePartition(old.id, { ...old.partitions[0]!, agentId: 'agent-5' }), false);
    assert.equal(catalog.servingAgent(old.id, 0), undefined);
    assert.equal(catalog.servingAgent('new', 0), 'agent-0');
    catalog.markLost(old.id, 0);
    assert.equal(catalog.find('new')?.meta.lostPartitions, undefined);
    assert.deepEqual(saved, [], 'nothing stored for the old array');
  });

  it('counts the partition copies placed on each agent at once, after every change', () => {
    const catalog = new ArrayCatalog();
    assert.deepEqual(catalog.placedCopies(), new Map());
    catalog.addPending(twoPartitions('a', 'a'));
    catalog.commit('a');
    assert.deepEqual(catalog.placedCopies(), new Map([['agent-0', 2], ['agent-1', 2]]));
    catalog.placePartition('a', { index: 1, rowStart: 5, rowCount: 5, byteLength: 40, agentId: 'agent-2', replicas: [] });
    assert.deepEqual(catalog.placedCopies(), new Map([['agent-0', 1], ['agent-1', 1], ['agent-2', 1]]));
    catalog.markLost('a', 0);
    assert.deepEqual(catalog.placedCopies(), new Map([['agent-2', 1]]));
    catalog.remove('a');
    assert.deepEqual(catalog.placedCopies(), new Map());
  });
});
