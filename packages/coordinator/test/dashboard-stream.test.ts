/**
 * The dashboard's live stream (DashboardStream) on a real in-process coordinator served over
 * HTTP: a death's burst of partition moves reaches a page as one message with the whole count,
 * a page that goes away is dropped (and with the last one, the stream stops listening), and a
 * page that stops reading is dropped once its unsent bytes pass the bound, so it cannot grow the
 * coordinator's memory.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createLogger, InProcessHub, InvalidArgumentError, serveHttp, type HttpEndpoint } from '@sharc/protocol';
import { Coordinator } from '../src/coordinator.js';
import { DashboardStream } from '../src/dashboard/event-stream.js';
import { MemoryStateStore } from '../src/state/state-store.js';

const logger = createLogger('test', 'silent');
const MAX_BUFFERED = 256 * 1024;

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`still not ${what} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('DashboardStream', () => {
  let coordinator: Coordinator;
  let stream: DashboardStream;
  let web: HttpEndpoint;

  before(async () => {
    coordinator = await Coordinator.start(new InProcessHub().connect(), { logger, state: new MemoryStateStore() });
    stream = new DashboardStream(coordinator, { eventBatchMs: 50, maxBufferedBytes: MAX_BUFFERED });
    web = await serveHttp({ what: 'coordinator', port: 0, logger, routes: { '/api/events': (request, response) => stream.attach(request, response) } });
  });
  after(async () => {
    await web.close();
    await coordinator.close();
  });

  it('sends a burst of 412 partitions moved as one message with the whole count, and drops a page that goes away', async () => {
    const controller = new AbortController();
    const response = await fetch(`${web.url}/api/events`, { signal: controller.signal });
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const readUntil = async (pattern: RegExp) => {
      while (!pattern.test(text)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended: ${text}`);
        text += decoder.decode(value, { stream: true });
      }
    };
    await readUntil(/event: snapshot\n/);
    assert.equal(stream.size, 1);
    coordinator.events.note({ kind: 'agent.dead', agent: 'agent-3' });
    for (let i = 0; i < 412; i++) coordinator.events.note({ kind: 'partitions.moved', array: 'a1', name: 'm', partitions: 1, agent: 'agent-3' });
    await readUntil(/"kind":"partitions\.moved"[^\n]*\n\n/);
    const moved = text.split('\n').filter((line) => line.includes('"partitions.moved"'));
    assert.equal(moved.length, 1, moved.join('\n'));
    assert.match(moved[0]!, /"partitions":412/);
    assert.match(text, /event: cluster\ndata: \{"kind":"agent\.dead","agent":"agent-3"/);

    controller.abort();
    await until(() => stream.size === 0, 'dropped');
  });

  it('drops a page that stops reading once its unsent bytes pass the bound, and keeps one that reads', async () => {
    const readingController = new AbortController();
    const reading = await fetch(`${web.url}/api/events`, { signal: readingController.signal });
    let received = 0;
    const drained = (async () => {
      for await (const chunk of reading.body!) received += (chunk as Uint8Array).length;
    })().catch(() => undefined);
    const socket = net.connect(web.port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await until(() => stream.size === 2, 'attached');
    // A page that reads nothing more: what is sent to it piles up in the kernel, then in the coordinator.
    socket.pause();
    const name = 'x'.repeat(100);
    for (let round = 0; round < 200 && stream.size > 1; round++) {
      for (let i = 0; i < 300; i++) coordinator.events.note({ kind: 'partitions.lost', array: `array-${round}-${i}`, name, partitions: 1 });
      await new Promise((resolve) => setTimeout(resolve, 60));
    }
    await until(() => stream.size === 1, 'dropped');
    // The page that reads got it all and is still there.
    assert.ok(received > 4 * MAX_BUFFERED, `the reading page got ${received} bytes`);
    socket.destroy();
    readingController.abort();
    await drained;
    await until(() => stream.size === 0, 'gone');
  });

  it('refuses an unknown option and a bad value, naming them', () => {
    assert.throws(() => new DashboardStream(coordinator, { updateMS: 500 } as never), (error: Error) => error instanceof InvalidArgumentError && /unknown option 'updateMS' of dashboardRoutes: did you mean 'updateMs'\?/.test(error.message));
    assert.throws(() => new DashboardStream(coordinator, { maxBufferedBytes: -1 }), /maxBufferedBytes of dashboardRoutes must be a positive number, got -1/);
  });
});
