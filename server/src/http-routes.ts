/**
 * Plain HTTP endpoints served next to the WebSocket transport: `GET /metrics` (Prometheus text format)
 * and `GET /healthz`. Registered on the uWS app as exact routes, which uWS prefers over the
 * matchmaker's wildcard routes.
 */
import type { Logger } from './observability/logger.ts';
import type { ServerMetrics } from './observability/metrics.ts';
import type { WorldTransport } from './transport.ts';

export function mountHttpRoutes(transport: WorldTransport, metrics: ServerMetrics, log: Logger): void {
  const app = transport.app;
  app.get('/metrics', (res) => {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    metrics.registry.metrics().then(
      (body) => {
        if (aborted) return;
        res.cork(() => {
          res.writeStatus('200 OK').writeHeader('Content-Type', metrics.registry.contentType).end(body);
        });
      },
      (err: unknown) => {
        log.error({ err }, 'metrics collection failed');
        if (aborted) return;
        res.cork(() => {
          res.writeStatus('500 Internal Server Error').end('metrics collection failed\n');
        });
      },
    );
  });
  app.get('/healthz', (res) => {
    res.writeStatus('200 OK').writeHeader('Content-Type', 'application/json').end('{"status":"ok"}');
  });
}
