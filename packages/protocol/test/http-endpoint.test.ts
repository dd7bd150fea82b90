/**
 * serveHttp: a service's dashboard and /metrics stay on loopback unless a token guards them;
 * a wrong path, method or token gets an answer saying what would work; a failing page is a 500
 * and a log line, never a crashed service.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { createLogger, InvalidArgumentError, serveHttp } from '../src/index.js';

const logger = createLogger('test', 'silent');

describe('serveHttp', () => {
  it('serves its routes on loopback, and names them on a 404', async () => {
    const web = await serveHttp({ what: 'coordinator', port: 0, logger, routes: { '/healthz': (_q, r) => void r.end('ok') } });
    try {
      assert.match(web.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const ok = await fetch(`${web.url}/healthz`);
      assert.equal(ok.status, 200);
      assert.equal(await ok.text(), 'ok');
      const missing = await fetch(`${web.url}/nope`);
      assert.equal(missing.status, 404);
      assert.match(await missing.text(), /no page \/nope on this coordinator: try \/healthz/);
      const post = await fetch(`${web.url}/healthz`, { method: 'POST', body: 'x' });
      assert.equal(post.status, 405);
    } finally {
      await web.close();
    }
  });

  it('refuses an address beyond this machine without a token, naming the fix', async () => {
    await assert.rejects(
      serveHttp({ what: 'coordinator', host: '0.0.0.0', port: 0, logger, routes: {} }),
      (error: Error) => error instanceof InvalidArgumentError && /0\.0\.0\.0.*no token.*--http-token/.test(error.message),
    );
  });

  it('with a token: refuses requests without it, accepts a bearer, and a browser keeps ?token= in a cookie', async () => {
    const web = await serveHttp({ what: 'coordinator', host: '0.0.0.0', port: 0, token: 's3cret', logger, routes: { '/metrics': (_q, r) => void r.end('m') } });
    const base = `http://127.0.0.1:${web.port}`;
    try {
      const none = await fetch(`${base}/metrics`);
      assert.equal(none.status, 401);
      assert.match(await none.text(), /Authorization: Bearer TOKEN/);
      assert.equal((await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status, 401);
      const bearer = await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer s3cret' } });
      assert.equal(await bearer.text(), 'm');
      const browser = await fetch(`${base}/metrics?token=s3cret`);
      const cookie = browser.headers.get('set-cookie')!.split(';')[0]!;
      assert.equal((await fetch(`${base}/metrics`, { headers: { cookie } })).status, 200);
    } finally {
      await web.close();
    }
  });

  it('answers 500 when a page fails, and keeps serving', async () => {
    const web = await serveHttp({
      what: 'agent',
      port: 0,
      logger,
      routes: {
        '/bad': () => {
          throw new Error('boom');
        },
        '/good': (_q, r) => void r.end('fine'),
      },
    });
    try {
      assert.equal((await fetch(`${web.url}/bad`)).status, 500);
      assert.equal(await (await fetch(`${web.url}/good`)).text(), 'fine');
    } finally {
      await web.close();
    }
  });

  it('names the port and the flag when the port is taken', async () => {
    const first = await serveHttp({ what: 'coordinator', port: 0, logger, routes: {} });
    try {
      await assert.rejects(serveHttp({ what: 'coordinator', port: first.port, logger, routes: {} }), new RegExp(`HTTP port ${first.port} .*in use.*--http-port`));
    } finally {
      await first.close();
    }
  });
  it('answers 400 to a request target that is no URL, and keeps serving', async () => {
    const web = await serveHttp({ what: 'agent', port: 0, logger, routes: { '/healthz': (_q, r) => void r.end('ok') } });
    try {
      // `//[` is a valid HTTP request target but no URL path: parsing it used to throw out of the request handler.
      const answer = await rawRequest(web.port, 'GET //[ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      assert.match(answer, /^HTTP\/1\.1 400 /);
      assert.match(answer, /not a URL path/);
      assert.equal(await (await fetch(`${web.url}/healthz`)).text(), 'ok');
    } finally {
      await web.close();
    }
  });

  it('with a token: a cookie that is not percent-encoded text is a wrong token, not a crash', async () => {
    const web = await serveHttp({ what: 'coordinator', host: '0.0.0.0', port: 0, token: 's3cret', logger, routes: { '/metrics': (_q, r) => void r.end('m') } });
    const base = `http://127.0.0.1:${web.port}`;
    try {
      const bad = await fetch(`${base}/metrics`, { headers: { cookie: 'sharc_token=%E0%A4%A' } });
      assert.equal(bad.status, 401);
      assert.match(await bad.text(), /wrong token/);
      assert.equal((await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer s3cret' } })).status, 200);
    } finally {
      await web.close();
    }
  });
  it('with a token beyond ASCII: a bearer sent as UTF-8 (curl, Prometheus) is accepted', async () => {
    const web = await serveHttp({ what: 'coordinator', host: '0.0.0.0', port: 0, token: 'sécret-ü', logger, routes: { '/metrics': (_q, r) => void r.end('m') } });
    try {
      const right = await rawRequest(web.port, 'GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sécret-ü\r\nConnection: close\r\n\r\n');
      assert.match(right, /^HTTP\/1\.1 200 /);
      const wrong = await rawRequest(web.port, 'GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sécret-u\r\nConnection: close\r\n\r\n');
      assert.match(wrong, /^HTTP\/1\.1 401 /);
      const browser = await fetch(`http://127.0.0.1:${web.port}/metrics?token=${encodeURIComponent('sécret-ü')}`);
      assert.equal(browser.status, 200);
    } finally {
      await web.close();
    }
  });
  it('on loopback without a token: a page of another site reaching it by DNS rebinding (a foreign Host) is refused', async () => {
    const web = await serveHttp({ what: 'coordinator', port: 0, logger, routes: { '/api/state': (_q, r) => void r.end('{"secret":1}') } });
    try {
      const foreign = await rawRequest(web.port, `GET /api/state HTTP/1.1\r\nHost: attacker.example:${web.port}\r\nConnection: close\r\n\r\n`);
      assert.match(foreign, /^HTTP\/1\.1 403 /);
      assert.doesNotMatch(foreign, /secret/);
      assert.match(foreign, /attacker\.example.*http:\/\/127\.0\.0\.1:\d+.*--http-token/s);
      for (const host of [`127.0.0.1:${web.port}`, `localhost:${web.port}`, `[::1]:${web.port}`, 'localhost']) {
        const local = await rawRequest(web.port, `GET /api/state HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
        assert.match(local, /^HTTP\/1\.1 200 /, `Host: ${host}`);
      }
    } finally {
      await web.close();
    }
  });
});

/** Sends bytes as they are (fetch would normalize the request target) and returns the whole answer. */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.end(text));
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(answer));
  });
}
