import { Packr } from 'msgpackr';
import { ProtocolError } from './errors.js';
import { messageSchema, type Message } from './messages.js';
import { PROTOCOL_VERSION } from './version.js';

/**
 * msgpack with `moreTypes`: without it msgpackr 2.x writes wrong bytes for Float64Array and
 * friends. Records are off so every message is self-describing and needs no shared state
 * between the sender's and the receiver's Packr.
 */
const packr = new Packr({ moreTypes: true, useRecords: false });

export function encodeMessage(message: Message): Uint8Array {
  return packr.pack(message);
}

/**
 * Decodes and validates one message. Throws ProtocolError for bytes that are not msgpack, a
 * message of another protocol version, or a message whose fields do not match its type.
 */
export function decodeMessage(bytes: Uint8Array): Message {
  let raw: unknown;
  try {
    raw = packr.unpack(bytes);
  } catch (error) {
    throw new ProtocolError(`message is not valid msgpack (${bytes.length} bytes)`, { cause: error });
  }
  if (typeof raw !== 'object' || raw === null || Object.getPrototypeOf(raw) !== Object.prototype) {
    throw new ProtocolError('message is not a msgpack map');
  }
  const version = (raw as { v?: unknown }).v;
  if (version !== PROTOCOL_VERSION) {
    throw new ProtocolError(
      `message has protocol version ${JSON.stringify(version)}, this peer speaks ${PROTOCOL_VERSION}: ` +
        'run the same sharc version on every client, coordinator and agent',
      { details: { version } },
    );
  }
  const parsed = messageSchema.safeParse(raw);
  if (!parsed.success) {
    const type = (raw as { type?: unknown }).type;
    throw new ProtocolError(
      `malformed ${JSON.stringify(type)} message: ${parsed.error.issues
        .slice(0, 3)
        .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
        .join('; ')}`,
    );
  }
  return parsed.data;
}

/** Packs arbitrary plain data (kernel partials) the same way messages are packed. */
export function encodeValue(value: unknown): Uint8Array {
  return packr.pack(value);
}
export function decodeValue(bytes: Uint8Array): unknown {
  return packr.unpack(bytes);
}
