import { decodeMessage, encodeMessage } from '../codec.js';
import { BusyError, ConnectionError, fromErrorData, InternalError, MessageTooLargeError, TimeoutError, toErrorData } from '../errors.js';
import type { Logger } from '../logger.js';
import { REPLIES, isRequestType, type Message, type MessageType, type Outgoing, type ReplyOf, type Request, type RequestType } from '../messages.js';
import { PROTOCOL_VERSION } from '../version.js';
import type { ConnectionChange, Transport } from './transport.js';

/**
 * A reply with messages for others that go out just before it, in the same write: one
 * wake-up of the server and one syscall instead of one each (an agent's partial for the
 * client, and its reply to the coordinator).
 */
export interface Answer {
  reply: Outgoing;
  /** Each as a message, or as bytes its sender encoded already (with `encode`, to split what would not fit). */
  before: ReadonlyArray<{ subject: string; message: Outgoing } | { subject: string; bytes: Uint8Array }>;
  /** A smaller reply sent instead when `reply` exceeds the server's max_payload (else the requester gets an InternalError). */
  oversized?: () => Outgoing;
}

/** `replyTo`: the request's reply subject (NATS), for work whose answer may come from a later process. */
export type ServeHandler = (message: Message, context: { replyTo?: string }) => Promise<Outgoing | Answer> | Outgoing | Answer;
export type ListenHandler = (message: Message) => void | Promise<void>;

export interface RequestOptions {
  timeoutMs: number;
}

/**
 * Whether a process may speak on the bus (a coordinator: while it holds its lease). `held`
 * false: nothing goes out. `whenHeld(ms)`: whether it holds it, or comes to within `ms` (a
 * lapse that ends, as opposed to a right lost for good).
 */
export interface SpeakingRight {
  readonly held: boolean;
  whenHeld(ms: number): Promise<boolean>;
}

const ALWAYS: SpeakingRight = { held: true, whenHeld: () => Promise.resolve(true) };
/**
 * How long an answer made while the right to speak had lapsed waits for it to come back:
 * dropped, its requester would wait out its whole timeout, since nothing tells it to ask again.
 */
const LAPSED_ANSWER_WAIT_MS = 5000;

/**
 * Typed messages over a Transport. Every incoming message is decoded and validated here; a
 * message that fails is answered with an `error` reply (requests) or dropped (events), and
 * logged. A handler that throws becomes an `error` reply. Nothing that arrives can crash the
 * process that listens.
 */
export class MessageBus {
  constructor(
    readonly transport: Transport,
    readonly sender: string,
    private readonly logger: Logger,
    /**
     * While it is not held, nothing goes out: publishes and replies are dropped, requests fail
     * (a coordinator that lost its lease to another must stay silent), and answers wait for it
     * to be held again (a lapse: NATS was away, the process was paused), then go or are dropped.
     */
    private readonly right: SpeakingRight = ALWAYS,
  ) {}

  private mayTalk(): boolean {
    return this.right.held;
  }

  /** Sends a request and returns the reply; an `error` reply is thrown as its typed error. */
  async request(subject: string, message: Outgoing, options: RequestOptions): Promise<Message> {
    if (!this.mayTalk()) throw new ConnectionError(`${this.sender} may no longer send (${message.type} on ${subject})`, { retryable: true });
    let bytes: Uint8Array;
    try {
      bytes = await this.transport.request(subject, this.encode(message), options.timeoutMs);
    } catch (error) {
      // Says which request went unanswered: "no reply on <subject>" alone does not tell a user.
      if (error instanceof TimeoutError) throw new TimeoutError(`no reply to ${message.type} on ${subject} within ${options.timeoutMs} ms`, { retryable: true, cause: error.cause ?? error });
      throw error;
    }
    const reply = decodeMessage(bytes);
    if (reply.type === 'error') throw fromErrorData(reply.error);
    return reply;
  }

  /**
   * Sends a request and returns its reply, of a type REPLIES gives for the request (checked:
   * another reply is an InternalError); an `error` reply is thrown as its typed error.
   */
  call<T extends RequestType>(subject: string, message: Request<T> & { type: T }, options: RequestOptions): Promise<ReplyOf<T>>;
  async call(subject: string, message: Outgoing, options: RequestOptions): Promise<Message> {
    if (!isRequestType(message.type)) throw new InternalError(`${message.type} is not a request: it has no reply (REPLIES)`);
    const expected: readonly MessageType[] = REPLIES[message.type];
    const reply = await this.request(subject, message, options);
    if (!expected.includes(reply.type)) {
      throw new InternalError(`expected a ${expected.join(' or ')} reply to ${message.type}, got ${reply.type}`);
    }
    return reply;
  }

  publish(subject: string, message: Outgoing): void {
    if (!this.mayTalk()) return;
    this.transport.publish(subject, this.encode(message));
  }

  /** Answers requests on `subject` with `handler`. */
  serve(subject: string, handler: ServeHandler, options: { queue?: string } = {}): () => void {
    return this.transport.subscribe(
      subject,
      (data, reply, replySubject) => {
        void this.answer(subject, data, reply, handler, replySubject);
      },
      options,
    );
  }

  /** Receives events on `subject`; invalid ones are logged and dropped. */
  listen(subject: string, handler: ListenHandler): () => void {
    return this.transport.subscribe(subject, (data) => {
      let message: Message;
      try {
        message = decodeMessage(data);
      } catch (error) {
        this.logger.warn('dropped an invalid message', { subject, error: (error as Error).message });
        return;
      }
      Promise.resolve()
        .then(() => handler(message))
        .catch((error: unknown) => {
          this.logger.error('event handler failed', { subject, type: message.type, error: toErrorData(error) });
        });
    });
  }

  /** Answers a request received earlier (perhaps by another process) at its reply subject. */
  reply(replySubject: string, message: Outgoing): void {
    if (!this.mayTalk()) return;
    this.transport.publish(replySubject, this.encode(message));
  }

  /**
   * Calls `listener` when the connection to NATS is cut and when it is back (never in the
   * embedded cluster). Returns a function that stops listening.
   */
  onConnectionChange(listener: (change: ConnectionChange) => void): () => void {
    return this.transport.onConnectionChange?.(listener) ?? (() => undefined);
  }

  /** Resolves once the server has processed every subscription and message sent so far. */
  async flush(): Promise<void> {
    await this.transport.flush?.();
  }

  close(): Promise<void> {
    return this.transport.close();
  }

  private async answer(
    subject: string,
    data: Uint8Array,
    reply: ((bytes: Uint8Array) => void) | undefined,
    handler: ServeHandler,
    replySubject: string | undefined,
  ): Promise<void> {
    let response: Outgoing;
    let type = 'unknown';
    /** Encoded before anything is sent: a message that cannot be encoded fails the request instead. */
    let before: Array<{ subject: string; bytes: Uint8Array }> = [];
    let oversized: (() => Outgoing) | undefined;
    try {
      const message = decodeMessage(data);
      type = message.type;
      const answer = await handler(message, replySubject === undefined ? {} : { replyTo: replySubject });
      if ('reply' in answer) {
        before = answer.before.map((entry) => ('bytes' in entry ? entry : { subject: entry.subject, bytes: this.encode(entry.message) }));
        response = answer.reply;
        oversized = answer.oversized;
      } else {
        response = answer;
      }
    } catch (error) {
      const data = toErrorData(error);
      if (data.code === InternalError.code) {
        this.logger.error('request failed', { subject, type, error: data });
      } else if (data.code === BusyError.code) {
        // Flow control, not a fault: a burst is refused thousands of times a second, and the
        // refusing service counts and summarises them (the coordinator's RefusalSummary).
        this.logger.debug('request refused: busy', { subject, type, error: data.message });
      } else {
        this.logger.info('request refused', { subject, type, error: data.message });
      }
      response = { type: 'error', error: data };
    }
    if (!this.mayTalk() && !(await this.right.whenHeld(LAPSED_ANSWER_WAIT_MS))) return;
    try {
      for (const { subject: to, bytes } of before) this.transport.publish(to, bytes);
    } catch (error) {
      // Said to the requester as the outcome, as if the handler had failed to publish them.
      this.logger.error('could not send the messages of an answer', { subject, type, error: toErrorData(error) });
      response = { type: 'error', error: toErrorData(new ConnectionError(`could not publish: ${(error as Error).message}`, { retryable: true, cause: error })) };
    }
    if (reply === undefined) return;
    try {
      let bytes: Uint8Array;
      try {
        bytes = this.encode(response);
      } catch (error) {
        if (!(error instanceof MessageTooLargeError) || oversized === undefined) throw error;
        bytes = this.encode(oversized());
      }
      reply(bytes);
    } catch (error) {
      this.logger.error('could not send a reply', { subject, type, error: toErrorData(error) });
      try {
        reply(this.encode({ type: 'error', error: toErrorData(new InternalError(`reply could not be encoded: ${(error as Error).message}`)) }));
      } catch {
        // The transport itself is gone; nothing more can be said to this requester.
      }
    }
  }

  /** The message as it goes out from this process; MessageTooLargeError past the server's max_payload. */
  encode(message: Outgoing): Uint8Array {
    const bytes = encodeMessage({ ...message, v: PROTOCOL_VERSION, from: this.sender } as Message);
    if (bytes.length > this.transport.maxPayload) {
      throw new MessageTooLargeError(
        `a ${message.type} message of ${bytes.length} bytes exceeds the server's max_payload of ${this.transport.maxPayload} bytes: ` +
          'raise max_payload in nats.conf (sharc ships one with 64 MiB) or send less data per message',
      );
    }
    return bytes;
  }
}

