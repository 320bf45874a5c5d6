/**
 * Adapter between the engine and the sampling module: one sampler per request, applied to that request's
 * row of the batched logits. Kept as a seam so the engine depends on this small interface only.
 */
import type { SamplingSettings } from './protocol.ts';

export interface RowSampler {
  /** Pick the next token from one row of logits (may modify the row). `history` = tokens so far. */
  sample(logits: Float32Array, history: readonly number[]): number;
}

export function createRowSampler(settings: SamplingSettings, usableVocabSize: number): RowSampler {
  if ((settings.temperature ?? 0) > 0) throw new Error('sampling with temperature needs the sampling module');
  return { sample: (logits) => argmax(logits, usableVocabSize) };
}

export function argmax(logits: Float32Array, limit: number): number {
  let best = 0;
  let bestValue = -Infinity;
  for (let i = 0; i < limit; i++) {
    const v = logits[i]!;
    if (v > bestValue) {
      bestValue = v;
      best = i;
    }
  }
  return best;
}
