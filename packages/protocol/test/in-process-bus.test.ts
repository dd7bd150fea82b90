/**
 * The in-process hub behaves like NATS (subjects, wildcards, queue groups, request/reply), and
 * the MessageBus over it answers requests, turns thrown errors into typed errors at the
 * requester, and survives garbage without crashing, logging what it refused.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  BusyError,
  ConnectionError,
  InProcessHub,
  InternalError,
  InvalidArgumentError,
  MessageBus,
  NameTakenError,
  PROTOCOL_VERSION,
  TimeoutError,
  decodeMessage,
  encodeMessage,
  encodeValue,
  subjectFor,
  type Logger,
  type Message,
  type Transport,
} from '../src/index.js';

type Level = 'debug' | 'info' | 'warn' | 'error';
interface LogEntry {
  level: Level;
  message: string;
  fields: Record<string, unknown> | undefined;
}

/** A Logger that keeps every call, so tests can check what was reported. */
class RecordingLogger implements Logger {
  readonly entries: LogEntry[] = [];
  debug(message: string, fields?: Record<string, unknown>): void {
    this.entries.push({ level: 'debug', message, fields });
  }
  info(message: string, fields?: Record<string, unknown>): void {
    this.entries.push({ level: 'info', message, fields });
  }
  warn(message: string, fields?: Record<string, unknown>): void {
    this.entries.push({ level: 'warn', message, fields });
  }
  error(message: string, fields?: Record<string, unknown>): void {
    this.entries.push({ level: 'error', message, fields });
  }
  at(level: Level): LogEntry[] {
    return this.entries.filter((entry) => entry.level === level);
  }
}

/** Lets queued deliveries (microtasks) and the handlers they start run to completion. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

const bytes = (...values: number[]) => new Uint8Array(values);

/** The same transport, but claiming a smaller max_payload, like a strictly configured server. */
function withMaxPayload(base: Transport, maxPayload: number): Transport {
  return {
    address: base.address,
    maxPayload,
    publish: (subject, data) => base.publish(subject, data),
    subscribe: (subject, handler, options) => base.subscribe(subject, handler, options),
    request: (subject, data, timeoutMs) => base.request(subject, data, timeoutMs),
    close: () => base.close(),
  };
}

describe('InProcessHub', () => {
  let hub: InProcessHub;
  let a: Transport;
  let b: Transport;

  beforeEach(() => {
    hub = new InProcessHub();
    a = hub.connect();
    b = hub.connect();
  });
  afterEach(async () => {
    await a.close();
    await b.close();
  });

  /** Subscribes on `b` and returns what arrives, by subject. */
  function collect(pattern: string, options?: { queue?: string }): string[] {
    const received: string[] = [];
    b.subscribe(pattern, (data) => received.push(Buffer.from(data).toString()), options);
    return received;
  }

  it('delivers a publish to a subscriber of the exact subject, and not to others', async () => {
    const exact = collect('sharc.c.job.j1');
    const other = collect('sharc.c.job.j2');
    a.publish('sharc.c.job.j1', Buffer.from('hello'));
    await settle();
    assert.deepEqual(exact, ['hello']);
    assert.deepEqual(other, []);
  });

  it('delivers asynchronously, never inside the publisher call', async () => {
    const received = collect('s.x');
    a.publish('s.x', Buffer.from('later'));
    assert.deepEqual(received, []);
    await settle();
    assert.deepEqual(received, ['later']);
  });

  it("'*' matches exactly one token", async () => {
    const received = collect('sharc.c.job.*');
    for (const subject of ['sharc.c.job.j1', 'sharc.c.job.j2', 'sharc.c.job', 'sharc.c.job.j1.x', 'sharc.d.job.j1']) {
      a.publish(subject, Buffer.from(subject));
    }
    await settle();
    assert.deepEqual(received.sort(), ['sharc.c.job.j1', 'sharc.c.job.j2']);
  });

  it("'*' works in the middle of a pattern", async () => {
    const received = collect('sharc.*.coord.client');
    for (const subject of ['sharc.a.coord.client', 'sharc.b.coord.client', 'sharc.a.coord.agent', 'sharc.a.b.coord.client']) {
      a.publish(subject, Buffer.from(subject));
    }
    await settle();
    assert.deepEqual(received.sort(), ['sharc.a.coord.client', 'sharc.b.coord.client']);
  });

  it("'>' matches one or more trailing tokens", async () => {
    const received = collect('sharc.c.>');
    for (const subject of ['sharc.c.job.j1', 'sharc.c.coord.client', 'sharc.c.x', 'sharc.c', 'sharc.d.job.j1', 'other']) {
      a.publish(subject, Buffer.from(subject));
    }
    await settle();
    assert.deepEqual(received.sort(), ['sharc.c.coord.client', 'sharc.c.job.j1', 'sharc.c.x']);
  });

  it("a client's job subscription receives the events of its own jobs only", async () => {
    const received = collect(subjectFor('c', { to: 'jobs of client', clientId: 'client-1' }));
    const subjects = [
      subjectFor('c', { to: 'job', clientId: 'client-1', jobId: 'j1' }),
      subjectFor('c', { to: 'job', clientId: 'client-1', jobId: 'j2' }),
      subjectFor('c', { to: 'job', clientId: 'client-2', jobId: 'j1' }),
      subjectFor('other', { to: 'job', clientId: 'client-1', jobId: 'j1' }),
    ];
    for (const subject of subjects) a.publish(subject, Buffer.from(subject));
    await settle();
    assert.deepEqual(received.sort(), ['sharc.c.job.client-1.j1', 'sharc.c.job.client-1.j2']);
  });

  it('delivers each message of a queue group to exactly one member, and still to every plain subscriber', async () => {
    const members = [collect('work.items', { queue: 'workers' }), collect('work.items', { queue: 'workers' }), collect('work.items', { queue: 'workers' })];
    const watcher = collect('work.items');
    const sent = Array.from({ length: 60 }, (_, i) => `item-${i}`);
    for (const item of sent) a.publish('work.items', Buffer.from(item));
    await settle();

    const delivered = members.flat();
    assert.equal(delivered.length, sent.length, 'no message is lost or duplicated in the group');
    assert.deepEqual([...delivered].sort(), [...sent].sort());
    assert.deepEqual(watcher.sort(), [...sent].sort());
  });

  it('gives each queue group its own copy', async () => {
    const groupA = [collect('q', { queue: 'a' }), collect('q', { queue: 'a' })];
    const groupB = [collect('q', { queue: 'b' })];
    for (let i = 0; i < 10; i++) a.publish('q', Buffer.from(String(i)));
    await settle();
    assert.equal(groupA.flat().length, 10);
    assert.equal(groupB.flat().length, 10);
  });

  it('stops delivering after unsubscribe', async () => {
    const received: number[] = [];
    const unsubscribe = b.subscribe('s', (data) => received.push(data[0]!));
    a.publish('s', bytes(1));
    await settle();
    unsubscribe();
    a.publish('s', bytes(2));
    await settle();
    assert.deepEqual(received, [1]);
  });

  it('answers a request with the reply of a subscriber', async () => {
    b.subscribe('svc.double', (data, reply) => {
      assert.ok(reply, 'a request carries a reply function');
      reply(bytes(...Array.from(data, (x) => x * 2)));
    });
    const answer = await a.request('svc.double', bytes(1, 2, 3), 1000);
    assert.deepEqual(Array.from(answer), [2, 4, 6]);
  });

  it('gives plain publishes no reply function', async () => {
    const replies: unknown[] = [];
    b.subscribe('s', (_data, reply) => replies.push(reply));
    a.publish('s', bytes(1));
    await settle();
    assert.deepEqual(replies, [undefined]);
  });

  it('rejects a request nobody listens to with a retryable ConnectionError', async () => {
    await assert.rejects(a.request('nobody.home', bytes(1), 1000), (error: unknown) => {
      assert.ok(error instanceof ConnectionError);
      assert.equal(error.retryable, true);
      assert.match(error.message, /no responders on nobody\.home/);
      return true;
    });
  });

  it('rejects a request whose subscriber never answers with TimeoutError', async () => {
    b.subscribe('silent', () => {});
    await assert.rejects(a.request('silent', bytes(1), 20), (error: unknown) => {
      assert.ok(error instanceof TimeoutError);
      assert.match(error.message, /silent/);
      return true;
    });
  });

  it('refuses to publish or request on a closed transport', async () => {
    await a.close();
    assert.throws(() => a.publish('s', bytes(1)), ConnectionError);
    await assert.rejects(a.request('s', bytes(1), 100), ConnectionError);
  });

  it('drops the subscriptions of a closed transport', async () => {
    const received = collect('s');
    await b.close();
    a.publish('s', bytes(1));
    await settle();
    assert.deepEqual(received, []);
  });
});

describe('MessageBus over the in-process hub', () => {
  const subject = 'sharc.test.coord.client';
  let hub: InProcessHub;
  let serverLog: RecordingLogger;
  let clientLog: RecordingLogger;
  let server: MessageBus;
  let client: MessageBus;

  beforeEach(() => {
    hub = new InProcessHub();
    serverLog = new RecordingLogger();
    clientLog = new RecordingLogger();
    server = new MessageBus(hub.connect(), 'coordinator', serverLog);
    client = new MessageBus(hub.connect(), 'client-1', clientLog);
  });
  afterEach(async () => {
    await server.close();
    await client.close();
  });

  it('serve() answers a request, and the envelope names the protocol version and the sender', async () => {
    const seen: Message[] = [];
    server.serve(subject, (message) => {
      seen.push(message);
      return { type: 'job.progress', jobId: 'job-7', done: 1, total: 3 };
    });

    const reply = await client.request(subject, { type: 'nodes.list' }, { timeoutMs: 1000 });

    assert.deepEqual(reply, { v: PROTOCOL_VERSION, from: 'coordinator', type: 'job.progress', jobId: 'job-7', done: 1, total: 3 });
    assert.deepEqual(seen, [{ v: PROTOCOL_VERSION, from: 'client-1', type: 'nodes.list' }]);
  });

  it('call() refuses a reply of another type with InternalError', async () => {
    server.serve(subject, () => ({ type: 'ok' }));
    await assert.rejects(client.call(subject, { type: 'array.list' }, { timeoutMs: 1000 }), (error: unknown) => {
      assert.ok(error instanceof InternalError);
      assert.match(error.message, /expected a array\.listed reply to array\.list, got ok/);
      return true;
    });
  });

  it('call() without a reply type infers it from the request (REPLIES) and checks it', async () => {
    server.serve(subject, (message) => (message.type === 'array.list' ? { type: 'array.listed', arrays: [] } : { type: 'ok' }));
    const listed = await client.call(subject, { type: 'array.list' }, { timeoutMs: 1000 });
    // Typed as the array.listed message: its fields are read without a cast.
    assert.equal(listed.type, 'array.listed');
    assert.deepEqual(listed.arrays, []);
    await assert.rejects(client.call(subject, { type: 'nodes.list' }, { timeoutMs: 1000 }), (error: unknown) => {
      assert.ok(error instanceof InternalError);
      assert.match(error.message, /expected a nodes\.listed reply to nodes\.list, got ok/);
      return true;
    });
  });

  it('call() accepts each reply a request may get (job.sync: job.done or job.state)', async () => {
    let done = true;
    server.serve(subject, () => (done ? { type: 'job.done', jobId: 'j1' } : { type: 'job.state', jobId: 'j1', state: 'running' }));
    const first = await client.call(subject, { type: 'job.sync', jobId: 'j1' }, { timeoutMs: 1000 });
    assert.equal(first.type, 'job.done');
    done = false;
    const second = await client.call(subject, { type: 'job.sync', jobId: 'j1' }, { timeoutMs: 1000 });
    assert.equal(second.type === 'job.state' ? second.state : second.type, 'running');
  });

  it('call() without a reply type refuses an event, which has no reply', async () => {
    server.serve(subject, () => ({ type: 'ok' }));
    // A message REPLIES does not list: refused before it is sent.
    const event = { type: 'task.cancel', jobId: 'j1' } as never;
    await assert.rejects(client.call(subject, event, { timeoutMs: 1000 }), /task\.cancel is not a request/);
  });

  it('a handler that throws a typed error reaches the requester as that typed error', async () => {
    server.serve(subject, () => {
      throw new NameTakenError("an array named 'x' already exists", { details: { name: 'x' } });
    });

    await assert.rejects(client.request(subject, { type: 'array.open', name: 'x' }, { timeoutMs: 1000 }), (error: unknown) => {
      assert.ok(error instanceof NameTakenError);
      assert.equal(error.code, 'NAME_TAKEN');
      assert.equal(error.message, "an array named 'x' already exists");
      assert.deepEqual(error.details, { name: 'x' });
      return true;
    });
    const refused = serverLog.at('info').filter((entry) => entry.message === 'request refused');
    assert.equal(refused.length, 1);
    assert.equal(refused[0]?.fields?.type, 'array.open');
  });

  it('a BusyError reaches the requester as one, logged at debug only (the refusing service counts them)', async () => {
    server.serve(subject, () => {
      throw new BusyError('the coordinator is running 1 jobs and 2 more are queued: retry later', { retryable: true });
    });
    for (let i = 0; i < 3; i++) {
      await assert.rejects(client.request(subject, { type: 'array.open', name: 'x' }, { timeoutMs: 1000 }), (error: unknown) => error instanceof BusyError && error.retryable);
    }
    assert.deepEqual(serverLog.entries.filter((entry) => entry.level !== 'debug'), []);
    assert.equal(serverLog.at('debug').filter((entry) => /refused/.test(entry.message)).length, 3);
  });

  it('an async handler that rejects is answered the same way', async () => {
    server.serve(subject, async () => {
      throw new TimeoutError('agent did not answer', { retryable: true });
    });
    await assert.rejects(client.request(subject, { type: 'nodes.list' }, { timeoutMs: 1000 }), (error: unknown) => {
      assert.ok(error instanceof TimeoutError);
      assert.equal(error.retryable, true);
      return true;
    });
  });

  it('a handler bug becomes InternalError at the requester and is logged as an error', async () => {
    server.serve(subject, () => {
      throw new TypeError('cannot read properties of undefined');
    });
    await assert.rejects(client.request(subject, { type: 'nodes.list' }, { timeoutMs: 1000 }), (error: unknown) => {
      assert.ok(error instanceof InternalError);
      assert.equal(error.message, 'cannot read properties of undefined');
      return true;
    });
    const failures = serverLog.at('error').filter((entry) => entry.message === 'request failed');
    assert.equal(failures.length, 1);
    assert.equal(failures[0]?.fields?.subject, subject);
  });

  it('answers garbage bytes with an error reply, logs it, and keeps serving', async () => {
    const handled: string[] = [];
    server.serve(subject, (message) => {
      handled.push(message.type);
      return { type: 'ok' };
    });
    const raw = hub.connect();
    try {
      const garbage = [
        bytes(0xc1, 0xff, 0x00, 0x13, 0x37),
        encodeValue([1, 2, 3]),
        encodeValue({ v: PROTOCOL_VERSION + 1, from: 'x', type: 'nodes.list' }),
        encodeValue({ v: PROTOCOL_VERSION, from: 'x', type: 'array.create', dtype: 'float64', shape: [-1] }),
      ];
      for (const payload of garbage) {
        const reply = decodeMessage(await raw.request(subject, payload, 1000));
        assert.equal(reply.type, 'error');
        assert.equal(reply.error.code, 'PROTOCOL_ERROR');
        assert.equal(reply.from, 'coordinator');
      }

      assert.equal(handled.length, 0, 'the handler never sees an invalid message');
      const refused = serverLog.entries.filter((entry) => entry.message === 'request refused');
      assert.equal(refused.length, garbage.length);
      assert.ok(refused.every((entry) => entry.fields?.subject === subject));

      const reply = await client.request(subject, { type: 'nodes.list' }, { timeoutMs: 1000 });
      assert.equal(reply.type, 'ok');
      assert.deepEqual(handled, ['nodes.list']);
    } finally {
      await raw.close();
    }
  });

  it('a reply too large for the transport reaches the requester as InternalError and is logged', async () => {
    const smallServer = new MessageBus(withMaxPayload(hub.connect(), 4096), 'small', serverLog);
    try {
      smallServer.serve('small.svc', () => ({ type: 'kernel.code', hash: 'h', code: 'x'.repeat(10_000) }));
      await assert.rejects(client.request('small.svc', { type: 'kernel.get', hash: 'h' }, { timeoutMs: 1000 }), (error: unknown) => {
        assert.ok(error instanceof InternalError);
        assert.match(error.message, /reply could not be encoded/);
        assert.match(error.message, /max_payload of 4096 bytes/);
        return true;
      });
      assert.equal(serverLog.entries.filter((entry) => entry.message === 'could not send a reply').length, 1);
    } finally {
      await smallServer.close();
    }
  });

  it('an answer with messages for others sends them before its reply', async () => {
    const order: string[] = [];
    client.listen('sharc.test.job.j1', (message) => {
      order.push(`event ${message.type} from ${message.from}`);
    });
    server.serve(subject, () => ({
      reply: { type: 'task.result', blocks: 1 },
      before: [{ subject: 'sharc.test.job.j1', message: { type: 'job.progress', jobId: 'j1', done: 1, total: 1 } }],
    }));
    const reply = await client.request(subject, { type: 'nodes.list' }, { timeoutMs: 1000 });
    order.push(`reply ${reply.type}`);
    await settle();
    assert.deepEqual(order, ['event job.progress from coordinator', 'reply task.result']);
  });

  it('an answer whose message for others cannot be encoded fails the request and sends nothing else', async () => {
    const smallServer = new MessageBus(withMaxPayload(hub.connect(), 4096), 'small', serverLog);
    const events: Message[] = [];
    client.listen('sharc.test.job.j2', (message) => {
      events.push(message);
    });
    try {
      smallServer.serve('small.svc', () => ({
        reply: { type: 'task.result', blocks: 1 },
        before: [{ subject: 'sharc.test.job.j2', message: { type: 'kernel.code', hash: 'h', code: 'x'.repeat(10_000) } }],
      }));
      await assert.rejects(client.request('small.svc', { type: 'nodes.list' }, { timeoutMs: 1000 }), (error: unknown) => {
        assert.ok(error instanceof InvalidArgumentError, String(error));
        assert.match(error.message, /kernel\.code message of \d+ bytes exceeds the server's max_payload of 4096 bytes/);
        return true;
      });
      await settle();
      assert.deepEqual(events, []);
    } finally {
      await smallServer.close();
    }
  });

  it('an answer whose message for others cannot be published fails the request with a retryable ConnectionError', async () => {
    const base = hub.connect();
    // Replies go back through the hub; publishing anything else fails.
    const failing: Transport = {
      ...withMaxPayload(base, base.maxPayload),
      publish: () => {
        throw new Error('connection closed');
      },
    };
    const flaky = new MessageBus(failing, 'flaky', serverLog);
    try {
      flaky.serve('flaky.svc', () => ({
        reply: { type: 'task.result', blocks: 1 },
        before: [{ subject: 'sharc.test.job.j3', message: { type: 'job.progress', jobId: 'j3', done: 1, total: 1 } }],
      }));
      await assert.rejects(client.request('flaky.svc', { type: 'nodes.list' }, { timeoutMs: 1000 }), (error: unknown) => {
        assert.ok(error instanceof ConnectionError && error.retryable, String(error));
        assert.match(error.message, /could not publish: connection closed/);
        return true;
      });
      assert.equal(serverLog.entries.filter((entry) => entry.message === 'could not send the messages of an answer').length, 1);
    } finally {
      await flaky.close();
    }
  });

  it('publish refuses a message larger than the transport carries, naming the limit', async () => {
    const sender = new MessageBus(withMaxPayload(hub.connect(), 64), 'sender', clientLog);
    try {
      assert.throws(() => sender.publish('s', { type: 'kernel.put', hash: 'h', code: 'y'.repeat(200) }), (error: unknown) => {
        assert.ok(error instanceof InvalidArgumentError);
        assert.match(error.message, /kernel\.put message of \d+ bytes exceeds the server's max_payload of 64 bytes/);
        return true;
      });
    } finally {
      await sender.close();
    }
  });

  it('request() rejects with ConnectionError when nobody serves the subject', async () => {
    await assert.rejects(client.request('sharc.test.nobody', { type: 'nodes.list' }, { timeoutMs: 1000 }), ConnectionError);
  });

  it('listen() hands valid events to the handler', async () => {
    const events: Message[] = [];
    client.listen('sharc.test.job.j1', (message) => {
      events.push(message);
    });
    server.publish('sharc.test.job.j1', { type: 'job.progress', jobId: 'j1', done: 1, total: 4 });
    server.publish('sharc.test.job.j1', { type: 'job.done', jobId: 'j1' });
    await settle();
    assert.deepEqual(
      events.map((event) => event.type),
      ['job.progress', 'job.done'],
    );
    assert.deepEqual(events[0], { v: PROTOCOL_VERSION, from: 'coordinator', type: 'job.progress', jobId: 'j1', done: 1, total: 4 });
  });

  it('listen() drops invalid messages without throwing, logs each, and keeps listening', async () => {
    const events: Message[] = [];
    client.listen('sharc.test.job.j1', (message) => {
      events.push(message);
    });
    const raw = hub.connect();
    try {
      raw.publish('sharc.test.job.j1', bytes(0xc1, 0x00));
      raw.publish('sharc.test.job.j1', encodeValue({ v: 99, from: 'x', type: 'job.progress', jobId: 'j1', done: 1, total: 2 }));
      raw.publish('sharc.test.job.j1', encodeValue({ v: PROTOCOL_VERSION, from: 'x', type: 'job.progress', jobId: 'j1', done: -1, total: 2 }));
      raw.publish(
        'sharc.test.job.j1',
        encodeMessage({ v: PROTOCOL_VERSION, from: 'coordinator', type: 'job.progress', jobId: 'j1', done: 2, total: 2 }),
      );
      await settle();
    } finally {
      await raw.close();
    }

    assert.deepEqual(events, [{ v: PROTOCOL_VERSION, from: 'coordinator', type: 'job.progress', jobId: 'j1', done: 2, total: 2 }]);
    const dropped = clientLog.at('warn').filter((entry) => entry.message === 'dropped an invalid message');
    assert.equal(dropped.length, 3);
    assert.ok(dropped.every((entry) => entry.fields?.subject === 'sharc.test.job.j1'));
    assert.match(String(dropped[1]?.fields?.error), /version 99/);
  });

  it('listen() logs a handler that throws instead of crashing', async () => {
    client.listen('sharc.test.job.j2', () => {
      throw new Error('handler bug');
    });
    server.publish('sharc.test.job.j2', { type: 'job.cancel', jobId: 'j2' });
    await settle();
    const failures = clientLog.at('error').filter((entry) => entry.message === 'event handler failed');
    assert.equal(failures.length, 1);
    assert.equal(failures[0]?.fields?.type, 'job.cancel');
  });
});
