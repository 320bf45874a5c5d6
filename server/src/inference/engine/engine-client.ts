/**
 * The main-thread side of the inference engine: starts the worker that owns the model, submits requests,
 * streams their tokens back, and survives the worker dying (in-flight requests fail with `worker-died`,
 * a fresh worker takes over). Nothing here blocks: the game loop only ever posts and receives messages.
 *
 *   const engine = await InferenceEngine.start({ modelDir });
 *   const gen = engine.generate({ prompt, sharedPrefix: persona, maxTokens: 64, signal });
 *   for await (const { text } of gen) send(text);
 *   const { finishReason, timings } = await gen.result;
 */
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import type { ConstraintSpec } from './constraint-spec.ts';
import { EngineError } from './errors.ts';
import { Generation } from './generation.ts';
import { RequestMetricsLog, type EngineMetrics, type RequestMetricsSummary } from './metrics.ts';
import type {
  FromWorker,
  ModelInfo,
  Priority,
  SchedulerSettings,
  SessionSettings,
  ToWorker,
  WireRequest,
  WorkerConfig,
} from './protocol.ts';
import { spawnTsWorker } from './spawn-worker.ts';

export interface EngineOptions {
  modelDir: string;
  /** Threads inside one operator; default: every core. */
  intraOpThreads?: number;
  /** Threads across operators; default 1. */
  interOpThreads?: number;
  /** onnxruntime execution providers in preference order; default ['cpu']. */
  executionProviders?: string[];
  /** onnxruntime's native memory: see EngineMemoryOptions. */
  memory?: EngineMemoryOptions;
  scheduler?: Partial<SchedulerSettings>;
  /** A dead worker is replaced at most `maxRestarts` times within `windowMs` (default 5 per minute). */
  restart?: { maxRestarts?: number; windowMs?: number };
}

/**
 * How onnxruntime manages the memory of each `session.run` (intermediate tensors, outputs). Decode steps
 * change shape every step (batch rows, past length), which is what makes the defaults grow: see
 * DEFAULT_ENGINE_MEMORY.
 */
export interface EngineMemoryOptions {
  /**
   * onnxruntime's CPU arena (BFC): intermediate tensors are carved from blocks it keeps, so its size is the
   * high-water mark of the largest step seen (bounded by the batch size, the step token budget and the
   * context), held for the life of the session. Off: every tensor is malloc'd and freed per run.
   */
  cpuMemArena?: boolean;
  /**
   * Memory patterns: onnxruntime plans one block per distinct set of input shapes and caches the plan per
   * shape. Decode shapes change every step (batch rows, past length): one cached plan per shape seen.
   */
  memPattern?: boolean;
}

/**
 * Arena on, patterns off — measured on the default model (README, "Memory"): 96 NPC-sized requests, 16 at
 * a time, on one thread. Patterns only add memory with these shapes (with the arena off they took RSS from
 * ~230 to ~630 MiB and kept it). Without the arena every run's tensors go through malloc: the same
 * throughput with glibc's defaults, but glibc then keeps ~130 MiB of what was freed; and with
 * MALLOC_MMAP_THRESHOLD_ set (which makes glibc give freed memory back) every large tensor becomes an
 * mmap/munmap pair and decoding ran at half the speed (177 vs 416 tok/s). The arena holds a bounded
 * high-water mark instead and kept full speed in both environments.
 */
export const DEFAULT_ENGINE_MEMORY: Required<EngineMemoryOptions> = { cpuMemArena: true, memPattern: false };

export interface GenerateOptions {
  /** The rendered prompt (chat template already applied). Exactly one of prompt / promptTokens. */
  prompt?: string;
  promptTokens?: ArrayLike<number>;
  /** Head of `prompt` shared by many requests (an NPC persona): computed once, served from the prefix cache. */
  sharedPrefix?: string;
  /** With `promptTokens`: how many leading tokens form the shared prefix. */
  sharedPrefixTokens?: number;
  /** Default 128 (clamped so prompt + reply fit the context). */
  maxTokens?: number;
  /** Sampling fields left unset take the model's generation_config defaults. 0 = greedy. */
  temperature?: number;
  topK?: number;
  topP?: number;
  repetitionPenalty?: number;
  seed?: number;
  stop?: string[];
  /** Default 'interactive'. */
  priority?: Priority;
  /** Drop the request (code `deadline-exceeded`) if no first token comes within this many ms. */
  firstTokenDeadlineMs?: number;
  /** Keep this conversation's KV after the turn so the next turn's prompt reuses it. */
  retainKv?: boolean;
  /** Constrain which tokens may be produced (evaluated in the worker; see constraint-spec.ts). */
  constraint?: ConstraintSpec;
  signal?: AbortSignal;
}

export interface EngineSnapshot {
  engine: EngineMetrics;
  requests: RequestMetricsSummary;
  /** Times the worker died and was replaced. */
  restarts: number;
}

export const DEFAULT_SCHEDULER: SchedulerSettings = {
  maxBatchSize: 32,
  maxQueue: 256,
  kvBudgetBytes: 1024 * 1024 * 1024,
  stepTokenBudget: 256,
  minPrefillChunk: 32,
  ambientShare: 0.75,
  prefixCacheBytes: 256 * 1024 * 1024,
  prefillOrder: 'shortest',
  decodeShareWhilePrefilling: 0.1,
  kvStrategy: 'inplace',
  kvKeepWarmMs: 30_000,
};

interface InFlight {
  generation: Generation;
  detachSignal: () => void;
}

export class InferenceEngine {
  private readonly config: WorkerConfig;
  private readonly restartPolicy: { maxRestarts: number; windowMs: number };
  private worker!: Worker;
  private info!: ModelInfo;
  private readonly inFlight = new Map<number, InFlight>();
  private readonly metricQueries = new Map<number, { resolve: (m: EngineMetrics) => void; reject: (e: unknown) => void }>();
  private readonly requestLog = new RequestMetricsLog();
  /** Called with each finished request's timings (for histograms); set by the server's metrics. */
  onRequestTimings: ((timings: { ttftMs: number; interTokenMs: readonly number[] }) => void) | undefined;
  private readonly restartTimes: number[] = [];
  private nextId = 1;
  private nextQueryId = 1;
  private closed = false;
  private fatal: EngineError | null = null;
  private lastWorkerError: Error | null = null;
  private restartCount = 0;
  /** What the worker could not set up as intended (it still runs); the owner logs them. */
  warnings: readonly string[] = [];
  private ready!: Promise<void>;
  private workerExited!: Promise<void>;

  private constructor(options: EngineOptions) {
    const session: SessionSettings = {
      intraOpThreads: options.intraOpThreads ?? availableParallelism(),
      interOpThreads: options.interOpThreads ?? 1,
      executionProviders: options.executionProviders ?? ['cpu'],
      cpuMemArena: options.memory?.cpuMemArena ?? DEFAULT_ENGINE_MEMORY.cpuMemArena,
      memPattern: options.memory?.memPattern ?? DEFAULT_ENGINE_MEMORY.memPattern,
    };
    this.config = { modelDir: options.modelDir, session, scheduler: { ...DEFAULT_SCHEDULER, ...options.scheduler } };
    this.restartPolicy = { maxRestarts: options.restart?.maxRestarts ?? 5, windowMs: options.restart?.windowMs ?? 60_000 };
  }

  /** Start the worker and load the model; rejects with the loader's one-sentence reason if it can't. */
  static async start(options: EngineOptions): Promise<InferenceEngine> {
    const engine = new InferenceEngine(options);
    engine.spawn();
    try {
      await engine.ready;
    } catch (error) {
      await engine.close();
      throw error;
    }
    return engine;
  }

  get model(): ModelInfo {
    return this.info;
  }

  get restarts(): number {
    return this.restartCount;
  }

  get settings(): SchedulerSettings {
    return { ...this.config.scheduler };
  }

  /** Submit a request. Never throws: problems surface as a rejected `result` / iterator. */
  generate(options: GenerateOptions): Generation {
    const id = this.nextId++;
    const generation = new Generation(id, (g) => this.cancel(g));
    if (this.closed || this.fatal) {
      generation.fail(this.fatal ?? new EngineError('closed', 'The inference engine is closed.'));
      return generation;
    }
    if (options.signal?.aborted) {
      generation.fail(new EngineError('aborted', 'The request was aborted by its caller.'));
      return generation;
    }
    let request: WireRequest;
    try {
      request = toWireRequest(options);
    } catch (error) {
      generation.fail(error as EngineError);
      return generation;
    }
    const onAbort = () => generation.cancel();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    this.inFlight.set(id, { generation, detachSignal: () => options.signal?.removeEventListener('abort', onAbort) });
    const transfer = request.promptTokens ? [request.promptTokens.buffer as ArrayBuffer] : [];
    this.post({ type: 'submit', id, request, submittedAt: performance.timeOrigin + performance.now() }, transfer);
    return generation;
  }

  /** Engine counters from the worker plus per-request latencies measured here. */
  async metrics(): Promise<EngineSnapshot> {
    const queryId = this.nextQueryId++;
    const engine = await new Promise<EngineMetrics>((resolve, reject) => {
      this.metricQueries.set(queryId, { resolve, reject });
      this.post({ type: 'metrics', queryId });
    });
    return { engine, requests: this.requestLog.summary(), restarts: this.restartCount };
  }

  /** Stop the worker; requests still running fail with code `closed`. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new EngineError('closed', 'The inference engine was closed.'));
    const worker = this.worker;
    this.post({ type: 'shutdown' });
    const timeout = setTimeout(() => void worker.terminate(), 5_000);
    await this.workerExited; // resolves at once if it already died
    clearTimeout(timeout);
  }

  /** Test hook: make the worker die the way a bug ('throw') or a native abort ('exit') would. */
  crashWorkerForTesting(how: 'throw' | 'exit' = 'throw'): void {
    this.post({ type: 'crash', how });
  }

  // ---- worker lifecycle ------------------------------------------------------------------------------

  private spawn(): void {
    const worker = spawnTsWorker(new URL('./engine-worker.ts', import.meta.url), { workerData: this.config });
    this.worker = worker;
    this.workerExited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    this.lastWorkerError = null;
    this.ready = new Promise<void>((resolve, reject) => {
      worker.on('message', (message: FromWorker) => {
        if (message.type === 'ready') {
          this.info = message.model;
          this.warnings = message.warnings ?? [];
          resolve();
        } else if (message.type === 'startup-failed') {
          const error = new EngineError('internal', message.message);
          this.fatal = error;
          this.failAll(error);
          reject(error);
        } else this.onMessage(message);
      });
      worker.on('error', (error) => {
        this.lastWorkerError = error;
      });
      worker.on('exit', (code) => {
        reject(this.lastWorkerError ?? new EngineError('internal', `The engine worker exited with code ${code} while starting.`));
        this.onExit(worker, code);
      });
    });
    this.ready.catch(() => {});
  }

  private onExit(worker: Worker, code: number): void {
    if (worker !== this.worker || this.closed || this.fatal) return;
    const why = this.lastWorkerError ? `: ${this.lastWorkerError.message}` : ` with code ${code}`;
    this.failAll(new EngineError('worker-died', `The inference worker died${why}; the engine is restarting, retry the request.`));
    const now = Date.now();
    while (this.restartTimes.length > 0 && now - this.restartTimes[0]! > this.restartPolicy.windowMs) this.restartTimes.shift();
    if (this.restartTimes.length >= this.restartPolicy.maxRestarts) {
      this.fatal = new EngineError(
        'internal',
        `The inference worker died ${this.restartTimes.length + 1} times within ${this.restartPolicy.windowMs} ms (last${why}); giving up.`,
      );
      return;
    }
    this.restartTimes.push(now);
    this.restartCount++;
    this.spawn();
  }

  private onMessage(message: FromWorker): void {
    switch (message.type) {
      case 'tokens': {
        const at = performance.now();
        for (let i = 0; i < message.ids.length; i++) {
          this.inFlight.get(message.ids[i]!)?.generation.pushToken(message.tokens[i]!, message.texts[i]!, at);
        }
        break;
      }
      case 'done': {
        const entry = this.inFlight.get(message.id);
        if (!entry) break;
        this.settle(message.id);
        const result = entry.generation.complete(message);
        this.requestLog.addResult(result);
        this.onRequestTimings?.(result.timings);
        break;
      }
      case 'failed': {
        const entry = this.inFlight.get(message.id);
        if (!entry) break;
        this.settle(message.id);
        entry.generation.fail(EngineError.fromInfo(message.error));
        break;
      }
      case 'metrics': {
        const query = this.metricQueries.get(message.queryId);
        this.metricQueries.delete(message.queryId);
        query?.resolve(message.metrics);
        break;
      }
    }
  }

  private cancel(generation: Generation): void {
    if (!this.inFlight.has(generation.id)) return;
    this.settle(generation.id);
    this.post({ type: 'cancel', id: generation.id });
  }

  private settle(id: number): void {
    this.inFlight.get(id)?.detachSignal();
    this.inFlight.delete(id);
  }

  private failAll(error: EngineError): void {
    for (const [id, entry] of [...this.inFlight]) {
      this.settle(id);
      entry.generation.fail(error);
    }
    for (const query of this.metricQueries.values()) query.reject(error);
    this.metricQueries.clear();
  }

  private post(message: ToWorker, transfer: ArrayBuffer[] = []): void {
    this.worker.postMessage(message, transfer);
  }
}

function toWireRequest(o: GenerateOptions): WireRequest {
  const bad = (what: string) => new EngineError('invalid-request', what);
  if ((o.prompt === undefined) === (o.promptTokens === undefined)) throw bad('Give exactly one of prompt or promptTokens.');
  if (o.sharedPrefix !== undefined && o.prompt === undefined) throw bad('sharedPrefix goes with prompt; use sharedPrefixTokens with promptTokens.');
  const request: WireRequest = {
    maxTokens: o.maxTokens ?? 128,
    sampling: {
      ...(o.temperature !== undefined ? { temperature: o.temperature } : {}),
      ...(o.topK !== undefined ? { topK: o.topK } : {}),
      ...(o.topP !== undefined ? { topP: o.topP } : {}),
      ...(o.repetitionPenalty !== undefined ? { repetitionPenalty: o.repetitionPenalty } : {}),
      ...(o.seed !== undefined ? { seed: o.seed } : {}),
    },
    stop: o.stop ?? [],
    priority: o.priority ?? 'interactive',
    retainKv: o.retainKv ?? false,
  };
  if (o.prompt !== undefined) request.prompt = o.prompt;
  // A private copy: its buffer is transferred to the worker, the caller's array stays intact.
  if (o.promptTokens !== undefined) request.promptTokens = Int32Array.from(o.promptTokens);
  if (o.sharedPrefix !== undefined) request.sharedPrefix = o.sharedPrefix;
  if (o.sharedPrefixTokens !== undefined) request.sharedPrefixTokens = o.sharedPrefixTokens;
  if (o.firstTokenDeadlineMs !== undefined) request.firstTokenDeadlineMs = o.firstTokenDeadlineMs;
  if (o.constraint !== undefined) request.constraint = o.constraint;
  if (request.priority !== 'interactive' && request.priority !== 'ambient') throw bad(`Unknown priority ${String(request.priority)}.`);
  return request;
}
