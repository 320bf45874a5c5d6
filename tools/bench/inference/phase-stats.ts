/** What one benchmark phase measured, and its summary in the JSON line's units. */
import { percentile } from '../../../server/src/inference/engine/metrics.ts';

export interface PhaseSamples {
  requests: number;
  generatedTokens: number;
  wallMs: number;
  ttftMs: number[];
  itlMs: number[];
}

export interface PhaseSummary {
  decode_tok_s: number;
  ttft_p50_ms: number;
  ttft_p99_ms: number;
  itl_p50_ms: number;
  itl_p99_ms: number;
}

export function summarize(s: PhaseSamples): PhaseSummary {
  const ttft = [...s.ttftMs].sort((a, b) => a - b);
  const itl = [...s.itlMs].sort((a, b) => a - b);
  return {
    decode_tok_s: round((s.generatedTokens * 1000) / s.wallMs),
    ttft_p50_ms: round(percentile(ttft, 0.5)),
    ttft_p99_ms: round(percentile(ttft, 0.99)),
    itl_p50_ms: round(percentile(itl, 0.5)),
    itl_p99_ms: round(percentile(itl, 0.99)),
  };
}

export function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
