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
    const catalog = new ArrayCatalog((_, record) => saved.push(record?.meta.lostPartitions && [...record.meta.lostPartitions]));
    const record = pendingRecord('a', 'a');
    record.meta.partitions = [0, 1, 2].map((index) => ({ index, rowStart: index, rowCount: 1, byteLength: 8, agentId: 'agent-0' }));
    catalog.addPending(record);
    catalog.commit('a');
    saved.length = 0;
    catalog.markLost(record, 2);
    catalog.markLost(record, 0);
    catalog.markLost(record, 2);
    assert.deepEqual(record.meta.lostPartitions, [0, 2], 'in index order, once each');
    assert.deepEqual(saved, [[2], [0, 2]], 'each change is stored, a repeat is not');
    assert.deepEqual(catalog.list()[0]?.lostPartitions, [0, 2]);
    assert.deepEqual(catalog.partitionsOnAgent('agent-0'), [{ arrayId: 'a', partitions: [1] }]);
    assert.deepEqual(catalog.servingCounts(), new Map([['agent-0', 1]]));
    assert.deepEqual(catalog.servingCounts('a'), new Map());
  });
});
