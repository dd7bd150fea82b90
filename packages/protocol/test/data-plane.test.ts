/**
 * Data-plane framing: a stream of [length][msgpack header][body] frames is split the same way
 * however TCP chunks it, and a corrupt or hostile stream is refused with ProtocolError.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import {
  ConnectionError,
  DATA_READ_IDLE_TIMEOUT_MS,
  FRAME_LENGTH_BYTES,
  FrameReader,
  MAX_FRAME_HEADER_BYTES,
  PROTOCOL_VERSION,
  ProtocolError,
  encodeFrameHeader,
  encodeValue,
  parseDataReply,
  parseDataRequest,
  tcpDataPlane,
  type AgentInfo,
  type BodySink,
  type DataRequest,
} from '../src/index.js';

interface ReceivedFrame {
  header: DataRequest;
  body: number[];
  ended: boolean;
}

/** A reader over data requests that records each header and copies each body. */
function recordingReader(): { reader: FrameReader<DataRequest>; frames: ReceivedFrame[] } {
  const frames: ReceivedFrame[] = [];
  const reader = new FrameReader(parseDataRequest, (header): BodySink => {
    const frame: ReceivedFrame = { header, body: [], ended: false };
    frames.push(frame);
    // Only writes carry a body; a read asks for bytes and has none.
    const target = new Uint8Array(header.op === 'write' ? header.byteLength : 0);
    return {
      target,
      end() {
        assert.equal(frame.ended, false, 'end is called once');
        frame.ended = true;
        frame.body.push(...target);
      },
    };
  });
  return { reader, frames };
}

function write(partitionIndex: number, body: number[]): { header: DataRequest; bytes: Buffer } {
  const header: DataRequest = {
    v: PROTOCOL_VERSION,
    op: 'write',
    arrayId: 'arr-1',
    partitionIndex,
    byteOffset: 0,
    byteLength: body.length,
    token: 'secret',
  };
  return { header, bytes: Buffer.concat([encodeFrameHeader(header), Buffer.from(body)]) };
}

function read(partitionIndex: number, byteLength: number): { header: DataRequest; bytes: Buffer } {
  const header: DataRequest = { v: PROTOCOL_VERSION, op: 'read', arrayId: 'arr-1', partitionIndex, byteOffset: 8, byteLength };
  return { header, bytes: encodeFrameHeader(header) };
}

const BODY_A = Array.from({ length: 300 }, (_, i) => (i * 7) % 256);
const BODY_B = [1, 2, 3];
const STREAM = [write(0, BODY_A), read(1, 64), write(2, []), write(3, BODY_B)];
const STREAM_BYTES = Buffer.concat(STREAM.map((frame) => frame.bytes));
const EXPECTED: ReceivedFrame[] = [
  { header: STREAM[0]!.header, body: BODY_A, ended: true },
  { header: STREAM[1]!.header, body: [], ended: true },
  { header: STREAM[2]!.header, body: [], ended: true },
  { header: STREAM[3]!.header, body: BODY_B, ended: true },
];

describe('FrameReader', () => {
  it('splits frames fed all at once', () => {
    const { reader, frames } = recordingReader();
    reader.push(STREAM_BYTES);
    assert.deepEqual(frames, EXPECTED);
  });

  it('splits frames fed one byte at a time', () => {
    const { reader, frames } = recordingReader();
    for (let i = 0; i < STREAM_BYTES.length; i++) reader.push(STREAM_BYTES.subarray(i, i + 1));
    assert.deepEqual(frames, EXPECTED);
  });

  it('splits frames fed in two chunks cut at any position', () => {
    for (let cut = 0; cut <= STREAM_BYTES.length; cut++) {
      const { reader, frames } = recordingReader();
      reader.push(STREAM_BYTES.subarray(0, cut));
      reader.push(STREAM_BYTES.subarray(cut));
      assert.deepEqual(frames, EXPECTED, `cut at ${cut}`);
    }
  });

  it('splits frames fed in uneven chunks', () => {
    const { reader, frames } = recordingReader();
    let offset = 0;
    for (let size = 1; offset < STREAM_BYTES.length; size = (size * 3) % 17 + 1) {
      reader.push(STREAM_BYTES.subarray(offset, offset + size));
      offset += size;
    }
    assert.deepEqual(frames, EXPECTED);
  });

  it('splits frames read socket-style into the buffers it hands out (onread)', () => {
    for (const readSize of [1, 7, 64, 100_000]) {
      const { reader, frames } = recordingReader();
      let offset = 0;
      while (offset < STREAM_BYTES.length) {
        const buffer = reader.nextBuffer();
        assert.ok(buffer.length > 0, 'never hands out an empty buffer');
        const bytes = STREAM_BYTES.subarray(offset, offset + Math.min(readSize, buffer.length));
        buffer.set(bytes);
        reader.commit(bytes.length);
        offset += bytes.length;
      }
      assert.deepEqual(frames, EXPECTED, `reads of ${readSize} bytes`);
    }
  });

  it('does not report a frame before its body is complete', () => {
    const { reader, frames } = recordingReader();
    const frame = write(0, BODY_A).bytes;
    reader.push(frame.subarray(0, frame.length - 1));
    assert.equal(frames.length, 1);
    assert.equal(frames[0]?.ended, false);
    reader.push(frame.subarray(frame.length - 1));
    assert.equal(frames[0]?.ended, true);
    assert.deepEqual(frames[0]?.body, BODY_A);
  });

  it('refuses a header length above MAX_FRAME_HEADER_BYTES with ProtocolError', () => {
    const { reader, frames } = recordingReader();
    const prefix = Buffer.alloc(FRAME_LENGTH_BYTES);
    prefix.writeUInt32LE(MAX_FRAME_HEADER_BYTES + 1, 0);
    assert.throws(
      () => reader.push(prefix),
      (error: unknown) => {
        assert.ok(error instanceof ProtocolError);
        assert.match(error.message, new RegExp(`${MAX_FRAME_HEADER_BYTES + 1} bytes exceeds ${MAX_FRAME_HEADER_BYTES}`));
        return true;
      },
    );
    assert.equal(frames.length, 0);
  });

  it('refuses a huge header length as soon as the length prefix is complete', () => {
    const { reader } = recordingReader();
    reader.push(Buffer.from([0xff, 0xff]));
    assert.throws(() => reader.push(Buffer.from([0xff, 0xff])), ProtocolError);
  });

  it('waits for a header of exactly MAX_FRAME_HEADER_BYTES instead of refusing it', () => {
    const { reader, frames } = recordingReader();
    const prefix = Buffer.alloc(FRAME_LENGTH_BYTES);
    prefix.writeUInt32LE(MAX_FRAME_HEADER_BYTES, 0);
    reader.push(prefix);
    assert.equal(frames.length, 0);
  });

  it('refuses a header that is not msgpack with ProtocolError', () => {
    const { reader } = recordingReader();
    assert.throws(() => reader.push(Buffer.from([1, 0, 0, 0, 0xc1])), ProtocolError);
  });

  it('refuses a header that is not a valid request with ProtocolError', () => {
    const { reader } = recordingReader();
    const body = encodeValue({ v: PROTOCOL_VERSION, op: 'delete', arrayId: 'arr-1' });
    const prefix = Buffer.alloc(FRAME_LENGTH_BYTES);
    prefix.writeUInt32LE(body.length, 0);
    assert.throws(() => reader.push(Buffer.concat([prefix, body])), /ProtocolError: malformed data request/);
  });
});

describe('parseDataRequest / parseDataReply', () => {
  it('accept the headers encodeFrameHeader writes', () => {
    const request = STREAM[0]!.header;
    assert.deepEqual(parseDataRequest(request), request);
    assert.deepEqual(parseDataReply({ ok: true, byteLength: 16 }), { ok: true, byteLength: 16 });
    const failure = { ok: false as const, error: { name: 'ArrayNotFoundError', code: 'ARRAY_NOT_FOUND', message: 'gone', retryable: false } };
    assert.deepEqual(parseDataReply(failure), failure);
  });

  it('refuse another protocol version, negative offsets and a write without token', () => {
    const base = { v: PROTOCOL_VERSION, op: 'read', arrayId: 'a', partitionIndex: 0, byteOffset: 0, byteLength: 8 };
    assert.throws(() => parseDataRequest({ ...base, v: PROTOCOL_VERSION + 1 }), ProtocolError);
    assert.throws(() => parseDataRequest({ ...base, byteOffset: -8 }), ProtocolError);
    assert.throws(() => parseDataRequest({ ...base, op: 'write' }), ProtocolError);
    assert.throws(() => parseDataRequest('read'), ProtocolError);
  });

  it('refuse a reply that is neither ok nor an error', () => {
    assert.throws(() => parseDataReply({ ok: true }), ProtocolError);
    assert.throws(() => parseDataReply({ ok: false, error: 'bad' }), ProtocolError);
    assert.throws(() => parseDataReply(null), ProtocolError);
  });
});

/**
 * A data port that takes each connection and the request on it, then does what `serve` says:
 * a paused agent's kernel accepts connections and buffers requests without the agent running.
 */
async function dataPort(serve: (socket: net.Socket) => void): Promise<{ agent: AgentInfo; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    serve(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const agent = { id: 'agent-silent', dataHost: '127.0.0.1', dataPort: port } as AgentInfo;
  return {
    agent,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

const readRequest = (byteLength: number): Extract<DataRequest, { op: 'read' }> => ({ v: PROTOCOL_VERSION, op: 'read', arrayId: 'a1', partitionIndex: 2, byteOffset: 0, byteLength });

describe('data-plane reads (tcpDataPlane.read)', () => {
  it('fail with a retryable ConnectionError naming the agent when it sends nothing for DATA_READ_IDLE_TIMEOUT_MS', async () => {
    const port = await dataPort(() => undefined);
    try {
      await assert.rejects(tcpDataPlane.read(port.agent, readRequest(16), new Uint8Array(16)), (error: unknown) => {
        assert.ok(error instanceof ConnectionError, String(error));
        assert.equal(error.retryable, true);
        assert.match(error.message, /agent agent-silent at 127\.0\.0\.1:\d+ sent nothing for \d+ s while partition 2 of array a1 was read from it/);
        return true;
      });
    } finally {
      await port.close();
    }
  });

  it('still get the bytes when this process itself was stopped past the timeout while they arrived', async () => {
    const bytes = Uint8Array.from({ length: 64 }, (_, i) => i * 3);
    const port = await dataPort((socket) => {
      socket.write(encodeFrameHeader({ ok: true, byteLength: bytes.length }));
      socket.write(bytes);
    });
    try {
      const target = new Uint8Array(bytes.length);
      const read = tcpDataPlane.read(port.agent, readRequest(bytes.length), target);
      // Blocks this thread (as a stopped process) before the reply is read: the idle timer is
      // due when it runs again, with the reply waiting in the socket.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, DATA_READ_IDLE_TIMEOUT_MS + 500);
      await read;
      assert.deepEqual(target, bytes);
    } finally {
      await port.close();
    }
  });
});
