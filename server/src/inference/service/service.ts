/**
 * The inference service: one InferenceEngine (its worker thread, batching scheduler, prefix and KV caches)
 * served to many game processes and tools on one port (uWebSockets.js):
 *
 * - `ws://host:port/engine` — the engine protocol (wire.ts): msgpack frames carrying requests with
 *   priority, deadline, constraint and shared prefix; streamed tokens; cancel; admission answers.
 *   A closed connection cancels what it submitted (the KV is freed at once).
 * - `GET /health` — 200 while the engine answers, 503 once it has stopped answering (a supervisor restarts
 *   the process on that); `GET /metrics` — Prometheus text (the worldmind_engine_* series the game server
 *   exposes for its own engine, plus connections and requests by API);
 * - `/v1/models`, `/v1/chat/completions` — the OpenAI-compatible API (openai.ts).
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { HttpResponse, TemplatedApp, WebSocket as UwsWebSocket, us_listen_socket } from 'uWebSockets.js';
import { InferenceEngine, type EngineOptions, type EngineSnapshot } from '../engine/engine-client.ts';
import { EngineError } from '../engine/errors.ts';
import type { Generation } from '../engine/generation.ts';
import { hashModelFiles, loadModelText, type ModelText } from '../model/index.ts';
import { ADMIN_CHALLENGE, isAdmin } from '../../http-surface.ts';
import type { Logger } from '../../observability/logger.ts';
import { registerEngineMetrics } from '../../observability/npc-metrics.ts';
import { checkUwsBinding } from '../../transport.ts';
import { mountOpenAi } from './openai.ts';
import type { ServiceConfig } from './service-config.ts';
import { schedulerSettingsFrom } from '../../config.ts';
import { ClientFrameSchema, encodeFrame, ENGINE_WS_PATH, MAX_FRAME_BYTES, PROTOCOL_VERSION, fromRemoteRequest, type ClientFrame, type ServiceFrame } from './wire.ts';
import { Packr } from 'msgpackr';
import { z } from 'zod';

// The same copy of uWebSockets.js the game server's transport loads (and checkUwsBinding inspects).
const requireFromTransport = createRequire(createRequire(import.meta.url).resolve('@colyseus/uwebsockets-transport'));
const uws = requireFromTransport('uWebSockets.js') as typeof import('uWebSockets.js');

const LIBUS_LISTEN_EXCLUSIVE_PORT = 1;
/** How often each connection hears the service's load (the client balances on it). */
const STATUS_INTERVAL_MS = 250;
/** A health probe (one metrics round trip to the worker) slower than this counts as failed. */
const PROBE_TIMEOUT_MS = 2_000;
/** Consecutive failed probes before the service calls its engine unhealthy. */
const PROBES_TO_UNHEALTHY = 3;

export class ServiceStartError extends Error {
  override name = 'ServiceStartError';
}

export interface InferenceService {
  port: number;
  host: string;
  /** `ws://host:port/engine`, what INFERENCE_URL lists. */
  url: string;
  engine: InferenceEngine;
  modelId: string;
  modelHash: string;
  /** Whether the engine answers (what /health says). */
  healthy(): boolean;
  connections(): number;
  /** Closes the port and every connection (their requests fail with `closed`), then stops the engine. */
  close(): Promise<void>;
}

export interface ServiceStartOptions {
  /** Engine settings beyond the configuration (tests: tiny KV budgets, step budgets). */
  engine?: Partial<EngineOptions>;
  /** How often load is reported and health probed (default 250 ms; tests hold reports back with a long one). */
  statusIntervalMs?: number;
}

interface ConnectionData {
  connection: Connection;
}

/** One game process (or other client) on the engine protocol. */
class Connection {
  closed = false;
  /** The peer's address, for the log (read while the socket is open). */
  address = '';
  readonly requests = new Map<number, Generation>();
  private pending: { ids: number[]; tokens: number[]; texts: string[] } = { ids: [], tokens: [], texts: [] };
  private flushScheduled = false;
  ws!: UwsWebSocket<ConnectionData>;

  send(frame: ServiceFrame): void {
    if (this.closed) return;
    // 2 = dropped past maxBackpressure; closeOnBackpressureLimit then closes the socket, which cancels
    // this client's requests (a client that cannot keep up must not grow the service's memory).
    this.ws.send(encodeFrame(frame), true);
  }

  /** Tokens of one engine step arrive together; they leave as one frame. */
  queueToken(id: number, token: number, text: string): void {
    this.pending.ids.push(id);
    this.pending.tokens.push(token);
    this.pending.texts.push(text);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.flushScheduled = false;
    if (this.pending.ids.length === 0) return;
    const { ids, tokens, texts } = this.pending;
    this.pending = { ids: [], tokens: [], texts: [] };
    this.send({ t: 'tokens', ids, tokens, texts });
  }
}

/** Validates an OpenAI-or-engine client's frame without trusting it; the raw value helps answer a bad submit. */
const rawUnpacker = new Packr({ useRecords: false, mapsAsObjects: true });

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

export function modelIdOf(text: ModelText, modelDir: string): string {
  return `${text.spec.modelType}:${modelDir.replace(/\/+$/, '').split('/').pop()}`;
}

export async function startInferenceService(config: ServiceConfig, log: Logger, options: ServiceStartOptions = {}): Promise<InferenceService> {
  const binding = checkUwsBinding();
  if (!binding.native) {
    if (!config.ALLOW_UWS_FALLBACK) throw new ServiceStartError(`${binding.detail}. Refusing to start on the slow fallback; set ALLOW_UWS_FALLBACK=true to allow it.`);
    log.warn(binding.detail + '; running on the slow fallback because ALLOW_UWS_FALLBACK=true');
  }
  if (config.INFERENCE_API_KEY === undefined) log.warn('INFERENCE_API_KEY is not set: anyone who can reach this port can run the model');

  const text = loadModelText(config.MODEL_DIR);
  const modelHash = await hashModelFiles(text.spec);
  const modelId = modelIdOf(text, config.MODEL_DIR);
  const engine = await InferenceEngine.start({
    modelDir: config.MODEL_DIR,
    // The service has no game loop to leave a core for.
    intraOpThreads: config.INFERENCE_THREADS ?? availableParallelism(),
    executionProviders: config.INFERENCE_PROVIDERS.split(',').map((p) => p.trim()),
    memory: { cpuMemArena: config.INFERENCE_CPU_ARENA, memPattern: config.INFERENCE_MEM_PATTERN },
    ...options.engine,
    scheduler: { ...schedulerSettingsFrom(config), ...options.engine?.scheduler },
  });

  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'worldmind_' });
  registerEngineMetrics([registry], engine);
  const connections = new Set<Connection>();
  new Gauge({
    name: 'worldmind_inference_connections',
    help: 'Clients connected to the engine protocol (game processes)',
    registers: [registry],
    collect() {
      this.set(connections.size);
    },
  });
  const requests = new Counter({
    name: 'worldmind_inference_requests_total',
    help: 'Generation requests by API (engine = WebSocket protocol, openai = HTTP) and how they ended (finish reason or error code)',
    labelNames: ['api', 'outcome'] as const,
    registers: [registry],
  });

  // Health: one metrics round trip to the worker at a time; a worker that stops answering (hung in a
  // native call, or given up after repeated crashes) turns the service unhealthy.
  let healthy = true;
  let failedProbes = 0;
  let lastSnapshot: EngineSnapshot | undefined;
  let probing = false;
  const status = setInterval(() => {
    if (!probing) {
      probing = true;
      withTimeout(engine.metrics(), PROBE_TIMEOUT_MS, 'the engine worker')
        .then((snapshot) => {
          lastSnapshot = snapshot;
          failedProbes = 0;
          if (!healthy) log.info('engine answers again; healthy');
          healthy = true;
        })
        .catch((err: unknown) => {
          failedProbes++;
          if (healthy && failedProbes >= PROBES_TO_UNHEALTHY) {
            healthy = false;
            log.error({ err: (err as Error).message }, 'engine stopped answering; unhealthy');
          }
        })
        .finally(() => (probing = false));
    }
    const e = lastSnapshot?.engine;
    const frame: ServiceFrame = { t: 'status', queueDepth: e?.queueDepth ?? 0, running: e ? e.prefilling + e.decoding : 0, healthy };
    for (const c of connections) c.send(frame);
  }, options.statusIntervalMs ?? STATUS_INTERVAL_MS);

  const hello: ServiceFrame = { t: 'hello', v: PROTOCOL_VERSION, model: engine.model, modelId, modelHash, maxBatch: config.INFERENCE_MAX_BATCH, maxQueue: config.INFERENCE_MAX_QUEUE };

  const app: TemplatedApp = uws.App();
  app.ws<ConnectionData>(ENGINE_WS_PATH, {
    maxPayloadLength: MAX_FRAME_BYTES,
    maxBackpressure: 64 * 1024 * 1024,
    closeOnBackpressureLimit: 1,
    idleTimeout: 32,
    sendPingsAutomatically: true,
    upgrade: (res, req, context) => {
      if (config.INFERENCE_API_KEY !== undefined && !isAdmin(req.getHeader('authorization'), config.INFERENCE_API_KEY)) {
        res.cork(() => res.writeStatus('401 Unauthorized').writeHeader('Content-Type', 'application/json').end('{"error":"unauthorized","message":"the engine protocol needs the INFERENCE_API_KEY bearer token"}'));
        return;
      }
      res.upgrade<ConnectionData>({ connection: new Connection() }, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
    },
    open: (ws) => {
      const connection = ws.getUserData().connection;
      connection.ws = ws;
      connection.address = Buffer.from(ws.getRemoteAddressAsText()).toString();
      connections.add(connection);
      connection.send(hello);
      log.info({ client: connection.address, connections: connections.size }, 'engine client connected');
    },
    message: (ws, message) => {
      const connection = ws.getUserData().connection;
      // Decoded before returning: uWS reuses the message's memory afterwards.
      let raw: unknown;
      try {
        raw = rawUnpacker.unpack(new Uint8Array(message));
      } catch (err) {
        ws.end(4400, `undecodable msgpack frame`);
        log.warn({ err: (err as Error).message }, 'engine client sent an undecodable frame; closed');
        return;
      }
      const parsed = ClientFrameSchema.safeParse(raw);
      if (!parsed.success) {
        const r = raw as { t?: unknown; id?: unknown } | null;
        // A bad request is answered as that request's failure; a frame we cannot place closes the link.
        if (r && r.t === 'submit' && Number.isSafeInteger(r.id)) {
          connection.send({ t: 'failed', id: r.id as number, error: new EngineError('invalid-request', `Invalid generation request: ${z.prettifyError(parsed.error)}`).toInfo() });
          requests.inc({ api: 'engine', outcome: 'invalid-request' });
        } else {
          log.warn({ problem: z.prettifyError(parsed.error) }, 'engine client sent an invalid frame; closed');
          ws.end(4400, 'invalid frame');
        }
        return;
      }
      onFrame(connection, parsed.data);
    },
    close: (ws, code) => {
      const connection = ws.getUserData().connection;
      connection.closed = true;
      connections.delete(connection);
      log.info({ client: connection.address, code, cancelled: connection.requests.size, connections: connections.size }, 'engine client disconnected');
      // Nobody will read these tokens: free their batch slots and KV now.
      for (const generation of connection.requests.values()) generation.cancel();
      connection.requests.clear();
    },
  });

  function onFrame(connection: Connection, frame: ClientFrame): void {
    switch (frame.t) {
      case 'submit': {
        if (connection.requests.has(frame.id)) {
          connection.send({ t: 'failed', id: frame.id, error: new EngineError('invalid-request', `Request id ${frame.id} is already running on this connection.`).toInfo() });
          return;
        }
        let generation: Generation;
        try {
          generation = engine.generate(fromRemoteRequest(frame.request));
        } catch (err) {
          const error = err instanceof EngineError ? err : new EngineError('invalid-request', String(err));
          connection.send({ t: 'failed', id: frame.id, error: error.toInfo() });
          requests.inc({ api: 'engine', outcome: error.code });
          return;
        }
        connection.requests.set(frame.id, generation);
        void pump(connection, frame.id, generation);
        return;
      }
      case 'cancel':
        connection.requests.get(frame.id)?.cancel();
        return;
      case 'metrics':
        withTimeout(engine.metrics(), PROBE_TIMEOUT_MS, 'the engine worker').then(
          (snapshot) => connection.send({ t: 'metrics', q: frame.q, snapshot: snapshot as unknown as Record<string, unknown> }),
          (err: unknown) => connection.send({ t: 'metrics', q: frame.q, error: (err as Error).message }),
        );
        return;
    }
  }

  async function pump(connection: Connection, id: number, generation: Generation): Promise<void> {
    let finalText = '';
    try {
      for await (const chunk of generation) {
        // Text released only at the end (held-back bytes, stop-string lookahead) has no token of its own.
        if (chunk.token === null) finalText += chunk.text;
        else connection.queueToken(id, chunk.token, chunk.text);
      }
      const result = await generation.result;
      connection.flush();
      connection.send({ t: 'done', id, finalText, finishReason: result.finishReason, promptTokens: result.promptTokens, cachedPromptTokens: result.cachedPromptTokens, queueMs: result.timings.queueMs });
      requests.inc({ api: 'engine', outcome: result.finishReason });
    } catch (err) {
      connection.flush();
      const error = err instanceof EngineError ? err : new EngineError('internal', err instanceof Error ? err.message : String(err));
      connection.send({ t: 'failed', id, error: error.toInfo() });
      requests.inc({ api: 'engine', outcome: error.code });
    } finally {
      connection.requests.delete(id);
    }
  }

  const healthBody = () => ({
    status: healthy ? 'ok' : 'unhealthy',
    model: modelId,
    modelHash,
    connections: connections.size,
    queueDepth: lastSnapshot?.engine.queueDepth ?? 0,
    running: lastSnapshot ? lastSnapshot.engine.prefilling + lastSnapshot.engine.decoding : 0,
    restarts: engine.restarts,
  });
  for (const path of ['/health', '/healthz']) {
    app.get(path, (res) => {
      res.cork(() => {
        res.writeStatus(healthy ? '200 OK' : '503 Service Unavailable').writeHeader('Content-Type', 'application/json').writeHeader('Cache-Control', 'no-store').end(JSON.stringify(healthBody()));
      });
    });
  }
  app.get('/metrics', (res, req) => {
    if (config.ADMIN_TOKEN !== undefined && !isAdmin(req.getHeader('authorization'), config.ADMIN_TOKEN)) {
      res.writeStatus('401 Unauthorized');
      for (const [k, v] of Object.entries(ADMIN_CHALLENGE)) res.writeHeader(k, v);
      res.end('{"error":"unauthorized","message":"/metrics needs the admin token (ADMIN_TOKEN)"}');
      return;
    }
    let aborted = false;
    res.onAborted(() => (aborted = true));
    registry.metrics().then(
      (body) => {
        if (!aborted) res.cork(() => res.writeStatus('200 OK').writeHeader('Content-Type', registry.contentType).end(body));
      },
      (err: unknown) => {
        log.error({ err }, 'metrics collection failed');
        if (!aborted) res.cork(() => res.writeStatus('500 Internal Server Error').end('metrics collection failed\n'));
      },
    );
  });
  mountOpenAi(app, { engine, text, modelId, apiKey: config.INFERENCE_API_KEY, log: log.child({ module: 'openai' }), onOutcome: (outcome) => requests.inc({ api: 'openai', outcome }) });
  app.any('/*', (res: HttpResponse, req) => {
    res.cork(() => {
      res.writeStatus('404 Not Found').writeHeader('Content-Type', 'application/json').end(JSON.stringify({ error: 'not_found', message: `no route ${req.getMethod().toUpperCase()} ${req.getUrl()}` }));
    });
  });

  const listenSocket = await new Promise<us_listen_socket | false>((resolve) => {
    // Exclusive: uWS would otherwise share a taken port silently (SO_REUSEPORT), as transport.ts explains.
    const listen = app.listen as unknown as (...args: unknown[]) => void;
    listen.call(app, config.HOST, config.INFERENCE_PORT, LIBUS_LISTEN_EXCLUSIVE_PORT, resolve);
  });
  if (!listenSocket) {
    clearInterval(status);
    await engine.close();
    throw new ServiceStartError(`could not listen on ${config.HOST}:${config.INFERENCE_PORT} (port in use or address not available)`);
  }
  const port = uws.us_socket_local_port(listenSocket as never);
  const host = config.HOST;
  const shownHost = host === '0.0.0.0' ? '127.0.0.1' : host;
  log.info({ port, host, modelId, modelHash: modelHash.slice(0, 12), contextLength: engine.model.contextLength, transport: binding.detail }, 'inference service listening');

  let closing: Promise<void> | undefined;
  return {
    port,
    host,
    url: `ws://${shownHost}:${port}${ENGINE_WS_PATH}`,
    engine,
    modelId,
    modelHash,
    healthy: () => healthy,
    connections: () => connections.size,
    close() {
      closing ??= (async () => {
        clearInterval(status);
        uws.us_listen_socket_close(listenSocket);
        for (const c of [...connections]) {
          c.closed = true;
          // 1001 "going away": clients fail what is in flight at once and reconnect (to a restarted service).
          c.ws.end(1001, 'inference service shutting down');
        }
        await engine.close();
        log.info('inference service stopped');
      })();
      return closing;
    },
  };
}
