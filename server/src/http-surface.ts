/**
 * What the server exposes over HTTP, set deliberately:
 * - matchmaking: clients may only join (`joinOrCreate`, `join`, and `reconnect` with a reconnection
 *   token). `create` and `joinById` are refused with 403: rooms are opened by the server's own rules
 *   (a full world shard makes `joinOrCreate` open the next one), never on a client's request;
 * - CORS: browsers may call the HTTP API only from CORS_ORIGINS (or any origin with `*`);
 * - plain JSON helpers for the routes registered directly on the uWS app (auth, metrics, health).
 *
 * The matchmaking controller and its CORS hooks are process-wide in Colyseus, so the last server
 * started in a process sets them (every server in one process shares one configuration in practice).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { matchMaker, ServerError } from '@colyseus/core';
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';

/** Matchmaking methods a client may call over `POST /matchmake/:method/:room`. */
export const CLIENT_MATCHMAKE_METHODS: readonly string[] = ['joinOrCreate', 'join', 'reconnect'];

type Controller = typeof matchMaker.controller;
let originalInvoke: Controller['invokeMethod'] | undefined;

/** Refuses every matchmaking method but joining, with a 403 that says why. */
export function closeMatchmaking(): void {
  const controller = matchMaker.controller;
  originalInvoke ??= controller.invokeMethod;
  const invoke = originalInvoke;
  controller.exposedMethods = [...CLIENT_MATCHMAKE_METHODS];
  controller.invokeMethod = async function (this: Controller, method, roomName, clientOptions, authOptions) {
    if (!CLIENT_MATCHMAKE_METHODS.includes(method)) {
      throw new ServerError(403, `clients cannot "${method}" rooms: rooms are opened by the server; join with joinOrCreate("${roomName}")`);
    }
    return invoke.call(this, method, roomName, clientOptions, authOptions);
  };
}

export class CorsPolicy {
  readonly anyOrigin: boolean;
  readonly origins: ReadonlySet<string>;

  /** `spec`: `*`, or a comma-separated list of origins such as `https://game.example`. */
  constructor(spec: string) {
    const list = spec.split(',').map((o) => o.trim().replace(/\/+$/, '')).filter((o) => o.length > 0);
    this.anyOrigin = list.includes('*');
    this.origins = new Set(list.filter((o) => o !== '*'));
  }

  /**
   * Response headers for a request from `origin`. An allowed origin is echoed (the Colyseus SDK sends
   * `credentials: include`, which a literal `*` would fail); a refused one gets no Allow-Origin, so the
   * browser blocks the response. The server sets no cookies: tokens travel in Authorization headers.
   */
  headersFor(origin: string | null | undefined): Record<string, string> {
    const headers: Record<string, string> = {
      'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
      'Access-Control-Allow-Headers': 'Content-Type, Authorization, Accept',
      'Access-Control-Max-Age': '600',
      Vary: 'Origin',
    };
    if (origin && (this.anyOrigin || this.origins.has(origin))) {
      headers['Access-Control-Allow-Origin'] = origin;
      headers['Access-Control-Allow-Credentials'] = 'true';
    }
    return headers;
  }

  /** Makes the Colyseus transport (matchmaker routes, preflight requests) answer with this policy. */
  install(): void {
    const controller = matchMaker.controller;
    (controller as { DEFAULT_CORS_HEADERS: Record<string, string> }).DEFAULT_CORS_HEADERS = {};
    controller.getCorsHeaders = (requestHeaders: Headers) => this.headersFor(requestHeaders.get('origin'));
  }
}

/**
 * Whether an Authorization header carries the admin token: `Bearer <token>`, or HTTP basic auth with the
 * token as the password (what a browser prompt sends, for /monitor). Compared in constant time.
 */
export function isAdmin(authorization: string, adminToken: string): boolean {
  let presented: string | undefined;
  const bearer = /^Bearer\s+(\S+)$/i.exec(authorization);
  if (bearer) presented = bearer[1];
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(authorization);
  if (basic) {
    const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
    presented = decoded.slice(decoded.indexOf(':') + 1);
  }
  if (presented === undefined) return false;
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(presented), digest(adminToken));
}

/** Headers of the 401 an admin route answers without the token (a browser then asks for it). */
export const ADMIN_CHALLENGE = { 'WWW-Authenticate': 'Basic realm="worldmind admin", charset="UTF-8"', 'Content-Type': 'application/json' } as const;

/** The client's address: the TCP peer, or with `trustProxy` the last X-Forwarded-For hop (the one our proxy added). */
export function clientAddress(res: HttpResponse, req: HttpRequest, trustProxy: boolean): string {
  if (trustProxy) {
    const hops = req.getHeader('x-forwarded-for').split(',').map((h) => h.trim()).filter(Boolean);
    if (hops.length > 0) return hops[hops.length - 1]!;
  }
  return Buffer.from(res.getRemoteAddressAsText()).toString();
}

export class BodyTooLarge extends Error {}

/** Reads a request body up to `maxBytes` (rejects with BodyTooLarge beyond). Call onAborted first. */
export function readBody(res: HttpResponse, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    res.onData((chunk, isLast) => {
      if (failed) return;
      size += chunk.byteLength;
      if (size > maxBytes) {
        failed = true;
        reject(new BodyTooLarge(`request body is larger than ${maxBytes} bytes`));
        return;
      }
      chunks.push(Buffer.from(chunk.slice(0))); // uWS reuses the chunk's memory after this call
      if (isLast) resolve(Buffer.concat(chunks));
    });
  });
}

const STATUS_TEXT: Record<number, string> = {
  200: 'OK', 201: 'Created', 204: 'No Content', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found',
  405: 'Method Not Allowed', 409: 'Conflict', 413: 'Payload Too Large', 415: 'Unsupported Media Type', 429: 'Too Many Requests', 500: 'Internal Server Error',
};

export function statusLine(status: number): string {
  return `${status} ${STATUS_TEXT[status] ?? ''}`.trimEnd();
}

/** Writes a JSON response (corked). `body` undefined → no body (204). */
export function writeJson(res: HttpResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.cork(() => {
    res.writeStatus(statusLine(status));
    for (const [k, v] of Object.entries(headers)) res.writeHeader(k, v);
    if (body === undefined) {
      res.endWithoutBody();
      return;
    }
    res.writeHeader('Content-Type', 'application/json').writeHeader('Cache-Control', 'no-store').end(JSON.stringify(body));
  });
}
