/**
 * The coordinator's state in JetStream through a NATS outage (real nats-server, the store's
 * connection through a proxy the test cuts): a write made while NATS is away is stored once it
 * is back, in order, and flush() waits for it instead of reporting a loss; nothing is dropped.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { KvStateStore } from '@sharc/coordinator';
import { connectNats, createLogger, natsConnectionOf, type Transport } from '@sharc/protocol';
import { startNatsServer, type NatsServer } from '@sharc/test-support';
import { cuttableProxy, type CuttableProxy } from './cuttable-proxy.js';

describe('coordinator state writes through a NATS outage (real nats-server)', () => {
  let nats: NatsServer;
  let proxy: CuttableProxy;
  const transports: Transport[] = [];
  before(async () => {
    nats = await startNatsServer();
    proxy = await cuttableProxy(nats.port);
  });
  after(async () => {
    for (const transport of transports) await transport.close().catch(() => undefined);
    await proxy?.close();
    await nats?.stop();
  });

  it('a write made while NATS is away is stored once it is back; flush waits for it', async () => {
    const transport = await connectNats({ servers: `nats://127.0.0.1:${proxy.port}`, name: 'coordinator' });
    transports.push(transport);
    const store = await KvStateStore.open(natsConnectionOf(transport)!, 'outage', createLogger('coordinator', 'silent'));
    store.saveKernel('before', 'export const a = 1;');
    await store.flush();
    proxy.cut();
    const mark = store.mark();
    store.saveKernel('during', 'export const b = 2;');
    store.saveKernel('before', 'export const a = 3;'); // a later write of the same key wins
    let flushed = false;
    const flush = store.flush(mark).then(() => (flushed = true));
    // Longer than a JetStream request's timeout (5 s): the write failed at least once meanwhile.
    await new Promise((resolve) => setTimeout(resolve, 6000));
    assert.equal(flushed, false, 'flush waits while the writes cannot be stored');
    proxy.restore();
    await Promise.race([flush, new Promise((_, reject) => setTimeout(() => reject(new Error('flush did not end within 20 s of NATS coming back')), 20_000))]);

    // What a restarted coordinator reads: every write, the last one of each key.
    const reader = await connectNats({ servers: nats.url, name: 'reader' });
    transports.push(reader);
    const loaded = await (await KvStateStore.open(natsConnectionOf(reader)!, 'outage', createLogger('reader', 'silent'))).load();
    assert.deepEqual(
      loaded.kernels.sort((a, b) => a.hash.localeCompare(b.hash)),
      [
        { hash: 'before', code: 'export const a = 3;' },
        { hash: 'during', code: 'export const b = 2;' },
      ],
    );
  });
});
