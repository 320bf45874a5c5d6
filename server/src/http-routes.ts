/**
 * Plain HTTP endpoints served next to the WebSocket transport: `GET /metrics` (Prometheus text format;
 * with ADMIN_TOKEN set, only for requests carrying it) and `GET /healthz`. Registered on the uWS app as
 * exact routes, which uWS prefers over the matchmaker's wildcard routes.
 */
import { ADMIN_CHALLENGE, isAdmin } from './http-surface.ts';
import type { Logger } from './observability/logger.ts';
import type { ServerMetrics } from './observability/metrics.ts';
import type { WorldTransport } from './transport.ts';

export function mountHttpRoutes(transport: WorldTransport, metrics: ServerMetrics, log: Logger, adminToken?: string): void {
  const app = transport.app;
  app.get('/metrics', (res, req) => {
    if (adminToken !== undefined && !isAdmin(req.getHeader('authorization'), adminToken)) {
      res.writeStatus('401 Unauthorized');
      for (const [k, v] of Object.entries(ADMIN_CHALLENGE)) res.writeHeader(k, v);
      res.end('{"error":"unauthorized","message":"/metrics needs the admin token (ADMIN_TOKEN)"}');
      return;
    }
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
