/** What one benchmark phase measured, its summary in the JSON line's units, and the engine's step split. */
import type { EngineMetrics } from '../../../server/src/inference/engine/metrics.ts';
import { percentile } from '../../../server/src/inference/engine/metrics.ts';

export interface PhaseSamples {
  requests: number;
  generatedTokens: number;
  wallMs: number;
  ttftMs: number[];
  itlMs: number[];
  /** Submitted → admitted into a batch slot (engine phases only). */
  queueMs?: number[];
}

export interface PhaseSummary {
  decode_tok_s: number;
  /** The phase's wall time: first submission (or scheduled arrival) to last token. */
  wall_ms?: number;
  ttft_p50_ms: number;
  ttft_p99_ms: number;
  ttft_mean_ms?: number;
  itl_p50_ms: number;
  itl_p99_ms: number;
  queue_p50_ms?: number;
  queue_p99_ms?: number;
}

export function emptySamples(): PhaseSamples {
  return { requests: 0, generatedTokens: 0, wallMs: 0, ttftMs: [], itlMs: [] };
}

export function summarize(s: PhaseSamples): PhaseSummary {
  const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
  const ttft = sorted(s.ttftMs);
  const itl = sorted(s.itlMs);
  const summary: PhaseSummary = {
    decode_tok_s: round((s.generatedTokens * 1000) / s.wallMs),
    wall_ms: round(s.wallMs, 1),
    ttft_p50_ms: round(percentile(ttft, 0.5)),
    ttft_p99_ms: round(percentile(ttft, 0.99)),
    ttft_mean_ms: round(ttft.reduce((a, b) => a + b, 0) / Math.max(1, ttft.length)),
    itl_p50_ms: round(percentile(itl, 0.5)),
    itl_p99_ms: round(percentile(itl, 0.99)),
  };
  if (s.queueMs) {
    const queue = sorted(s.queueMs);
    summary.queue_p50_ms = round(percentile(queue, 0.5));
    summary.queue_p99_ms = round(percentile(queue, 0.99));
  }
  return summary;
}

/**
 * The engine's own step counters over one phase (after − before: the persona warm-up and earlier phases
 * are not in it). Decode and prefill run as separate session runs, so each has its own rate and shape.
 */
export interface EngineSteps {
  decodeSteps: number;
  decodeMs: number;
  /** Rows decoded (one token each) = Σ batch size × steps. */
  decodedRows: number;
  prefillSteps: number;
  prefillMs: number;
  /** Real prompt tokens prefilled (no padding, no cached prefix). */
  prefillTokens: number;
  kvAssembles: number;
  kvAssembleMs: number;
  /** Decode batch size → steps, in this phase. */
  batchSizes: Record<number, number>;
}

export function engineSteps(before: EngineMetrics, after: EngineMetrics): EngineSteps {
  const batchSizes: Record<number, number> = {};
  let decodedRows = 0;
  for (const [size, steps] of Object.entries(after.batchSizeHistogram)) {
    const n = steps - (before.batchSizeHistogram[Number(size)] ?? 0);
    if (n <= 0) continue;
    batchSizes[Number(size)] = n;
    decodedRows += Number(size) * n;
  }
  const a = after.steps;
  const b = before.steps;
  return {
    decodeSteps: a.decodeSteps - b.decodeSteps,
    decodeMs: a.decodeMs - b.decodeMs,
    decodedRows,
    prefillSteps: a.prefillSteps - b.prefillSteps,
    prefillMs: a.prefillMs - b.prefillMs,
    prefillTokens: a.prefillTokens - b.prefillTokens,
    kvAssembles: a.kvAssembles - b.kvAssembles,
    kvAssembleMs: a.kvAssembleMs - b.kvAssembleMs,
    batchSizes,
  };
}

/** Tokens per second of step time, and the mean shape each kind of step ran at. */
export function stepRates(s: EngineSteps): { decode_tok_s: number; prefill_tok_s: number; mean_decode_batch: number; mean_prefill_tokens: number } {
  return {
    decode_tok_s: s.decodeMs > 0 ? round((s.decodedRows * 1000) / s.decodeMs) : Number.NaN,
    prefill_tok_s: s.prefillMs > 0 ? round((s.prefillTokens * 1000) / s.prefillMs) : Number.NaN,
    mean_decode_batch: s.decodeSteps > 0 ? round(s.decodedRows / s.decodeSteps) : Number.NaN,
    mean_prefill_tokens: s.prefillSteps > 0 ? round(s.prefillTokens / s.prefillSteps) : Number.NaN,
  };
}

/**
 * The least time a phase's engine work can take on this machine: its prefilled prompt tokens at the prefill
 * roofline plus its decoded rows at the decode roofline (each the MatMuls alone at its own shape).
 */
export function computeBoundMs(s: EngineSteps, decodeRooflineTokS: number, prefillRooflineTokS: number): number {
  return (s.prefillTokens / prefillRooflineTokS + s.decodedRows / decodeRooflineTokS) * 1000;
}

export function round(x: number, digits = 2): number {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
