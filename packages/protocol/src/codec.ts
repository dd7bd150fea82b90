import { Packr } from 'msgpackr';
import { tasksDoneProblem, tasksRunProblem } from './direct-checks.js';
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
  // msgpack decodes nesting far deeper than the recursive schemas (an error's `cause` chain)
  // can walk on the stack; refuse it here, by a fixed rule, instead of overflowing below.
  if (nestingDepth(raw, MAX_MESSAGE_DEPTH) > MAX_MESSAGE_DEPTH) {
    throw new ProtocolError(`message nests deeper than ${MAX_MESSAGE_DEPTH} levels`);
  }
  // The messages of a direct reduce, paid on every tiny job, are checked by hand (as strictly).
  const type = (raw as { type?: unknown }).type;
  const check = type === 'tasks.run' ? tasksRunProblem : type === 'tasks.done' ? tasksDoneProblem : undefined;
  if (check !== undefined) {
    const problem = check(raw as Record<string, unknown>);
    if (problem !== undefined) throw new ProtocolError(`malformed ${JSON.stringify(type)} message: ${problem}`);
    return raw as Message;
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

/** Deepest nesting of arrays and maps a message may have (kernel params and partials included). */
export const MAX_MESSAGE_DEPTH = 256;

/** How deeply `value` nests arrays and objects, counted without recursion and up to `limit + 1`. */
function nestingDepth(value: unknown, limit: number): number {
  let deepest = 0;
  const pending: Array<[unknown, number]> = [[value, 1]];
  while (pending.length > 0) {
    const [item, depth] = pending.pop()!;
    if (typeof item !== 'object' || item === null || ArrayBuffer.isView(item)) continue;
    if (depth > deepest) deepest = depth;
    if (deepest > limit) return deepest;
    for (const child of Array.isArray(item) ? item : Object.values(item)) {
      if (typeof child === 'object' && child !== null) pending.push([child, depth + 1]);
    }
  }
  return deepest;
}

/** Packs arbitrary plain data (kernel partials) the same way messages are packed. */
export function encodeValue(value: unknown): Uint8Array {
  return packr.pack(value);
}
export function decodeValue(bytes: Uint8Array): unknown {
  return packr.unpack(bytes);
}
