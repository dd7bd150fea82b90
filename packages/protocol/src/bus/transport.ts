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

/** What a transport says of its connection: it was cut (`disconnected`) or is back (`reconnected`). */
export type ConnectionChange = 'disconnected' | 'reconnected';

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
  /**
   * Calls `listener` when the connection to the server is cut and when it is back (NATS; the
   * in-process transport never is cut). Messages in flight meanwhile may be lost: NATS core is
   * at-most-once, so whoever waits on one asks again. Returns a function that stops listening.
   */
  onConnectionChange?(listener: (change: ConnectionChange) => void): () => void;
  close(): Promise<void>;
}
