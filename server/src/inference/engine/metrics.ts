/**
 * Engine and per-request metrics as plain objects (the observability layer exports them later).
 *
 * The worker owns the engine-side numbers (batch sizes, step times, KV bytes, queue depth, prefix cache);
 * the client owns per-request latencies, measured where tokens are actually received.
 */
import type { EngineErrorCode } from './errors.ts';
import type { PrefixCacheStats } from './prefix-cache.ts';
import type { FinishReason } from './protocol.ts';

export interface EngineMetrics {
  uptimeMs: number;
  /** Requests waiting for admission. */
  queueDepth: number;
  /** Requests admitted and prefilling (including those waiting for a shared prefix). */
  prefilling: number;
  /** Requests in the decode batch. */
  decoding: number;
  /** Decode-step batch size → number of steps run at that size. */
  batchSizeHistogram: Record<number, number>;
  /** Generated tokens per second over the last `windowMs` (wall clock, all requests together). */
  decodeTokensPerSecond: number;
  windowMs: number;
  generatedTokens: number;
  steps: StepStats;
  kv: KvStats;
  prefixCache: PrefixCacheStats;
  requests: { completed: number; failed: Partial<Record<EngineErrorCode, number>> };
}

export interface StepStats {
  decodeSteps: number;
  prefillSteps: number;
  decodeMs: number;
  prefillMs: number;
  /** Prompt tokens computed by prefill runs (excluding padding): what the prefix cache saves shows here. */
  prefillTokens: number;
  /** Time spent assembling KV tensors for decode steps (membership changes, or every step with `rebuild`). */
  kvAssembleMs: number;
  kvAssembles: number;
  samplingMs: number;
  /** Longest single run (decode or prefill) so far. */
  longestRunMs: number;
}

export interface KvStats {
  /** Bytes of KV held right now: decode batch tensors, prefilled sequences, prefix cache. */
  bytesInUse: number;
  decodeBatchBytes: number;
  /** Batch buffers kept allocated while idle, so the next batch does not fault in fresh memory (not in use). */
  warmBufferBytes: number;
  sequenceBytes: number;
  prefixCacheBytes: number;
  /** Worst-case bytes booked by admitted requests (prompt + max tokens each). */
  bytesReserved: number;
  budgetBytes: number;
}

/** Generated-token counts per step, kept for a sliding window to derive tokens/s. */
export class ThroughputWindow {
  private readonly samples: Array<{ at: number; tokens: number }> = [];
  constructor(readonly windowMs: number) {}

  record(at: number, tokens: number): void {
    this.samples.push({ at, tokens });
    this.trim(at);
  }

  perSecond(now: number): number {
    this.trim(now);
    if (this.samples.length === 0) return 0;
    let tokens = 0;
    for (const s of this.samples) tokens += s.tokens;
    const span = Math.max(now - this.samples[0]!.at, 1);
    // A single burst right now shouldn't read as infinite speed: measure over at least one second.
    return (tokens * 1000) / Math.max(span, Math.min(this.windowMs, 1000));
  }

  private trim(now: number): void {
    while (this.samples.length > 0 && now - this.samples[0]!.at > this.windowMs) this.samples.shift();
  }
}

// ---- per request (client side) -------------------------------------------------------------------------

export interface RequestRecord {
  queueMs: number;
  ttftMs: number;
  /** Mean inter-token latency of the request (ms); NaN with fewer than two tokens. */
  itlMeanMs: number;
  tokens: number;
  promptTokens: number;
  cachedPromptTokens: number;
  finishReason: FinishReason;
}

export interface RequestMetricsSummary {
  /** How many of the most recent requests the percentiles cover. */
  count: number;
  queueMs: Percentiles;
  ttftMs: Percentiles;
  /** Over every inter-token gap of those requests. */
  itlMs: Percentiles;
  tokens: number;
  recent: RequestRecord[];
}

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

export function percentiles(values: readonly number[]): Percentiles {
  const s = [...values].sort((a, b) => a - b);
  return { p50: percentile(s, 0.5), p90: percentile(s, 0.9), p99: percentile(s, 0.99), max: s.length ? s[s.length - 1]! : NaN };
}

/** Ring of the last `capacity` finished requests (bounded memory under sustained load). */
/** What `addResult` reads from a generation's result (structural: the in-process and remote results alike). */
export interface FinishedRequest {
  timings: { queueMs: number; ttftMs: number; interTokenMs: readonly number[] };
  tokens: { length: number };
  promptTokens: number;
  cachedPromptTokens: number;
  finishReason: FinishReason;
}

export class RequestMetricsLog {
  private readonly records: RequestRecord[] = [];
  private readonly gaps: number[][] = [];

  constructor(private readonly capacity = 1000) {}

  add(record: RequestRecord, interTokenMs: readonly number[]): void {
    this.records.push(record);
    this.gaps.push([...interTokenMs]);
    if (this.records.length > this.capacity) {
      this.records.shift();
      this.gaps.shift();
    }
  }

  /** Records a finished generation (its result), the one shape both engine transports report. */
  addResult(result: FinishedRequest): void {
    const gaps = result.timings.interTokenMs;
    this.add(
      {
        queueMs: result.timings.queueMs,
        ttftMs: result.timings.ttftMs,
        itlMeanMs: gaps.length ? gaps.reduce((a, b) => a + b, 0) / gaps.length : NaN,
        tokens: result.tokens.length,
        promptTokens: result.promptTokens,
        cachedPromptTokens: result.cachedPromptTokens,
        finishReason: result.finishReason,
      },
      gaps,
    );
  }

  summary(recentCount = 20): RequestMetricsSummary {
    return {
      count: this.records.length,
      queueMs: percentiles(this.records.map((r) => r.queueMs)),
      ttftMs: percentiles(this.records.map((r) => r.ttftMs)),
      itlMs: percentiles(this.gaps.flat()),
      tokens: this.records.reduce((n, r) => n + r.tokens, 0),
      recent: this.records.slice(-recentCount),
    };
  }
}
