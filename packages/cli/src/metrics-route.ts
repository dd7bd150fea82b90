import type { HttpRoute } from '@sharc/protocol';

/** What serves a Prometheus scrape: CoordinatorMetrics, AgentMetrics. */
export interface MetricsSource {
  readonly contentType: string;
  text(): Promise<string>;
}

/** `/metrics`: the Prometheus text format; 503 while the service is starting (`source()` undefined). */
export function metricsRoute(source: MetricsSource | (() => MetricsSource | undefined)): HttpRoute {
  return async (_request, response) => {
    const metrics = typeof source === 'function' ? source() : source;
    if (metrics === undefined) {
      response.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '1' }).end('starting: no metrics yet\n');
      return;
    }
    const text = await metrics.text();
    response.writeHead(200, { 'content-type': metrics.contentType }).end(text);
  };
}
