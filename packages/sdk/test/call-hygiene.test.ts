/**
 * What calls leave behind and let through: listeners on a caller's AbortSignal, and array
 * names that would print as something else.
 */
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { CancelledError, InvalidArgumentError, NameTakenError, ArrayNotFoundError, fixOf } from '@sharc/protocol';
import { whenAborted } from '../src/abort-listener.js';
import { connect, type ArrayRef, type Cluster } from '../src/index.js';

const KERNELS = fileURLToPath(new URL('../../test/fixtures/kernels.ts', import.meta.url));
const JOBS = 70;

describe('calls on an embedded cluster (in-process bus, real worker threads)', () => {
  let cluster: Cluster;
  let data: ArrayRef;
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => warnings.push(warning);

  before(async () => {
    delete process.env.SHARC_SERVERS;
    cluster = await connect({ embedded: { agents: 2, threads: 1, memoryBytes: 64 * 1024 * 1024 } });
    data = await cluster.put(Float64Array.from({ length: 4096 }, (_, i) => i), { name: 'data', partitions: 4 });
    process.on('warning', onWarning);
  });
  after(async () => {
    process.off('warning', onWarning);
    await cluster?.close();
  });

  it(`${JOBS} concurrent reduces, puts and reads sharing one AbortSignal: no MaxListenersExceededWarning, no listener left`, async () => {
    const controller = new AbortController();
    const { signal } = controller;
    const sums = Promise.all(Array.from({ length: JOBS }, () => cluster.reduce(data, 'sum', { signal })));
    const reads = Promise.all(Array.from({ length: 20 }, () => data.toArray({ signal })));
    const puts = Promise.all(Array.from({ length: 20 }, () => cluster.put(new Float64Array(512), { signal })));
    const [values, arrays, stored] = await Promise.all([sums, reads, puts]);
    assert.deepEqual(new Set(values), new Set([(4095 * 4096) / 2]));
    assert.equal(arrays.length, 20);
    for (const ref of stored) await ref.delete();
    // Warnings are emitted on the next tick.
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(warnings.map((w) => `${w.name}: ${w.message}`), []);
    assert.equal(getEventListeners(signal, 'abort').length, 0, 'the calls took their listeners with them');
  });

  it(`aborting the shared signal cancels all ${JOBS} jobs, and leaves no listener`, async () => {
    const controller = new AbortController();
    const { signal } = controller;
    const jobs = Array.from({ length: JOBS }, () =>
      cluster.reduce(data, { module: KERNELS, partial: 'slow', combine: 'add', params: { ms: 200 } }, { signal }).then(
        () => 'finished',
        (error: unknown) => (error instanceof CancelledError ? 'cancelled' : `failed: ${String(error)}`),
      ),
    );
    // The calls listen once they are under way (the kernel module is bundled first, which a
    // loaded machine may take a while over): wait for that, not for a fixed time.
    for (let waited = 0; getEventListeners(signal, 'abort').length === 0 && waited < 30_000; waited += 20) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(getEventListeners(signal, 'abort').length, 1, 'one listener for all the calls in flight');
    controller.abort();
    const outcomes = await Promise.all(jobs);
    assert.deepEqual(new Set(outcomes), new Set(['cancelled']));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(warnings.map((w) => `${w.name}: ${w.message}`), []);
    assert.equal(getEventListeners(signal, 'abort').length, 0);
    assert.equal(await cluster.reduce(data, 'sum'), (4095 * 4096) / 2, 'the cluster still serves');
  });

  it('refuses a new array name with a character that does not print, naming its position and code point', async () => {
    const cases: Array<[string, RegExp]> = [
      ['a\x1b[31m', /position 2: U\+001B \(ESC\)/],
      ['\0', /position 1: U\+0000 \(NUL\)/],
      ['line\nbreak', /position 5: U\+000A \(newline\)/],
      ['x\u2028', /position 2: U\+2028 \(line separator\)/],
      ['abc\u202e', /position 4: U\+202E \(right-to-left override\)/],
      ['bidi\u2066isolate', /position 5: U\+2066/],
      ['\u{1F600}\u0009', /position 2: U\+0009 \(tab\)/],
      ['nb\u00a0sp', /position 3: U\+00A0/],
      ['c1\u009b', /position 3: U\+009B/],
    ];
    for (const [name, message] of cases) {
      await assert.rejects(cluster.put(new Float64Array(4), { name }), (error: Error) => {
        assert.ok(error instanceof InvalidArgumentError, `${JSON.stringify(name)}: ${error.name}`);
        assert.match(error.message, message);
        assert.ok(!error.message.includes(name), 'the message holds the name escaped');
        return true;
      });
    }
    await assert.rejects(
      cluster.map(data, { module: KERNELS, kernel: 'scale', params: { factor: 2 } }, { name: 'out\x07' }),
      /position 4: U\+0007 \(BEL\)/,
    );
    assert.deepEqual((await cluster.list()).map((a) => a.name), ['data']);
    const fine = await cluster.put(new Float64Array(4), { name: 'Ünïcode name (v2) — 名前 😀' });
    assert.equal((await cluster.open('Ünïcode name (v2) — 名前 😀')).id, fine.id);
    await fine.delete();
  });

  it('errors carry their fix as data, and word it for the SDK', async () => {
    await assert.rejects(cluster.put(new Float64Array(4), { name: 'data' }), (error: Error) => {
      assert.ok(error instanceof NameTakenError);
      assert.equal(error.message, "an array named 'data' already exists: pick another name or pass { replace: true }");
      assert.deepEqual(fixOf(error), {
        problem: "an array named 'data' already exists",
        fix: { option: 'replace', value: true, alternative: 'pick another name' },
      });
      return true;
    });
    await assert.rejects(cluster.open('nope'), (error: Error) => {
      assert.ok(error instanceof ArrayNotFoundError);
      assert.equal(error.message, "no array named 'nope': list the stored arrays with cluster.list()");
      assert.deepEqual(fixOf(error), { problem: "no array named 'nope'", fix: { call: 'list' } });
      return true;
    });
  });
});

describe('whenAborted: one listener per signal, however many calls wait on it', () => {
  it('calls each waiter once, only those still waiting, and removes its listener with the last', async () => {
    const controller = new AbortController();
    const called: string[] = [];
    const stops = ['a', 'b', 'c'].map((name) => whenAborted(controller.signal, () => called.push(name)));
    assert.equal(getEventListeners(controller.signal, 'abort').length, 1);
    stops[1]!();
    controller.abort();
    assert.deepEqual(called, ['a', 'c']);
    for (const stop of stops) stop();
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
    const idle = new AbortController();
    const stopsIdle = Array.from({ length: 50 }, () => whenAborted(idle.signal, () => called.push('never')));
    for (const stop of stopsIdle) stop();
    assert.equal(getEventListeners(idle.signal, 'abort').length, 0, 'calls that ended leave nothing');
  });

  it('calls a waiter on a signal aborted before it started waiting, unless it stopped first', async () => {
    const called: string[] = [];
    whenAborted(AbortSignal.abort(), () => called.push('late'));
    whenAborted(AbortSignal.abort(), () => called.push('stopped'))();
    await Promise.resolve();
    assert.deepEqual(called, ['late']);
  });
});
