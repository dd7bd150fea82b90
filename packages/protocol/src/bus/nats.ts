import { connect, RequestError, TimeoutError as NatsTimeoutError, type NatsConnection } from '@nats-io/transport-node';
import { ConnectionError, TimeoutError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Transport } from './transport.js';

export interface NatsTransportOptions {
  /** One or more `nats://host:port` URLs, comma separated or as a list. */
  servers: string | string[];
  /** Connection name shown by nats-server monitoring. */
  name: string;
  /** How long the first connect may take before failing. @default 5000 */
  connectTimeoutMs?: number;
  logger?: Logger;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

/** Connects to nats-server; fails within the connect timeout with an error naming the servers. */
export async function connectNats(options: NatsTransportOptions): Promise<Transport> {
  const servers = (Array.isArray(options.servers) ? options.servers : options.servers.split(','))
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const address = servers.join(',');
  let connection: NatsConnection;
  try {
    connection = await connect({
      servers,
      name: options.name,
      timeout: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      // Without this nats.js builds a RequestError and a TimeoutError, stack traces included, for
      // every request in case it fails: measured at ~12 % of the coordinator's CPU on tiny jobs.
      noAsyncTraces: true,
    });
  } catch (error) {
    throw new ConnectionError(
      `cannot reach NATS at ${address}: ${(error as Error).message}. ` +
        'Check that nats-server runs there (nats-server -c infra/nats.conf) and that the address is right.',
      { cause: error, retryable: true, details: { servers } },
    );
  }
  void (async () => {
    for await (const status of connection.status()) {
      options.logger?.info('nats status', { status: status.type, server: address });
    }
  })();
  return new NatsTransport(connection, address);
}

class NatsTransport implements Transport {
  constructor(
    private readonly connection: NatsConnection,
    readonly address: string,
  ) {}

  get maxPayload(): number {
    return this.connection.info?.max_payload ?? 1024 * 1024;
  }

  publish(subject: string, data: Uint8Array): void {
    this.connection.publish(subject, data);
  }

  subscribe(subject: string, handler: (data: Uint8Array, reply: ((d: Uint8Array) => void) | undefined) => void, options?: { queue?: string }): () => void {
    const sub = this.connection.subscribe(subject, {
      ...(options?.queue === undefined ? {} : { queue: options.queue }),
      callback: (error, msg) => {
        if (error) return;
        const replyTo = msg.reply;
        handler(
          msg.data,
          replyTo ? (bytes) => this.connection.publish(replyTo, bytes) : undefined,
        );
      },
    });
    return () => sub.unsubscribe();
  }

  async request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    try {
      const reply = await this.connection.request(subject, data, { timeout: timeoutMs });
      return reply.data;
    } catch (error) {
      if (error instanceof RequestError && error.isNoResponders()) {
        throw new ConnectionError(`no responders on ${subject} at ${this.address}`, { retryable: true, cause: error });
      }
      if (error instanceof NatsTimeoutError || (error instanceof RequestError && error.cause instanceof NatsTimeoutError)) {
        throw new TimeoutError(`no reply on ${subject} within ${timeoutMs} ms`, { retryable: true, cause: error });
      }
      throw new ConnectionError(`request on ${subject} failed: ${(error as Error).message}`, { cause: error, retryable: true });
    }
  }

  async close(): Promise<void> {
    if (!this.connection.isClosed()) await this.connection.drain().catch(() => this.connection.close());
  }
}
