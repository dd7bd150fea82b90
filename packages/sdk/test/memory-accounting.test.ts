/**
 * The coordinator places partitions by what the agents reserve for them (reservedBytesOf): a
 * partition of at least 1 MiB is held in a WebAssembly memory of whole 64 KiB pages, so it
 * takes more than its bytes. Agents here have room for a partition of 1 MiB + 8 bytes by its
 * bytes but not by its pages: the coordinator sees that, splits the array finer (partitions
 * under 1 MiB are held exactly), and no agent refuses what the coordinator gave it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { InsufficientMemoryError, WASM_PAGE_BYTES, reservedBytesOf } from '@sharc/protocol';
import { connect, type Cluster } from '../src/index.js';
import { eventually } from './cluster-waits.js';

const MIB = 1024 * 1024;
/** 1 MiB + 8 bytes of float64 rows: its memory is 17 pages, 64 KiB - 8 bytes more than its bytes. */
const ODD_ROWS = MIB / 8 + 1;
const ODD_BYTES = ODD_ROWS * 8;
const ODD_RESERVED = reservedBytesOf(ODD_BYTES);
/** After three odd partitions, each agent has room for one more by its bytes (plus 32 KiB), not by its pages. */
const LEFT_AFTER_FIRST = ODD_BYTES + 32 * 1024;
const AGENT_MEMORY = 3 * ODD_RESERVED + LEFT_AFTER_FIRST;

describe('memory accounting: coordinator and agents count partitions alike', () => {
  let cluster: Cluster;
  before(async () => {
    delete process.env.SHARC_SERVERS;
    cluster = await connect({ embedded: { agents: 2, threads: 1, memoryBytes: AGENT_MEMORY } });
  });
  after(() => cluster.close());

  it('places by whole pages: a put that fits only in finer partitions is split finer, never refused by an agent', async () => {
    assert.equal(ODD_RESERVED, 17 * WASM_PAGE_BYTES);
    const first = Float64Array.from({ length: 6 * ODD_ROWS }, (_, i) => i % 13);
    const a = await cluster.put(first, { name: 'first', partitions: 6, copies: 1 });
    const usedPerAgent = async () => (await cluster.nodes()).map((node) => node.usedBytes);
    const reported = await eventually(async () => (await usedPerAgent()).every((bytes) => bytes === 3 * ODD_RESERVED));
    assert.ok(reported, `three 17-page memories on each agent: ${(await usedPerAgent()).join(', ')}`);

    // Two partitions of 1 MiB + 8 bytes (one per agent) fit by bytes but not by pages; four
    // of half that, held exactly, fit.
    const second = Float64Array.from({ length: 2 * ODD_ROWS }, (_, i) => (i % 7) - 3);
    const b = await cluster.put(second, { name: 'second', copies: 1 });
    assert.equal(b.partitions, 4);
    assert.ok(b.placement.every((p) => p.byteLength < MIB), 'held exactly, under 1 MiB each');
    assert.deepEqual(await b.toArray(), second);
    assert.equal(await cluster.reduce(b, 'sum'), second.reduce((s, x) => s + x, 0));
    const total = async () => (await usedPerAgent()).reduce((sum, bytes) => sum + bytes, 0);
    const full = 6 * ODD_RESERVED + 2 * ODD_BYTES;
    assert.ok(await eventually(async () => (await total()) === full), `the halves are held exactly: ${(await usedPerAgent()).join(', ')}`);
    assert.ok((await usedPerAgent()).every((bytes) => bytes <= AGENT_MEMORY));

    // With `second` gone, each agent has room for 1 MiB + 8 bytes by bytes, not by pages: a
    // partition that size is refused by the coordinator, before any agent allocates it.
    await b.delete();
    assert.ok(await eventually(async () => (await total()) === 6 * ODD_RESERVED));
    await assert.rejects(
      cluster.put(new Float64Array(ODD_ROWS), { name: 'third', partitions: 1, copies: 1 }),
      (error: unknown) => error instanceof InsufficientMemoryError && /no agent has 1\.1 MiB free for partition 0/.test(error.message),
    );
    assert.equal(await total(), 6 * ODD_RESERVED, 'nothing allocated for the refused put');
    assert.equal(await cluster.reduce(a, 'sum'), first.reduce((s, x) => s + x, 0));
  });
});
