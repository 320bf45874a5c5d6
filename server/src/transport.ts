/**
 * The WebSocket transport: Colyseus on uWebSockets.js. The uWebSockets.js package we install (an
 * npm republish, see package.json) silently falls back to a slow pure-JS `ws` shim when its native
 * binary cannot load; this module detects that so the server can refuse to start on it.
 */
import { createRequire } from 'node:module';
import { matchMaker, type Router } from '@colyseus/core';
import { uWebSocketsTransport } from '@colyseus/uwebsockets-transport';
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { ADMIN_CHALLENGE, isAdmin } from './http-surface.ts';

const LIBUS_LISTEN_EXCLUSIVE_PORT = 1;

interface UwsModule {
  App?: unknown;
  us_socket_local_port(socket: unknown): number;
}

// Resolve uWebSockets.js exactly as the transport does, so we inspect the copy it really uses.
const requireFromTransport = createRequire(createRequire(import.meta.url).resolve('@colyseus/uwebsockets-transport'));
const uws = requireFromTransport('uWebSockets.js') as UwsModule;

export interface NativeBindingStatus {
  native: boolean;
  detail: string;
}

export function checkUwsBinding(): NativeBindingStatus {
  const app = uws.App;
  const native = typeof app === 'function' && Function.prototype.toString.call(app).includes('[native code]');
  const detail = native
    ? `native uWebSockets.js binding for ${process.platform}-${process.arch}, ABI ${process.versions.modules}`
    : `uWebSockets.js fell back to its JavaScript shim: no native binary for ${process.platform}-${process.arch} ABI ${process.versions.modules} (Node ${process.versions.node})`;
  return { native, detail };
}

/**
 * The stock transport binds every interface and ignores the host, and reports success even when the
 * port is taken. This subclass binds the configured host and surfaces a failed bind.
 */
export class WorldTransport extends uWebSocketsTransport {
  #boundPort = 0;
  /** When set (before the server listens), /monitor requires it. */
  adminToken: string | undefined;

  get boundPort(): number {
    return this.#boundPort;
  }

  /**
   * Sends a binary frame to every socket subscribed to `topic`, in native code: uWS copies it to each
   * subscriber and writes the sockets when the event loop next drains (world rooms' group fan-out).
   */
  publish(topic: string, frame: Uint8Array): boolean {
    return this.app.publish(topic, frame, true, false);
  }

  override bindRouter(router: Router): void {
    const app = this.app;
    const any = app.any;
    app.any = ((pattern: string, handler: (res: HttpResponse, req: HttpRequest) => void | Promise<void>) =>
      any.call(app, pattern, pattern === '/*' ? answerUnknownRoutes(router, handler, this.adminToken) : handler)) as typeof app.any;
    try {
      super.bindRouter(router);
    } finally {
      app.any = any;
    }
  }

  override listen(port: number, hostname?: string, _backlog?: number, listeningListener?: () => void): this {
    const onListen = (socket: unknown) => {
      (this as unknown as { _listeningSocket: unknown })._listeningSocket = socket;
      this.#boundPort = socket ? uws.us_socket_local_port(socket) : 0;
      listeningListener?.();
    };
    // uWS binds with SO_REUSEPORT by default, so a second server on a taken port would silently share
    // it; LIBUS_LISTEN_EXCLUSIVE_PORT makes the bind fail instead. (The host+options overload exists in
    // the native binding though its typings omit it.)
    const listen = this.app.listen as unknown as (...args: unknown[]) => void;
    listen.call(this.app, hostname || '0.0.0.0', port, LIBUS_LISTEN_EXCLUSIVE_PORT, onListen);
    return this;
  }
}

/**
 * The stock transport's catch-all HTTP route handles only the matchmaker's routes and otherwise
 * never answers, so a request for an unknown path hangs until the client gives up. Wrapped here:
 * anything the router does not know gets a 404 at once.
 */
function answerUnknownRoutes(router: Router, handler: (res: HttpResponse, req: HttpRequest) => void | Promise<void>, adminToken: string | undefined) {
  return (res: HttpResponse, req: HttpRequest) => {
    const method = req.getMethod().toUpperCase();
    const url = req.getUrl();
    // The room inspector can kick players and dispose rooms: with ADMIN_TOKEN set, only for its holder.
    if (adminToken !== undefined && method !== 'OPTIONS' && (url === '/monitor' || url.startsWith('/monitor/')) && !isAdmin(req.getHeader('authorization'), adminToken)) {
      res.cork(() => {
        res.writeStatus('401 Unauthorized');
        for (const [key, value] of Object.entries(ADMIN_CHALLENGE)) res.writeHeader(key, value);
        res.end('{"error":"unauthorized","message":"/monitor needs the admin token (ADMIN_TOKEN)"}');
      });
      return;
    }
    // The room inspector lives under /monitor/ (its page loads assets relative to it): /monitor redirects there.
    if (url === '/monitor' && (method === 'GET' || method === 'HEAD') && router.findRoute('GET', '/monitor/') !== undefined) {
      const query = req.getQuery();
      res.cork(() => {
        res.writeStatus('308 Permanent Redirect').writeHeader('Location', '/monitor/' + (query ? `?${query}` : '')).endWithoutBody();
      });
      return;
    }
    if (router.findRoute(method, url) !== undefined) return handler(res, req);
    const origin = req.getHeader('origin');
    const headers = new Headers(origin ? { origin } : {});
    const cors = { ...matchMaker.controller.DEFAULT_CORS_HEADERS, ...matchMaker.controller.getCorsHeaders(headers) };
    res.cork(() => {
      res.writeStatus('404 Not Found');
      for (const [key, value] of Object.entries(cors)) res.writeHeader(key, String(value));
      res.writeHeader('Content-Type', 'application/json').end(JSON.stringify({ error: 'not_found', message: `no route ${method} ${url}` }));
    });
  };
}

export function createTransport(maxPayloadBytes: number): WorldTransport {
  return new WorldTransport({
    // Oversized frames are closed by uWS before they reach a room.
    maxPayloadLength: maxPayloadBytes,
    idleTimeout: 60,
  });
}
