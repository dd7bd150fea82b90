import { readFileSync } from 'node:fs';
import type http from 'node:http';
import type { HttpRoute } from '@sharc/protocol';
import { DashboardStream, type DashboardStreamOptions } from './event-stream.js';
import { dashboardSnapshot, type DashboardSource } from './summarize.js';

/** The page's files, bundled at build time (scripts/build-dashboard.mjs) next to this module. */
const PAGE_DIR = new URL('./page/', import.meta.url);

/** The page and its assets, by path, with their content types. */
const ASSETS: Readonly<Record<string, { file: string; type: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard.js': { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard.css': { file: 'dashboard.css', type: 'text/css; charset=utf-8' },
};

/**
 * Everything the page loads comes from this server: no CDN, nothing inline, so the browser
 * refuses anything else, and an array name that slipped into markup could not run as script.
 */
const CONTENT_SECURITY_POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * The coordinator's web dashboard: `/` (the page) and its assets, `/api/state` (the cluster as
 * JSON) and `/api/events` (the live stream, see DashboardStream). Serve them with `serveHttp`
 * from @sharc/protocol; closing the server ends the streams.
 *
 * ```ts
 * const web = await serveHttp({ what: 'coordinator', port: 7265, routes: { ...dashboardRoutes(coordinator), '/healthz': healthz }, logger });
 * ```
 */
export function dashboardRoutes(source: DashboardSource, options: DashboardStreamOptions = {}): Record<string, HttpRoute> {
  const stream = new DashboardStream(source, options);
  const routes: Record<string, HttpRoute> = {
    '/api/state': (_request, response) => sendJson(response, dashboardSnapshot(source)),
    '/api/events': (request, response) => stream.attach(request, response),
  };
  for (const [path, asset] of Object.entries(ASSETS)) routes[path] = (_request, response) => sendAsset(response, asset);
  return routes;
}

const assetCache = new Map<string, Buffer>();

function sendAsset(response: http.ServerResponse, asset: { file: string; type: string }): void {
  let body = assetCache.get(asset.file);
  if (body === undefined) {
    try {
      body = readFileSync(new URL(asset.file, PAGE_DIR));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      response
        .writeHead(503, { 'content-type': 'text/plain; charset=utf-8' })
        .end(`the dashboard page is not built (${asset.file} is missing): run npm run build\n`);
      return;
    }
    assetCache.set(asset.file, body);
  }
  response
    .writeHead(200, {
      'content-type': asset.type,
      'content-length': body.length,
      'cache-control': 'no-cache',
      'content-security-policy': CONTENT_SECURITY_POLICY,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    })
    .end(body);
}

function sendJson(response: http.ServerResponse, value: unknown): void {
  const body = JSON.stringify(value);
  response
    .writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' })
    .end(body);
}
