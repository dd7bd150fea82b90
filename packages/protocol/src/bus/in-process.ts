import { ConnectionError, TimeoutError } from '../errors.js';
import type { RawHandler, RawSubscribeOptions, Transport } from './transport.js';

interface Subscription {
  pattern: string[];
  handler: RawHandler;
  queue: string | undefined;
}

const IN_PROCESS_MAX_PAYLOAD = 64 * 1024 * 1024;

/**
 * A NATS-like bus inside one process, for the embedded cluster: the same subject wildcards
 * (`*`, `>`), queue groups and request/reply. Delivery is asynchronous, as over a network,
 * so no handler ever runs inside its sender's call stack.
 */
export class InProcessHub {
  /** Subscriptions with a wildcard, looked at for every message. */
  private readonly subscriptions = new Set<Subscription>();
  /**
   * Subscriptions to one exact subject (every request's inbox), by subject: a message finds
   * them in constant time, however many requests are in flight.
   */
  private readonly exact = new Map<string, Set<Subscription>>();

  private add(sub: Subscription): void {
    if (sub.pattern.some((token) => token === '*' || token === '>')) {
      this.subscriptions.add(sub);
      return;
    }
    const subject = sub.pattern.join('.');
    const subs = this.exact.get(subject);
    if (subs === undefined) this.exact.set(subject, new Set([sub]));
    else subs.add(sub);
  }

  private remove(sub: Subscription): void {
    if (this.subscriptions.delete(sub)) return;
    const subject = sub.pattern.join('.');
    const subs = this.exact.get(subject);
    if (subs?.delete(sub) === true && subs.size === 0) this.exact.delete(subject);
  }
  private inboxCounter = 0;

  /** A Transport view of the hub; each service gets its own, like its own connection. */
  connect(): Transport {
    const owned = new Set<Subscription>();
    let closed = false;
    return {
      address: 'in-process',
      maxPayload: IN_PROCESS_MAX_PAYLOAD,
      publish: (subject, data) => {
        if (closed) throw new ConnectionError('in-process transport is closed');
        this.deliver(subject, data, undefined);
      },
      subscribe: (subject, handler, options?: RawSubscribeOptions) => {
        const sub = { pattern: subject.split('.'), handler, queue: options?.queue };
        this.add(sub);
        owned.add(sub);
        return () => {
          this.remove(sub);
          owned.delete(sub);
        };
      },
      request: (subject, data, timeoutMs) => {
        if (closed) return Promise.reject(new ConnectionError('in-process transport is closed'));
        return this.request(subject, data, timeoutMs);
      },
      close: async () => {
        closed = true;
        for (const sub of owned) this.remove(sub);
        owned.clear();
      },
    };
  }

  private request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      const inbox = `_INBOX.${++this.inboxCounter}`;
      const sub: Subscription = {
        pattern: inbox.split('.'),
        queue: undefined,
        handler: (reply) => {
          cleanup();
          resolve(reply);
        },
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new TimeoutError(`no reply on ${subject} within ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.remove(sub);
      };
      this.add(sub);
      if (!this.deliver(subject, data, inbox)) {
        cleanup();
        reject(new ConnectionError(`no responders on ${subject}`, { retryable: true }));
      }
    });
  }

  /** Returns whether anybody received the message. */
  private deliver(subject: string, data: Uint8Array, replyTo: string | undefined): boolean {
    const tokens = subject.split('.');
    const plain: Subscription[] = [];
    const groups = new Map<string, Subscription[]>();
    const candidates = this.exact.get(subject);
    for (const sub of candidates === undefined ? this.subscriptions : [...candidates, ...this.subscriptions]) {
      if (!matches(sub.pattern, tokens)) continue;
      if (sub.queue === undefined) plain.push(sub);
      else groups.set(sub.queue, [...(groups.get(sub.queue) ?? []), sub]);
    }
    for (const members of groups.values()) {
      plain.push(members[Math.floor(Math.random() * members.length)]!);
    }
    const reply = replyTo === undefined ? undefined : (bytes: Uint8Array) => this.deliver(replyTo, bytes, undefined);
    for (const sub of plain) {
      queueMicrotask(() => sub.handler(data, reply));
    }
    return plain.length > 0;
  }
}

function matches(pattern: string[], tokens: string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const part = pattern[i];
    if (part === '>') return tokens.length > i;
    if (i >= tokens.length) return false;
    if (part !== '*' && part !== tokens[i]) return false;
  }
  return pattern.length === tokens.length;
}
