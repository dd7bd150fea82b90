import {
  AuthorizationError,
  connect,
  PermissionViolationError,
  RequestError,
  TimeoutError as NatsTimeoutError,
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

class NatsTransport implements Transport {
  private readonly connectionListeners = new Set<(change: ConnectionChange) => void>();

  constructor(
    readonly connection: NatsConnection,
    readonly address: string,
    private readonly logger: Logger | undefined,
  ) {}

  /** Logs the connection's events; a refused publish or subscription is an error in the log. */
  async watchStatus(): Promise<void> {
    void this.connection.closed().then((error) => {
      if (error) this.logger?.error('nats connection closed', { server: this.address, error: error.message });
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

  async request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    try {
      const reply = await this.connection.request(subject, data, { timeout: timeoutMs });
      return reply.data;
    } catch (error) {
      // nats.js fails the request at once when the server refuses its publish, or the
      // subscription its reply would come on, instead of letting it time out.
      const violation = error instanceof PermissionViolationError ? error : error instanceof Error && error.cause instanceof PermissionViolationError ? error.cause : undefined;
      if (violation !== undefined) throw permissionDenied(violation, this.address, subject);
      if (error instanceof RequestError && error.isNoResponders()) {
        throw new ConnectionError(`no responders on ${subject} at ${this.address}`, { retryable: true, cause: error });
      }
      if (error instanceof NatsTimeoutError || (error instanceof RequestError && error.cause instanceof NatsTimeoutError)) {
        throw new TimeoutError(`no reply on ${subject} within ${timeoutMs} ms`, { retryable: true, cause: error });
      }
      throw new ConnectionError(`request on ${subject} failed: ${(error as Error).message}`, { cause: error, retryable: true });
    }
  }

  flush(): Promise<void> {
    return this.connection.flush();
  }

  async close(): Promise<void> {
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
