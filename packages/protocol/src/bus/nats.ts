import {
  AuthorizationError,
  connect,
  createInbox,
  PermissionViolationError,
  UserAuthenticationExpiredError,
  type NatsConnection,
} from '@nats-io/transport-node';
import { ConnectionError, PermissionDeniedError, TimeoutError } from '../errors.js';
import type { Logger } from '../logger.js';
import { NATS_AUTH_SOURCES, resolveNatsAuth, type NatsAuthOptions, type ResolvedNatsAuth } from './nats-auth.js';
import type { ConnectionChange, RawHandler, RawSubscribeOptions, Transport } from './transport.js';

export interface NatsTransportOptions {
  /** One or more `nats://host:port` URLs, comma separated or as a list. */
  servers: string | string[];
  /** Connection name shown by nats-server monitoring. */
  name: string;
  /** How long the first connect may take before failing. @default 5000 */
  connectTimeoutMs?: number;
  /** Credentials and TLS. @default none: an anonymous, plain connection */
  auth?: NatsAuthOptions;
  logger?: Logger;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

/**
 * Connects to nats-server; fails within the connect timeout with an error naming the servers.
 * Bad auth options throw InvalidArgumentError before any connection is tried; credentials the
 * server refuses, and TLS that fails, throw a ConnectionError saying which option to change
 * (nats.js gives up on the first refusal at connect, and after two in a row on reconnects).
 */
export async function connectNats(options: NatsTransportOptions): Promise<Transport> {
  const servers = (Array.isArray(options.servers) ? options.servers : options.servers.split(','))
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const address = servers.join(',');
  const auth = resolveNatsAuth(options.auth);
  let connection: NatsConnection;
  try {
    connection = await connect({
      servers,
      name: options.name,
      timeout: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      // Stated, though it is nats.js' default: reconnecting stops after the server refuses the
      // credentials twice in a row (they were revoked), instead of retrying forever.
      ignoreAuthErrorAbort: false,
      // Without this nats.js builds a RequestError and a TimeoutError, stack traces included, for
      // every request in case it fails: measured at ~12 % of the coordinator's CPU on tiny jobs.
      noAsyncTraces: true,
      ...auth.connectOptions,
    });
  } catch (error) {
    throw connectFailure(error, address, auth, servers);
  }
  const transport = new NatsTransport(connection, address, options.logger);
  void transport.watchStatus();
  return transport;
}

/** The ConnectionError a user sees when connecting fails: what happened and which option to change. */
function connectFailure(error: unknown, address: string, auth: ResolvedNatsAuth, servers: string[]): ConnectionError {
  const reason = (error as Error).message;
  const details = { servers, auth: auth.method };
  if (error instanceof AuthorizationError || error instanceof UserAuthenticationExpiredError) {
    const what =
      auth.method === 'none'
        ? `NATS at ${address} requires credentials (${reason}): pass auth { user, password }, { token }, { nkeySeedFile } or { credsFile } ` +
          `(sharc: ${NATS_AUTH_SOURCES.user} with ${NATS_AUTH_SOURCES.password}, ${NATS_AUTH_SOURCES.token}, ${NATS_AUTH_SOURCES.nkeySeedFile} or ${NATS_AUTH_SOURCES.credsFile})`
        : `NATS at ${address} refused the credentials (${reason}) of ${auth.description}: check them against the server's config ` +
          `(sharc: ${authSourcesOf(auth)})`;
    return new ConnectionError(what, { cause: error, retryable: false, details });
  }
  if (/does not support 'tls'/i.test(reason)) {
    return new ConnectionError(
      `NATS at ${address} does not offer TLS (${reason}): configure the server with tls { cert_file, key_file }, or connect without tls options`,
      { cause: error, retryable: false, details },
    );
  }
  const tls = tlsFailure(error);
  if (tls !== undefined || /\btls\b|certificate/i.test(reason)) {
    return new ConnectionError(
      `TLS with NATS at ${address} failed (${tls ?? reason}): pass tls { caFile } with the CA that signed the server's certificate ` +
        `(sharc: ${NATS_AUTH_SOURCES['tls.caFile']}), and tls { certFile, keyFile } if the server verifies clients`,
      { cause: error, retryable: false, details },
    );
  }
  return new ConnectionError(
    `cannot reach NATS at ${address}: ${reason}. ` +
      'Check that nats-server runs there (nats-server -c infra/nats.conf) and that the address is right.',
    { cause: error, retryable: true, details },
  );
}

function authSourcesOf(auth: ResolvedNatsAuth): string {
  switch (auth.method) {
    case 'user':
      return `${NATS_AUTH_SOURCES.user} and ${NATS_AUTH_SOURCES.password}`;
    case 'token':
      return NATS_AUTH_SOURCES.token;
    case 'nkey':
      return NATS_AUTH_SOURCES.nkeySeedFile;
    case 'creds':
      return NATS_AUTH_SOURCES.credsFile;
    case 'none':
      return 'no credentials were given';
  }
}

/** Node's code and message of a failed TLS handshake (SELF_SIGNED_CERT_IN_CHAIN, ERR_TLS_CERT_ALTNAME_INVALID…) in the cause chain. */
function tlsFailure(error: unknown): string | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth++) {
    const code = (current as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && /CERT|TLS|SSL|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code)) return `${code}: ${current.message}`;
  }
  return undefined;
}

/** The NATS connection under a transport made by connectNats (for JetStream); undefined for others. */
export function natsConnectionOf(transport: Transport): NatsConnection | undefined {
  return transport instanceof NatsTransport ? transport.connection : undefined;
}

/** A request waiting for its reply. */
interface Waiter {
  subject: string;
  resolve(data: Uint8Array): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * Where this connection's replies come: one subscription to `<inbox>.*`, each request a token
 * under it. nats.js' own request does the same, but builds two Error objects (one of them thrown
 * away on every success), a deferred promise and a timer of its own per request: about a sixth
 * of a tiny job's CPU on the client.
 */
interface ReplyInbox {
  prefix: string;
  waiting: Map<string, Waiter>;
  next: number;
}

class NatsTransport implements Transport {
  private readonly connectionListeners = new Set<(change: ConnectionChange) => void>();
  private replies: ReplyInbox | undefined;

  constructor(
    readonly connection: NatsConnection,
    readonly address: string,
    private readonly logger: Logger | undefined,
  ) {}

  /** Logs the connection's events; a refused publish or subscription is an error in the log. */
  async watchStatus(): Promise<void> {
    void this.connection.closed().then((error) => {
      if (error) this.logger?.error('nats connection closed', { server: this.address, error: error.message });
      this.failWaiting(() => new ConnectionError(`the connection to NATS at ${this.address} closed before the reply came`, { retryable: true, cause: error ?? undefined }));
    });
    for await (const status of this.connection.status()) {
      if (status.type === 'error' && status.error instanceof PermissionViolationError) {
        this.onPermissionViolation(status.error);
      } else if (status.type === 'error') {
        this.logger?.error('nats error', { server: this.address, error: status.error.message });
      } else if (status.type !== 'ping') {
        this.logger?.info('nats status', { status: status.type, server: this.address });
        if (status.type === 'disconnect') this.tell('disconnected');
        else if (status.type === 'reconnect') this.tell('reconnected');
      }
    }
  }

  onConnectionChange(listener: (change: ConnectionChange) => void): () => void {
    this.connectionListeners.add(listener);
    return () => this.connectionListeners.delete(listener);
  }

  private tell(change: ConnectionChange): void {
    for (const listener of this.connectionListeners) {
      try {
        listener(change);
      } catch (error) {
        this.logger?.error('a connection listener failed', { change, error: (error as Error).message });
      }
    }
  }

  private onPermissionViolation(violation: PermissionViolationError): void {
    this.logger?.error('nats permission violation', {
      server: this.address,
      operation: violation.operation,
      subject: violation.subject,
      error: violation.message,
    });
    // A refused publish fails the requests sent on that subject at once, as a refused inbox all of them.
    const inbox = this.replies;
    if (inbox === undefined) return;
    if (violation.operation === 'publish') {
      for (const [token, waiter] of inbox.waiting) {
        if (waiter.subject !== violation.subject) continue;
        inbox.waiting.delete(token);
        clearTimeout(waiter.timer);
        waiter.reject(permissionDenied(violation, this.address, waiter.subject));
      }
    } else if (violation.subject.startsWith(inbox.prefix)) {
      this.inboxRefused(inbox, violation);
    }
  }

  /** The server refused the reply subscription: every request waiting on it fails, and the next one subscribes again. */
  private inboxRefused(inbox: ReplyInbox, violation: PermissionViolationError): void {
    if (this.replies === inbox) this.replies = undefined;
    for (const waiter of inbox.waiting.values()) {
      clearTimeout(waiter.timer);
      waiter.reject(permissionDenied(violation, this.address, waiter.subject));
    }
    inbox.waiting.clear();
  }

  private failWaiting(error: () => Error): void {
    const inbox = this.replies;
    if (inbox === undefined) return;
    for (const waiter of inbox.waiting.values()) {
      clearTimeout(waiter.timer);
      waiter.reject(error());
    }
    inbox.waiting.clear();
  }

  private openInbox(): ReplyInbox {
    const inbox: ReplyInbox = { prefix: `${createInbox()}.`, waiting: new Map(), next: 0 };
    this.connection.subscribe(`${inbox.prefix}*`, {
      callback: (error, msg) => {
        if (error) {
          if (error instanceof PermissionViolationError) this.inboxRefused(inbox, error);
          return;
        }
        const token = msg.subject.slice(inbox.prefix.length);
        const waiter = inbox.waiting.get(token);
        if (waiter === undefined) return; // the reply of a request that timed out
        inbox.waiting.delete(token);
        clearTimeout(waiter.timer);
        // The server's status 503: nobody subscribes to the request's subject.
        if (msg.data.length === 0 && msg.headers?.code === 503) {
          waiter.reject(new ConnectionError(`no responders on ${waiter.subject} at ${this.address}`, { retryable: true }));
        } else {
          waiter.resolve(msg.data);
        }
      },
    });
    return inbox;
  }

  get maxPayload(): number {
    return this.connection.info?.max_payload ?? 1024 * 1024;
  }

  publish(subject: string, data: Uint8Array): void {
    this.connection.publish(subject, data);
  }

  subscribe(subject: string, handler: RawHandler, options?: RawSubscribeOptions): () => void {
    const sub = this.connection.subscribe(subject, {
      ...(options?.queue === undefined ? {} : { queue: options.queue }),
      callback: (error, msg) => {
        // A refused subscription ends here; watchStatus() has logged the violation.
        if (error) return;
        const replyTo = msg.reply;
        handler(msg.data, replyTo ? (bytes) => this.connection.publish(replyTo, bytes) : undefined, replyTo || undefined);
      },
    });
    return () => sub.unsubscribe();
  }

  request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    if (this.connection.isClosed()) return Promise.reject(new ConnectionError(`request on ${subject} failed: the connection to NATS at ${this.address} is closed`, { retryable: true }));
    const inbox = (this.replies ??= this.openInbox());
    const token = (inbox.next++).toString(36);
    return new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (inbox.waiting.delete(token)) reject(new TimeoutError(`no reply on ${subject} within ${timeoutMs} ms`, { retryable: true }));
      }, timeoutMs);
      inbox.waiting.set(token, { subject, resolve, reject, timer });
      try {
        this.connection.publish(subject, data, { reply: `${inbox.prefix}${token}` });
      } catch (error) {
        inbox.waiting.delete(token);
        clearTimeout(timer);
        reject(new ConnectionError(`request on ${subject} failed: ${(error as Error).message}`, { cause: error, retryable: true }));
      }
    });
  }

  flush(): Promise<void> {
    return this.connection.flush();
  }

  async close(): Promise<void> {
    this.failWaiting(() => new ConnectionError(`the connection to NATS at ${this.address} was closed before the reply came`, { retryable: true }));
    if (!this.connection.isClosed()) await this.connection.drain().catch(() => this.connection.close());
  }
}

function permissionDenied(violation: PermissionViolationError, address: string, requestSubject: string): PermissionDeniedError {
  const details = { subject: violation.subject, operation: violation.operation };
  const message =
    violation.operation === 'publish'
      ? `NATS at ${address} refused to let this process publish on ${violation.subject}: its user lacks that permission`
      : `NATS at ${address} refused this process's subscription to ${violation.subject}, so no reply to ${requestSubject} can arrive: ` +
        'its user needs subscribe permission on _INBOX.>';
  return new PermissionDeniedError(`${message} (see infra/nats-roles.conf for what each role may do)`, { cause: violation, details });
}
