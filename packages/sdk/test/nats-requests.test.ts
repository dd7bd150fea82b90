/**
 * Request/reply over a real nats-server, as every sharc process uses it (one inbox subscription
 * per connection): each reply reaches its own request, and every way a request can fail ends
 * it at once with the error that says why (no responders, timeout, a closed connection, a
 * server that refuses the inbox subscription), never by waiting out the timeout.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ConnectionError, PermissionDeniedError, TimeoutError, connectNats, type Transport } from '@sharc/protocol';
import { startNatsServer, type NatsServer } from '@sharc/test-support';
import { RecordingLogger } from './auth-fixtures.js';

const LONG_MS = 60_000;

describe('request/reply on a real nats-server', () => {
  let nats: NatsServer;
  let server: Transport;
  let client: Transport;
  /** A reply due after the suite closed the server's connection is dropped. */
  let serving = true;
  before(async () => {
    nats = await startNatsServer({
      // `boxed` may publish anything but receive no replies.
      extraConfig: 'authorization { users: [ { user: open, password: open }, { user: boxed, password: boxed, permissions: { subscribe: { deny: "_INBOX.>" } } } ] }',
    });
    server = await connectNats({ servers: nats.url, name: 'server', auth: { user: 'open', password: 'open' } });
    client = await connectNats({ servers: nats.url, name: 'client', auth: { user: 'open', password: 'open' } });
    // Echoes the request back, after a delay given in its first byte (in ms).
    server.subscribe('svc.echo', (data, reply) => {
      setTimeout(() => serving && reply?.(data), data[0]!);
    });
    await server.flush?.();
  });
  after(async () => {
    serving = false;
    await client?.close();
    await server?.close();
    await nats?.stop();
  });

  it('gives each of many concurrent requests its own reply, whatever order the replies come in', async () => {
    const requests = Array.from({ length: 200 }, (_, i) => client.request('svc.echo', new Uint8Array([(i * 7) % 20, i % 256, i >> 8]), LONG_MS));
    const replies = await Promise.all(requests);
    replies.forEach((reply, i) => assert.deepEqual([...reply], [(i * 7) % 20, i % 256, i >> 8]));
  });

  it('fails at once with a retryable ConnectionError when nobody serves the subject', async () => {
    await assert.rejects(client.request('svc.nobody', new Uint8Array([1]), LONG_MS), (error: Error) => {
      assert.ok(error instanceof ConnectionError && error.retryable, String(error));
      assert.match(error.message, /no responders on svc\.nobody/);
      return true;
    });
  });

  it('fails with a retryable TimeoutError naming the subject and the time when no reply comes', async () => {
    await assert.rejects(client.request('svc.echo', new Uint8Array([250]), 50), (error: Error) => {
      assert.ok(error instanceof TimeoutError && error.retryable, String(error));
      assert.equal(error.message, 'no reply on svc.echo within 50 ms');
      return true;
    });
    // The late reply of the request that timed out is dropped; the next request gets its own.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual([...(await client.request('svc.echo', new Uint8Array([0, 42]), LONG_MS))], [0, 42]);
  });

  it('fails the requests in flight with a retryable ConnectionError when the connection closes', async () => {
    const closing = await connectNats({ servers: nats.url, name: 'closing', auth: { user: 'open', password: 'open' } });
    const pending = closing.request('svc.echo', new Uint8Array([200]), LONG_MS);
    const failed = assert.rejects(pending, (error: Error) => {
      assert.ok(error instanceof ConnectionError && error.retryable, String(error));
      return true;
    });
    await closing.close();
    await failed;
  });

  it('fails at once with PermissionDeniedError, logged, when the server refuses the subscription replies would come on', async () => {
    const log = new RecordingLogger();
    const boxed = await connectNats({ servers: nats.url, name: 'boxed', auth: { user: 'boxed', password: 'boxed' }, logger: log });
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        await assert.rejects(boxed.request('svc.echo', new Uint8Array([0]), LONG_MS), (error: Error) => {
          assert.ok(error instanceof PermissionDeniedError, String(error));
          assert.match(error.message, /refused this process's subscription to _INBOX\..*no reply to svc\.echo can arrive/);
          return true;
        });
      }
      assert.ok(log.entries.some((entry) => entry.message === 'nats permission violation'), 'the refusal is logged');
    } finally {
      await boxed.close();
    }
  });
});
