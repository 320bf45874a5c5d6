/**
 * What the engine core needs from a step runner: one batched `session.run` per call, either a decode step
 * (every row feeds its last sampled token) or a prefill chunk step. Two implementations, chosen per model:
 * `inplace-runner.ts` (engine-shaped graph, KV never copied per step) and `concat-runner.ts` (any standard
 * graph).
 */
import type { KvBlock } from './kv-cache.ts';
import type { Sequence } from './sequence.ts';

/** `inplace`: engine-shaped graph; `resident`/`rebuild`: standard graph (see concat-runner.ts). */
export type KvStrategy = 'inplace' | 'resident' | 'rebuild';

export interface DecodeResult {
  /** [rows of the run, vocab]; the i-th sequence passed in owns row `rows[i]`. Valid until the next run. */
  logits: Float32Array;
  rows: number[];
  /** Whether KV was (re)assembled into new batch buffers before the run. */
  assembled: boolean;
  /** Time spent assembling KV before the run. */
  assembleMs: number;
  /** Sequences whose KV moved into the batch buffers this step (their private spans may be released). */
  absorbed: Sequence[];
}

export interface PrefillRowResult {
  seq: Sequence;
  /** Logits after the last prompt token of this chunk (length vocab). Valid until the next run. */
  logits: Float32Array;
}

export interface StepRunner {
  /**
   * @param expectedRows how many rows the batch will soon hold (decoding + prefilling): a runner may keep
   *   free slots for them instead of re-laying out its buffers at every join.
   */
  decode(rows: readonly Sequence[], expectedRows?: number): Promise<DecodeResult>;
  /** Each row computes `tokens` more prompt tokens (padded to `width`); updates each sequence's own KV span. */
  prefill(chunks: ReadonlyArray<{ seq: Sequence; tokens: number }>, width: number): Promise<PrefillRowResult[]>;
  /**
   * Copy a decoding sequence's KV from token `from` on out of the batch (conversation retention: `from` > 0
   * leaves out a head the prefix cache already holds); null if it isn't there.
   */
  extractFromBatch(seq: Sequence, from?: number): KvBlock | null;
  /** The decode set became empty: give the batch buffers back. */
  releaseBatch(): void;
  /** Bytes of batch KV buffers currently allocated. */
  readonly batchBytes: number;
}
