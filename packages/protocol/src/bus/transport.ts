/**
 * The byte-level publish/subscribe/request layer under the message bus. Two implementations:
 * NATS (a real cluster) and in-process (the embedded cluster). Everything above it, codecs,
 * validation, error replies, is shared, so embedded mode runs exactly the same logic.
 */
export type ReplyFn = (data: Uint8Array) => void;
/** `replySubject` is where a request's reply goes (NATS only): a later process may answer there. */
export type RawHandler = (data: Uint8Array, reply: ReplyFn | undefined, replySubject?: string) => void;

export interface RawSubscribeOptions {
  /** Queue group: each message goes to one member of the group. */
  queue?: string;
}

export interface Transport {
  /** Where this transport is connected, for messages and logs. */
  readonly address: string;
  publish(subject: string, data: Uint8Array): void;
  subscribe(subject: string, handler: RawHandler, options?: RawSubscribeOptions): () => void;
  /** Rejects with ConnectionError when nobody listens, TimeoutError when no reply comes in time. */
  request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  /** Largest message the transport carries. */
  readonly maxPayload: number;
  /** Resolves once the server has processed everything sent so far (subscriptions included). */
  flush?(): Promise<void>;
  close(): Promise<void>;
}
