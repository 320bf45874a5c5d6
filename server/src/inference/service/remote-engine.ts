/**
 * The engine API over the network: a game process with INFERENCE_URL set gives its NPC dialogue a
 * RemoteEngine instead of an in-process InferenceEngine. Same interface (GenerationEngine), same
 * Generation handles, same EngineError codes — the NPC code cannot tell them apart.
 *
 * - One WebSocket link per listed service, each reconnecting on its own with bounded, jittered backoff.
 *   A link is usable once the service said hello with this protocol version and the very same model files
 *   (hash): token ids, the action grammar and the prefix cache only mean something on the same model.
 * - Each request goes to the usable service with the least load (its last reported queue + running, plus
 *   what this process sent it since), ties broken toward the service that last got the same shared prefix
 *   (its prefix cache already holds the persona).
 * - Nothing waits unboundedly. A link that closes fails its requests at once (`worker-died`, retryable: the
 *   NPC says its scripted line); a link whose pongs stop is terminated; a service that reports its engine
 *   unhealthy fails its requests; and a request with a first-token deadline fails on this side too if the
 *   service stays silent past it (plus a grace), whatever the service does.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { WebSocket } from 'ws';
import type { GenerationEngine } from '../engine/engine-api.ts';
import type { EngineSnapshot, GenerateOptions } from '../engine/engine-client.ts';
import { EngineError } from '../engine/errors.ts';
import { Generation } from '../engine/generation.ts';
import { RequestMetricsLog, type EngineMetrics } from '../engine/metrics.ts';
import type { ModelInfo } from '../engine/protocol.ts';
import type { Logger } from '../../observability/logger.ts';
import { decodeFrame, encodeFrame, ENGINE_WS_PATH, MAX_FRAME_BYTES, PROTOCOL_VERSION, ServiceFrameSchema, toRemoteRequest, type ClientFrame, type RemoteRequest, type ServiceFrame } from './wire.ts';

export interface RemoteEngineOptions {
  /** Service addresses (ws://host:port, wss://, or http(s):// which is taken to mean the same host). */
  urls: string[];
  /** Sent as `Authorization: Bearer …` when the services require INFERENCE_API_KEY. */
  apiKey?: string | undefined;
  /** Hash of the model files this process renders prompts and compiles grammars with (hashModelFiles). */
  modelHash: string;
  log: Logger;
  /** How long `start` waits for the first usable service (default 20 s). */
  connectTimeoutMs?: number;
  /** Ping interval; a link without a pong for 3 intervals is dropped (default 2 s). */
  heartbeatMs?: number;
  /** Reconnect backoff bounds (default 100 ms doubling to 2 s, jittered). */
  backoff?: { minMs?: number; maxMs?: number };
  /** Extra wait past a request's firstTokenDeadlineMs before this side gives up on it (default 1 s). */
  deadlineGraceMs?: number;
  /** Bound on a metrics query to a service (default 2 s). */
  metricsTimeoutMs?: number;
}

export type LinkState = 'connecting' | 'ready' | 'down' | 'refused';

interface RemoteRequestState {
  generation: Generation;
  link: ServiceLink;
  /** What was sent, kept to place it on another service if this one has no room. */
  request: RemoteRequest;
  sharedPrefix: string | undefined;
  /** Services that answered "no room" for it. */
  refusedBy: Set<ServiceLink>;
  gotToken: boolean;
  watchdog: NodeJS.Timeout | undefined;
  detachSignal: () => void;
}

interface Hello {
  model: ModelInfo;
  modelId: string;
  modelHash: string;
}

/** Admission answers that mean "this service has no room now" (worth trying another service at once). */
const ROOM_CODES: ReadonlySet<string> = new Set(['queue-full', 'shed', 'kv-exhausted']);

/** Normalizes one INFERENCE_URL entry to the engine WebSocket URL; throws with the reason. */
export function engineSocketUrl(entry: string): string {
  let url: URL;
  try {
    url = new URL(entry.trim());
  } catch {
    throw new Error(`"${entry}" is not a URL (expected e.g. ws://inference-1:2568)`);
  }
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new Error(`"${entry}" must be a ws://, wss://, http:// or https:// URL`);
  if (url.pathname === '/' || url.pathname === '') url.pathname = ENGINE_WS_PATH;
  return url.toString();
}

/** One service: its socket, reconnection, load as last reported, and the requests it carries. */
class ServiceLink {
  state: LinkState = 'connecting';
  hello: Hello | undefined;
  /** Why the link is down or refused (for logs and the start-up error). */
  lastProblem = '';
  /** The first thing that went wrong with the current connection attempt (later errors are its echoes). */
  private attemptProblem = '';
  load = { queueDepth: 0, running: 0, healthy: true, sentSinceStatus: 0 };
  lastPrefix: string | undefined;
  readonly requests = new Map<number, RemoteRequestState>();
  private ws: WebSocket | undefined;
  private attempts = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private lastPong = 0;
  private readonly metricQueries = new Map<number, { resolve: (s: EngineSnapshot) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private nextQuery = 1;
  private closed = false;

  constructor(
    readonly url: string,
    private readonly engine: RemoteEngine,
    private readonly settings: Required<Pick<RemoteEngineOptions, 'heartbeatMs' | 'metricsTimeoutMs'>> & { minMs: number; maxMs: number; apiKey: string | undefined; modelHash: string },
    private readonly log: Logger,
  ) {
    this.connect();
  }

  get usable(): boolean {
    return this.state === 'ready' && this.load.healthy;
  }

  get score(): number {
    return this.load.queueDepth + this.load.running + this.load.sentSinceStatus;
  }

  send(frame: ClientFrame): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(encodeFrame(frame));
    return true;
  }

  querySnapshot(): Promise<EngineSnapshot> {
    return new Promise((resolve, reject) => {
      const q = this.nextQuery++;
      const timer = setTimeout(() => {
        this.metricQueries.delete(q);
        reject(new Error(`${this.url} did not answer a metrics query within ${this.settings.metricsTimeoutMs} ms`));
      }, this.settings.metricsTimeoutMs);
      this.metricQueries.set(q, { resolve, reject, timer });
      if (!this.send({ t: 'metrics', q })) {
        clearTimeout(timer);
        this.metricQueries.delete(q);
        reject(new Error(`${this.url} is not connected`));
      }
    });
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.heartbeat);
    this.failRequests(new EngineError('closed', 'The inference engine was closed.'));
    this.ws?.terminate();
  }

  private connect(): void {
    if (this.closed) return;
    this.state = this.state === 'refused' ? 'refused' : 'connecting';
    this.attemptProblem = '';
    const ws = new WebSocket(this.url, {
      maxPayload: MAX_FRAME_BYTES,
      handshakeTimeout: 5_000,
      perMessageDeflate: false,
      ...(this.settings.apiKey ? { headers: { Authorization: `Bearer ${this.settings.apiKey}` } } : {}),
    });
    this.ws = ws;
    ws.binaryType = 'nodebuffer';
    ws.on('open', () => {
      this.lastPong = Date.now();
      this.heartbeat = setInterval(() => {
        if (Date.now() - this.lastPong > 3 * this.settings.heartbeatMs) {
          this.attemptProblem ||= `no pong for ${3 * this.settings.heartbeatMs} ms`;
          ws.terminate(); // 'close' follows and fails this link's requests
          return;
        }
        // ping() throws on a socket that is already closing (its 'close' event then ends this interval).
        if (ws.readyState === WebSocket.OPEN) ws.ping();
      }, this.settings.heartbeatMs);
      this.heartbeat.unref();
    });
    ws.on('pong', () => (this.lastPong = Date.now()));
    ws.on('message', (data: Buffer) => {
      let frame: ServiceFrame;
      try {
        frame = decodeFrame(data, ServiceFrameSchema);
      } catch (err) {
        // A service that speaks garbage cannot be trusted with requests: drop the link (it reconnects).
        this.attemptProblem ||= (err as Error).message;
        this.log.error({ url: this.url, err: (err as Error).message }, 'inference service sent a bad frame; dropping the connection');
        ws.terminate();
        return;
      }
      this.onFrame(ws, frame);
    });
    ws.on('unexpected-response', (_req, res) => {
      this.attemptProblem = `the service answered the upgrade with HTTP ${res.statusCode}${res.statusCode === 401 ? ' (INFERENCE_API_KEY does not match)' : ''}`;
      // A wrong key stays wrong until someone changes a configuration: retried slowly, like another model.
      if (res.statusCode === 401 || res.statusCode === 403) this.state = 'refused';
      ws.terminate();
    });
    ws.on('error', (err) => {
      this.attemptProblem ||= err.message;
    });
    ws.on('close', (code, reason) => {
      clearInterval(this.heartbeat);
      if (this.ws !== ws || this.closed) return;
      const wasReady = this.state === 'ready';
      if (this.state !== 'refused') this.state = 'down';
      this.lastProblem = this.attemptProblem || `connection closed (${code}${reason.length ? ` ${reason.toString()}` : ''})`;
      this.failRequests(new EngineError('worker-died', `The inference service ${this.url} went away (${this.lastProblem}); retry the request.`));
      for (const query of this.metricQueries.values()) {
        clearTimeout(query.timer);
        query.reject(new Error(`${this.url} disconnected`));
      }
      this.metricQueries.clear();
      if (wasReady) this.log.warn({ url: this.url, why: this.lastProblem }, 'inference service disconnected; reconnecting');
      this.engine.linkChanged();
      this.scheduleReconnect();
    });
  }

  private scheduleReconnect(): void {
    if (this.closed) return;
    // Refused links (other model, other protocol) are retried slowly: an operator may be redeploying.
    const ceiling = this.state === 'refused' ? this.settings.maxMs * 5 : this.settings.maxMs;
    const delay = Math.min(ceiling, this.settings.minMs * 2 ** this.attempts) * (0.5 + Math.random() / 2);
    this.attempts++;
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
    this.reconnectTimer.unref();
  }

  private onFrame(ws: WebSocket, frame: ServiceFrame): void {
    switch (frame.t) {
      case 'hello': {
        const problem =
          frame.v !== PROTOCOL_VERSION
            ? `it speaks protocol version ${frame.v}, this process ${PROTOCOL_VERSION}`
            : frame.modelHash !== this.settings.modelHash
              ? `it serves other model files (${frame.modelId}, hash ${frame.modelHash.slice(0, 12)}…; this process has ${this.settings.modelHash.slice(0, 12)}…: MODEL_DIR must hold the same model on both)`
              : '';
        if (problem) {
          if (this.state !== 'refused') this.log.error({ url: this.url }, `inference service refused: ${problem}`);
          this.state = 'refused';
          this.attemptProblem = problem;
          this.lastProblem = problem;
          ws.close(1008, 'incompatible');
          return;
        }
        this.hello = { model: frame.model as ModelInfo, modelId: frame.modelId, modelHash: frame.modelHash };
        this.state = 'ready';
        this.attempts = 0;
        this.lastProblem = '';
        this.load = { queueDepth: 0, running: 0, healthy: true, sentSinceStatus: 0 };
        this.log.info({ url: this.url, modelId: frame.modelId }, 'inference service connected');
        this.engine.linkChanged();
        break;
      }
      case 'status': {
        const wasHealthy = this.load.healthy;
        this.load = { queueDepth: frame.queueDepth, running: frame.running, healthy: frame.healthy, sentSinceStatus: 0 };
        if (wasHealthy && !frame.healthy) {
          // Its engine stopped answering: what it carries will not finish; fail now rather than hang.
          this.log.warn({ url: this.url }, 'inference service reports its engine unhealthy; failing its requests');
          this.failRequests(new EngineError('worker-died', `The inference service ${this.url} reports its engine unhealthy; retry the request.`));
        }
        if (wasHealthy !== frame.healthy) this.engine.linkChanged();
        break;
      }
      case 'tokens': {
        const at = performance.now();
        for (let i = 0; i < frame.ids.length; i++) {
          const request = this.requests.get(frame.ids[i]!);
          if (!request) continue;
          request.gotToken = true;
          request.generation.pushToken(frame.tokens[i]!, frame.texts[i]!, at);
        }
        break;
      }
      case 'done': {
        const request = this.requests.get(frame.id);
        if (!request) break;
        this.engine.settle(frame.id, request);
        const result = request.generation.complete(frame);
        this.engine.recordResult(result);
        break;
      }
      case 'failed': {
        const request = this.requests.get(frame.id);
        if (!request) break;
        // "No room here, retry later" from one service: another may have room now.
        if (ROOM_CODES.has(frame.error.code) && !request.gotToken && this.engine.placeElsewhere(frame.id, request)) break;
        this.engine.settle(frame.id, request);
        request.generation.fail(EngineError.fromInfo(frame.error));
        break;
      }
      case 'metrics': {
        const query = this.metricQueries.get(frame.q);
        if (!query) break;
        this.metricQueries.delete(frame.q);
        clearTimeout(query.timer);
        if (frame.snapshot) query.resolve(frame.snapshot as unknown as EngineSnapshot);
        else query.reject(new Error(`${this.url}: ${frame.error ?? 'no snapshot'}`));
        break;
      }
    }
  }

  private failRequests(error: EngineError): void {
    for (const [id, request] of [...this.requests]) {
      this.engine.settle(id, request);
      request.generation.fail(error);
    }
  }
}

export class RemoteEngine implements GenerationEngine {
  onRequestTimings: ((timings: { ttftMs: number; interTokenMs: readonly number[] }) => void) | undefined;
  private readonly links: ServiceLink[];
  private readonly requestLog = new RequestMetricsLog();
  private readonly deadlineGraceMs: number;
  private readonly log: Logger;
  private nextId = 1;
  private closed = false;
  private info: ModelInfo | undefined;
  /** Requests placed on another service after one had no room for them. */
  retries = 0;
  private retryCounter: Counter | undefined;
  private readonly waiters = new Set<() => void>();

  private constructor(options: RemoteEngineOptions) {
    if (options.urls.length === 0) throw new Error('RemoteEngine needs at least one inference service URL');
    this.log = options.log;
    this.deadlineGraceMs = options.deadlineGraceMs ?? 1_000;
    const settings = {
      heartbeatMs: options.heartbeatMs ?? 2_000,
      metricsTimeoutMs: options.metricsTimeoutMs ?? 2_000,
      minMs: options.backoff?.minMs ?? 100,
      maxMs: options.backoff?.maxMs ?? 2_000,
      apiKey: options.apiKey,
      modelHash: options.modelHash,
    };
    this.links = options.urls.map((u) => new ServiceLink(engineSocketUrl(u), this, settings, options.log));
  }

  /**
   * Connects to every listed service and resolves once one of them is usable. Rejects (and closes) when
   * none is within `connectTimeoutMs`, naming what went wrong with each.
   */
  static async start(options: RemoteEngineOptions): Promise<RemoteEngine> {
    const engine = new RemoteEngine(options);
    const timeoutMs = options.connectTimeoutMs ?? 20_000;
    const ok = await new Promise<boolean>((resolve) => {
      const check = () => {
        if (engine.links.some((l) => l.state === 'ready')) done(true);
        // Every service refused this process (other model, wrong key): waiting longer will not help.
        else if (engine.links.every((l) => l.state === 'refused')) done(false);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      const done = (value: boolean) => {
        clearTimeout(timer);
        engine.waiters.delete(check);
        resolve(value);
      };
      engine.waiters.add(check);
      check();
    });
    if (!ok) {
      const why = engine.links.map((l) => `${l.url}: ${l.lastProblem || l.state}`).join('; ');
      await engine.close();
      throw new Error(`no inference service in INFERENCE_URL became usable within ${timeoutMs} ms (${why})`);
    }
    return engine;
  }

  get model(): ModelInfo {
    // Set by the first hello (start waits for one); every usable service has the same model files.
    return this.info!;
  }

  /** Requests sent and not yet finished, over every service. */
  get inFlight(): number {
    return this.links.reduce((n, l) => n + l.requests.size, 0);
  }

  /** Each service's address, state and last reported load. */
  services(): Array<{ url: string; state: LinkState; healthy: boolean; queueDepth: number; running: number; inFlight: number; problem: string }> {
    return this.links.map((l) => ({ url: l.url, state: l.state, healthy: l.load.healthy, queueDepth: l.load.queueDepth, running: l.load.running, inFlight: l.requests.size, problem: l.lastProblem }));
  }

  generate(options: GenerateOptions): Generation {
    const id = this.nextId++;
    let state: RemoteRequestState | undefined;
    const generation = new Generation(id, () => {
      if (!state) return;
      this.settle(id, state);
      state.link.send({ t: 'cancel', id });
    });
    if (this.closed) {
      generation.fail(new EngineError('closed', 'The inference engine is closed.'));
      return generation;
    }
    if (options.signal?.aborted) {
      generation.fail(new EngineError('aborted', 'The request was aborted by its caller.'));
      return generation;
    }
    let request: RemoteRequest;
    try {
      request = toRemoteRequest(options);
    } catch (error) {
      generation.fail(error instanceof EngineError ? error : new EngineError('invalid-request', String(error)));
      return generation;
    }
    const link = this.pick(options.sharedPrefix);
    if (!link) {
      const why = this.links.map((l) => `${l.url}: ${l.state}${l.lastProblem ? ` (${l.lastProblem})` : ''}`).join('; ');
      generation.fail(new EngineError('worker-died', `No inference service is usable right now (${why}); retry the request.`));
      return generation;
    }
    const onAbort = () => generation.cancel();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    state = {
      generation,
      link,
      request,
      sharedPrefix: options.sharedPrefix,
      refusedBy: new Set(),
      gotToken: false,
      watchdog: undefined,
      detachSignal: () => options.signal?.removeEventListener('abort', onAbort),
    };
    if (options.firstTokenDeadlineMs !== undefined) {
      // The service enforces the deadline itself; this catches a service that stopped talking altogether.
      const s = state;
      s.watchdog = setTimeout(() => {
        if (s.gotToken || generation.isSettled) return;
        this.settle(id, s);
        s.link.send({ t: 'cancel', id });
        generation.fail(new EngineError('deadline-exceeded', `The inference service ${s.link.url} produced no first token within ${options.firstTokenDeadlineMs} ms (+${this.deadlineGraceMs} ms grace).`));
      }, options.firstTokenDeadlineMs + this.deadlineGraceMs);
      s.watchdog.unref();
    }
    link.requests.set(id, state);
    link.load.sentSinceStatus++;
    if (options.sharedPrefix !== undefined) link.lastPrefix = options.sharedPrefix;
    if (!link.send({ t: 'submit', id, request })) {
      this.settle(id, state);
      generation.fail(new EngineError('worker-died', `The inference service ${link.url} is not connected; retry the request.`));
    }
    return generation;
  }

  /** Engine numbers summed over the services that answer (per-request latencies are measured here). */
  async metrics(): Promise<EngineSnapshot> {
    const ready = this.links.filter((l) => l.state === 'ready');
    const answers = await Promise.allSettled(ready.map((l) => l.querySnapshot()));
    const snapshots = answers.flatMap((a) => (a.status === 'fulfilled' ? [a.value] : []));
    if (snapshots.length === 0) throw new EngineError('worker-died', 'No inference service answered a metrics query.');
    return { engine: mergeEngineMetrics(snapshots.map((s) => s.engine)), requests: this.requestLog.summary(), restarts: snapshots.reduce((n, s) => n + s.restarts, 0) };
  }

  /** Gauges for this process's view of the services: how many are in each state, and requests in flight. */
  registerMetrics(registers: Registry[]): void {
    const links = this.links;
    new Gauge({
      name: 'worldmind_inference_services',
      help: 'Inference services in INFERENCE_URL by link state (ready = connected, same model, healthy engine)',
      labelNames: ['state'] as const,
      registers,
      collect() {
        const counts: Record<string, number> = { ready: 0, unhealthy: 0, connecting: 0, down: 0, refused: 0 };
        for (const l of links) counts[l.state === 'ready' && !l.load.healthy ? 'unhealthy' : l.state]! += 1;
        for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
      },
    });
    const self = this;
    this.retryCounter = new Counter({
      name: 'worldmind_inference_remote_retries_total',
      help: 'Requests placed on another inference service after one answered that it had no room (queue full, KV exhausted, shed)',
      registers,
    });
    new Gauge({
      name: 'worldmind_inference_remote_in_flight',
      help: 'Generation requests this process has sent to inference services and not yet seen finish',
      registers,
      collect() {
        this.set(self.inFlight);
      },
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const link of this.links) link.close();
    this.waiters.clear();
  }

  // ---- called by the links ---------------------------------------------------------------------------

  /** @internal */
  linkChanged(): void {
    for (const link of this.links) {
      if (link.state === 'ready' && !this.info) this.info = link.hello!.model;
    }
    for (const waiter of [...this.waiters]) waiter();
  }

  /**
   * @internal Moves a request a service had no room for to another usable service that has not refused it;
   * false when there is none (the caller then gets the refusal, retryable).
   */
  placeElsewhere(id: number, state: RemoteRequestState): boolean {
    state.refusedBy.add(state.link);
    const next = this.pick(state.sharedPrefix, state.refusedBy);
    if (!next) return false;
    state.link.requests.delete(id);
    state.link = next;
    next.requests.set(id, state);
    next.load.sentSinceStatus++;
    this.retries++;
    this.retryCounter?.inc();
    if (next.send({ t: 'submit', id, request: state.request })) return true;
    next.requests.delete(id);
    return false;
  }

  /** @internal */
  settle(id: number, request: RemoteRequestState): void {
    clearTimeout(request.watchdog);
    request.detachSignal();
    request.link.requests.delete(id);
  }

  /** @internal */
  recordResult(result: Awaited<Generation['result']>): void {
    this.requestLog.addResult(result);
    this.onRequestTimings?.(result.timings);
  }

  private pick(sharedPrefix: string | undefined, exclude?: ReadonlySet<ServiceLink>): ServiceLink | undefined {
    let best: ServiceLink | undefined;
    for (const link of this.links) {
      if (!link.usable || exclude?.has(link)) continue;
      if (!best || link.score < best.score || (link.score === best.score && sharedPrefix !== undefined && link.lastPrefix === sharedPrefix && best.lastPrefix !== sharedPrefix)) best = link;
    }
    return best;
  }
}

/**
 * Several services' engine numbers as one: counts and bytes add up, rates are recomputed from their
 * parts, maxima stay maxima.
 */
export function mergeEngineMetrics(all: EngineMetrics[]): EngineMetrics {
  if (all.length === 1) return all[0]!;
  const sum = (a: unknown, b: unknown): unknown => {
    if (typeof a === 'number' && typeof b === 'number') return a + b;
    if (a && b && typeof a === 'object' && typeof b === 'object') {
      const out: Record<string, unknown> = { ...(a as Record<string, unknown>) };
      for (const [k, v] of Object.entries(b as Record<string, unknown>)) out[k] = k in out ? sum(out[k], v) : v;
      return out;
    }
    return a;
  };
  const merged = all.slice(1).reduce((acc, m) => sum(acc, m) as EngineMetrics, all[0]!);
  const pc = merged.prefixCache;
  merged.prefixCache = {
    ...pc,
    hitRate: pc.lookups > 0 ? pc.hits / pc.lookups : 0,
    tokenHitRate: pc.promptTokensLookedUp > 0 ? pc.promptTokensReused / pc.promptTokensLookedUp : 0,
  };
  merged.uptimeMs = Math.max(...all.map((m) => m.uptimeMs));
  merged.windowMs = Math.max(...all.map((m) => m.windowMs));
  merged.steps = { ...merged.steps, longestRunMs: Math.max(...all.map((m) => m.steps.longestRunMs)) };
  return merged;
}
