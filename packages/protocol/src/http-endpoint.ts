import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { InvalidArgumentError, toErrorData } from './errors.js';
import type { Logger } from './logger.js';

/**
 * The HTTP side of a service (coordinator, agent): its dashboard, /metrics and /healthz. It
 * listens on loopback unless told otherwise; on any other address it needs a token, sent as
 * `Authorization: Bearer TOKEN` (Prometheus' `authorization` setting), or once as `?token=`
 * (a browser: the page then keeps it in a cookie for its own requests).
 */
export interface HttpEndpointOptions {
  /** The service, for errors and logs: 'coordinator', 'agent agent-1'. */
  what: string;
  /** @default '127.0.0.1' */
  host?: string;
  /** 0: any free port (see HttpEndpoint.port). */
  port: number;
  /** Required unless host is a loopback address. */
  token?: string;
  /** Handlers by exact path ('/metrics'); anything else is a 404 listing these. */
  routes: Readonly<Record<string, HttpRoute>>;
  logger: Logger;
}

/** Answers one GET (or HEAD) request; a thrown error becomes a 500 and a log line. */
export type HttpRoute = (request: http.IncomingMessage, response: http.ServerResponse, url: URL) => void | Promise<void>;

export interface HttpEndpoint {
  /** `http://host:port`, with the port bound. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

const TOKEN_COOKIE = 'sharc_token';

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export async function serveHttp(options: HttpEndpointOptions): Promise<HttpEndpoint> {
  const host = options.host ?? '127.0.0.1';
  const { token, logger, routes } = options;
  if (token !== undefined && token.length === 0) throw new InvalidArgumentError(`the HTTP token of the ${options.what} is empty: give a non-empty one, or none on a loopback address`);
  if (token === undefined && !isLoopbackHost(host)) {
    throw new InvalidArgumentError(
      `the ${options.what}'s HTTP endpoint (dashboard, /metrics) would listen on ${host}, beyond this machine, with no token: ` +
        'give one (--http-token, or SHARC_HTTP_TOKEN), or listen on 127.0.0.1',
    );
  }
  const server = http.createServer((request, response) => {
    // A valid request target can still be no URL path (`//[`): a thrown TypeError here would end the process.
    const url = URL.canParse(request.url ?? '/', 'http://sharc') ? new URL(request.url ?? '/', 'http://sharc') : undefined;
    if (url === undefined) {
      response.writeHead(400, { 'content-type': 'text/plain' }).end('the request target is not a URL path\n');
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end(`${request.method} is not served here: only GET\n`);
      return;
    }
    if (token === undefined && !isLocalName(request.headers.host, host)) {
      // No token guards it, so only this machine may ask: a page of another site that had its
      // name resolve to 127.0.0.1 (DNS rebinding) must not read the cluster from the browser.
      response.writeHead(403, { 'content-type': 'text/plain' }).end(
        `this ${options.what} answers only to its loopback address, not to ${request.headers.host}: open http://${host.includes(':') ? `[${host}]` : host}:${(server.address() as import('node:net').AddressInfo).port}${url.pathname}, or give it an HTTP token (--http-token) to serve other names\n`,
      );
      return;
    }
    if (token !== undefined) {
      const given = tokenOf(request, url);
      if (given === undefined || !sameText(given, token)) {
        response.writeHead(401, { 'www-authenticate': 'Bearer', 'content-type': 'text/plain' }).end(
          given === undefined
            ? `this ${options.what} needs its HTTP token: send "Authorization: Bearer TOKEN", or open ${url.pathname}?token=TOKEN once in a browser\n`
            : 'wrong token\n',
        );
        return;
      }
      if (url.searchParams.get('token') === token) {
        // A browser that opened ?token= once: its page's own requests carry the cookie.
        response.setHeader('set-cookie', `${TOKEN_COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`);
      }
    }
    const route = Object.hasOwn(routes, url.pathname) ? routes[url.pathname] : undefined;
    if (route === undefined) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end(`no page ${url.pathname} on this ${options.what}: try ${Object.keys(routes).join(', ')}\n`);
      return;
    }
    Promise.resolve()
      .then(() => route(request, response, url))
      .catch((error: unknown) => {
        logger.error('HTTP request failed', { path: url.pathname, error: toErrorData(error) });
        if (!response.headersSent) response.writeHead(500, { 'content-type': 'text/plain' });
        response.end('internal error: see the service log\n');
      });
  });
  // Long-lived streams (the dashboard's events) must not keep close() waiting.
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new InvalidArgumentError(`the ${options.what}'s HTTP port ${options.port} on ${host} is in use: pick another (--http-port)`)
          : error,
      ),
    );
    server.listen(options.port, host, () => resolve());
  });
  server.on('error', (error) => logger.error('HTTP server failed', { error: toErrorData(error) }));
  const address = server.address() as import('node:net').AddressInfo;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${address.port}`,
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

/** Whether a request's Host names this machine: a loopback name or address, or the address listened on (no Host: a non-browser client). */
function isLocalName(hostHeader: string | undefined, listening: string): boolean {
  if (hostHeader === undefined) return true;
  const name = /^\[([^\]]*)\]/.exec(hostHeader)?.[1] ?? hostHeader.replace(/:\d*$/, '');
  const lower = name.toLowerCase();
  return lower === listening || isLoopbackHost(lower) || lower.endsWith('.localhost');
}

function tokenOf(request: http.IncomingMessage, url: URL): string | undefined {
  const bearer = /^Bearer\s+(.+)$/i.exec(request.headers.authorization ?? '')?.[1];
  // Node reads header bytes as latin1; a client sends a token beyond ASCII as UTF-8.
  if (bearer !== undefined) return Buffer.from(bearer.trim(), 'latin1').toString('utf8');
  const query = url.searchParams.get('token');
  if (query !== null) return query;
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [name, ...value] = part.trim().split('=');
    // Anyone can send a cookie: one that is no percent-encoded text is a wrong token, not a thrown URIError.
    if (name === TOKEN_COOKIE) return decodedOrAsIs(value.join('='));
  }
  return undefined;
}

function decodedOrAsIs(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
