/**
 * Serves the browser client on the game port: the page at `/`, its hashed assets under `/assets/`,
 * the world map as JSON at `/world/map.json` (what the page draws), and the designer view at
 * `/studio` when STUDIO_ENABLED. The client is built by Vite into `web/dist` at install time
 * (`npm install` runs the web workspace's `prepare`); the files are read once at start-up and only
 * those files are served (no path from a request ever reaches the file system). Gzip is applied
 * once per file, at load. Any other path keeps the transport's 404.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { ADMIN_CHALLENGE, isAdmin } from './http-surface.ts';
import type { Logger } from './observability/logger.ts';
import { landmarksForClients, type WorldMap } from './world/world-map.ts';

export const DEFAULT_WEB_DIR = fileURLToPath(new URL('../../web/dist/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

interface StaticFile {
  body: Buffer;
  gzip: Buffer | undefined;
  type: string;
  etag: string;
  /** Hashed asset names never change: cache for a year. Pages are revalidated. */
  immutable: boolean;
}

const SECURITY_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
};

function loadFile(path: string, immutable: boolean): StaticFile {
  const body = readFileSync(path);
  const type = TYPES[extname(path)] ?? 'application/octet-stream';
  const compressible = /text|json|svg/.test(type) && body.length > 512;
  return {
    body,
    gzip: compressible ? gzipSync(body, { level: 9 }) : undefined,
    type,
    etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
    immutable,
  };
}

/** Every file under `dir`, keyed by its URL path (`/assets/index-abc.js`). */
function loadTree(dir: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const full = join(d, name);
      if (statSync(full).isDirectory()) walk(full);
      else {
        const url = '/' + relative(dir, full).split(sep).join('/');
        files.set(url, loadFile(full, url.startsWith('/assets/')));
      }
    }
  };
  walk(dir);
  return files;
}

export function sendFile(res: HttpResponse, req: HttpRequest, file: StaticFile, headers: Record<string, string> = {}): void {
  const notModified = req.getHeader('if-none-match') === file.etag;
  const gzip = file.gzip && /\bgzip\b/.test(req.getHeader('accept-encoding'));
  res.cork(() => {
    res.writeStatus(notModified ? '304 Not Modified' : '200 OK');
    res.writeHeader('Content-Type', file.type);
    res.writeHeader('ETag', file.etag);
    res.writeHeader('Cache-Control', file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
    res.writeHeader('Vary', 'Accept-Encoding');
    for (const [k, v] of Object.entries({ ...SECURITY_HEADERS, ...headers })) res.writeHeader(k, v);
    if (notModified) {
      res.endWithoutBody();
      return;
    }
    if (gzip) res.writeHeader('Content-Encoding', 'gzip');
    res.end(gzip ? file.gzip! : file.body);
  });
}

function notBuilt(res: HttpResponse, dir: string): void {
  res.cork(() => {
    res.writeStatus('503 Service Unavailable');
    res.writeHeader('Content-Type', 'text/html; charset=utf-8');
    res.writeHeader('Cache-Control', 'no-store');
    res.end(
      '<!doctype html><meta charset="utf-8"><title>Worldmind</title><body style="font:16px system-ui;margin:2em">' +
        '<h1>The browser client is not built</h1>' +
        `<p>No <code>${escapeHtml(dir)}index.html</code>. It is built by <code>npm install</code>; ` +
        'after an install that skipped scripts, run <code>npm run build -w web</code> and restart the server.</p>' +
        '<p>The world itself is up: clients can join over WebSocket on this port.</p></body>',
    );
  });
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The map as the page draws it: everything the room knows about the ground, nothing about players. */
export function mapView(map: WorldMap) {
  return {
    id: map.id,
    name: map.name,
    description: map.description,
    bounds: map.bounds,
    obstacles: map.obstacles,
    landmarks: landmarksForClients(map),
    spawnPoints: map.spawnPoints,
  };
}

export interface WebClientOptions {
  /** The Vite build output (default web/dist). */
  dir?: string;
  map: WorldMap;
  studioEnabled: boolean;
  /** With ADMIN_TOKEN set, /studio requires it like /monitor. */
  adminToken: string | undefined;
  log: Logger;
}

export interface WebClient {
  /** Whether the built page was found. */
  built: boolean;
  files: number;
  /** For the studio API: whether a request may use it (admin token when one is set). */
  authorized(req: HttpRequest): boolean;
}

export function mountWebClient(app: TemplatedApp, options: WebClientOptions): WebClient {
  const dir = options.dir ?? DEFAULT_WEB_DIR;
  const built = existsSync(join(dir, 'index.html'));
  const files = built ? loadTree(dir) : new Map<string, StaticFile>();
  if (!built) options.log.warn({ dir }, 'browser client not built (web/dist missing): / explains how to build it; run `npm run build -w web`');

  const mapFile: StaticFile = (() => {
    const body = Buffer.from(JSON.stringify(mapView(options.map)));
    return { body, gzip: gzipSync(body), type: 'application/json', etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`, immutable: false };
  })();

  const page = (name: string) => (res: HttpResponse, req: HttpRequest) => {
    const file = files.get(`/${name}`);
    if (!file) return notBuilt(res, dir);
    sendFile(res, req, file);
  };
  const authorized = (req: HttpRequest) => options.adminToken === undefined || isAdmin(req.getHeader('authorization'), options.adminToken);

  app.get('/', page('index.html'));
  app.get('/index.html', page('index.html'));
  // Public data: a page served from elsewhere (`?server=`, the Vite dev server) may read it too.
  app.get('/world/map.json', (res, req) => sendFile(res, req, mapFile, { 'Access-Control-Allow-Origin': '*' }));
  app.get('/assets/*', (res, req) => {
    const file = files.get(req.getUrl());
    // Only files of the build (studio assets hold no data, so they are served even with the studio off).
    if (!file) {
      res.cork(() => {
        res.writeStatus('404 Not Found').writeHeader('Content-Type', 'application/json').end(JSON.stringify({ error: 'not_found', message: `no asset ${req.getUrl()}` }));
      });
      return;
    }
    sendFile(res, req, file);
  });
  if (options.studioEnabled) {
    const studio = page('studio.html');
    const guarded = (res: HttpResponse, req: HttpRequest) => {
      if (!authorized(req)) {
        res.cork(() => {
          res.writeStatus('401 Unauthorized');
          for (const [k, v] of Object.entries(ADMIN_CHALLENGE)) res.writeHeader(k, v);
          res.end('{"error":"unauthorized","message":"/studio needs the admin token (ADMIN_TOKEN)"}');
        });
        return;
      }
      studio(res, req);
    };
    app.get('/studio', guarded);
    app.get('/studio/', guarded);
  }
  return { built, files: files.size, authorized };
}
