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
  private readonly subscriptions = new Set<Subscription>();
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
        this.subscriptions.add(sub);
        owned.add(sub);
        return () => {
          this.subscriptions.delete(sub);
          owned.delete(sub);
        };
      },
      request: (subject, data, timeoutMs) => {
        if (closed) return Promise.reject(new ConnectionError('in-process transport is closed'));
        return this.request(subject, data, timeoutMs);
      },
      close: async () => {
        closed = true;
        for (const sub of owned) this.subscriptions.delete(sub);
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
        this.subscriptions.delete(sub);
      };
      this.subscriptions.add(sub);
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
    for (const sub of this.subscriptions) {
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
