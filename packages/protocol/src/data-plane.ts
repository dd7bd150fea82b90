import { z } from 'zod';
import { decodeValue, encodeValue } from './codec.js';
import { errorDataSchema } from './messages.js';
import { ProtocolError } from './errors.js';
import { PROTOCOL_VERSION } from './version.js';

/**
 * Bulk array bytes do not go through NATS: each agent listens on a TCP "data port" and clients
 * stream partition bytes straight into (or out of) the agent's SharedArrayBuffers. NATS carries
 * only the control messages that say where to send what.
 *
 * A frame on the data connection is
 *   [u32 LE header length][msgpack header][body: header.byteLength raw bytes]
 * Requests: `write` (body follows, written into the partition at byteOffset) and `read` (no
 * body; the reply carries it). Replies: `{ ok: true, byteLength }` + body, or `{ ok: false, error }`.
 */

export const FRAME_LENGTH_BYTES = 4;
/** Headers are tiny; anything larger is a corrupt or hostile stream. */
export const MAX_FRAME_HEADER_BYTES = 64 * 1024;

const count = z.number().int().nonnegative();
export const dataRequestSchema = z.discriminatedUnion('op', [
  z.object({
    v: z.literal(PROTOCOL_VERSION),
    op: z.literal('write'),
    arrayId: z.string(),
    partitionIndex: count,
    byteOffset: count,
    byteLength: count,
    token: z.string(),
  }),
  z.object({
    v: z.literal(PROTOCOL_VERSION),
    op: z.literal('read'),
    arrayId: z.string(),
    partitionIndex: count,
    byteOffset: count,
    byteLength: count,
  }),
]);
export type DataRequest = z.infer<typeof dataRequestSchema>;

export const dataReplySchema = z.union([
  z.object({ ok: z.literal(true), byteLength: count }),
  z.object({ ok: z.literal(false), error: errorDataSchema }),
]);
export type DataReply = z.infer<typeof dataReplySchema>;

/** The bytes of a frame header: length prefix and msgpack body. */
export function encodeFrameHeader(header: DataRequest | DataReply): Buffer {
  const body = encodeValue(header);
  const frame = Buffer.allocUnsafe(FRAME_LENGTH_BYTES + body.length);
  frame.writeUInt32LE(body.length, 0);
  frame.set(body, FRAME_LENGTH_BYTES);
  return frame;
}

/** Where the body bytes of a frame go: straight into `target`, then `end()`. */
export interface BodySink {
  target: Uint8Array;
  end(): void;
}

/** Header bytes are read into a scratch buffer of this size. */
const HEADER_SCRATCH_BYTES = 64 * 1024;
/** Upper bound of one socket read into a body target. */
const MAX_BODY_READ_BYTES = 8 * 1024 * 1024;

/**
 * Splits a byte stream into frames. It works two ways: `push(chunk)` for bytes a stream already
 * read, and `nextBuffer()` / `commit(n)` for socket `onread`, where the kernel reads each body
 * straight into its target, typed array of a SharedArrayBuffer included: no intermediate chunk
 * and no copy in JavaScript. `onHeader` validates the header and says where the body goes;
 * what it throws stops the reader (the caller answers and closes the connection).
 */
export class FrameReader<H> {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private sink: BodySink | undefined;
  private bodyOffset = 0;
  private readonly scratch = Buffer.allocUnsafe(HEADER_SCRATCH_BYTES);

  constructor(
    private readonly parseHeader: (raw: unknown) => H,
    private readonly onHeader: (header: H) => BodySink,
  ) {}

  /** Where the next socket read should land (never empty). */
  nextBuffer(): Uint8Array {
    if (this.sink === undefined) return this.scratch;
    const { target } = this.sink;
    return target.subarray(this.bodyOffset, Math.min(target.length, this.bodyOffset + MAX_BODY_READ_BYTES));
  }

  /** Takes `bytesRead` bytes that the socket wrote into the last `nextBuffer()`. */
  commit(bytesRead: number): void {
    if (this.sink !== undefined) {
      this.bodyOffset += bytesRead;
      this.finishBodyIfComplete();
      return;
    }
    // The scratch buffer is reused by the next read: keep a copy of what is pending.
    this.push(Buffer.from(this.scratch.subarray(0, bytesRead)));
  }

  push(chunk: Buffer): void {
    let rest = chunk;
    while (rest.length > 0) {
      if (this.sink !== undefined) {
        const take = Math.min(rest.length, this.sink.target.length - this.bodyOffset);
        this.sink.target.set(rest.subarray(0, take), this.bodyOffset);
        this.bodyOffset += take;
        rest = rest.subarray(take);
        this.finishBodyIfComplete();
        continue;
      }
      this.pending.push(rest);
      this.pendingBytes += rest.length;
      rest = this.takeHeader();
    }
  }

  /** Parses a header once enough bytes are buffered; returns the bytes after it. */
  private takeHeader(): Buffer {
    if (this.pendingBytes < FRAME_LENGTH_BYTES) return Buffer.alloc(0);
    const buffered = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    this.pending = [buffered];
    const headerLength = buffered.readUInt32LE(0);
    if (headerLength > MAX_FRAME_HEADER_BYTES) {
      throw new ProtocolError(`data frame header of ${headerLength} bytes exceeds ${MAX_FRAME_HEADER_BYTES}`);
    }
    const end = FRAME_LENGTH_BYTES + headerLength;
    if (buffered.length < end) return Buffer.alloc(0);
    let raw: unknown;
    try {
      raw = decodeValue(buffered.subarray(FRAME_LENGTH_BYTES, end));
    } catch (error) {
      throw new ProtocolError('data frame header is not valid msgpack', { cause: error });
    }
    this.pending = [];
    this.pendingBytes = 0;
    this.sink = this.onHeader(this.parseHeader(raw));
    this.bodyOffset = 0;
    this.finishBodyIfComplete();
    return buffered.subarray(end);
  }

  private finishBodyIfComplete(): void {
    if (this.sink !== undefined && this.bodyOffset === this.sink.target.length) {
      const sink = this.sink;
      this.sink = undefined;
      sink.end();
    }
  }
}

export function parseDataRequest(raw: unknown): DataRequest {
  const parsed = dataRequestSchema.safeParse(raw);
  if (!parsed.success) throw new ProtocolError(`malformed data request: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data;
}

export function parseDataReply(raw: unknown): DataReply {
  const parsed = dataReplySchema.safeParse(raw);
  if (!parsed.success) throw new ProtocolError(`malformed data reply: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data;
}
