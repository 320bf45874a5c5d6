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

/** What the scheduler expects of the decode batch soon, so a runner can size its buffers once. */
export interface DecodePlan {
  /** Rows the next few steps will hold: a runner may keep this many slots (free ones cost compute). */
  expectedRows: number;
  /** Rows to make room for in memory (every sequence decoding or prefilling now). */
  reserveRows: number;
  /** Columns the longest of those sequences will need when it joins. */
  columns: number;
}

export interface StepRunner {
  decode(rows: readonly Sequence[], plan?: Partial<DecodePlan>): Promise<DecodeResult>;
  /** Each row computes `tokens` more prompt tokens (padded to `width`); updates each sequence's own KV span. */
  prefill(chunks: ReadonlyArray<{ seq: Sequence; tokens: number }>, width: number): Promise<PrefillRowResult[]>;
  /**
   * Copy a decoding sequence's KV from token `from` on out of the batch (conversation retention: `from` > 0
   * leaves out a head the prefix cache already holds); null if it isn't there.
   */
  extractFromBatch(seq: Sequence, from?: number): KvBlock | null;
  /** The decode set became empty: forget the batch (a runner may keep its buffers warm for the next). */
  endBatch(): void;
  /** Give every buffer back (idle for a while, or shutting down); a reservation stays until `dispose`. */
  releaseBuffers(): void;
  /**
   * Allocate and touch the decode batch's buffers for `rows` rows of `columns` tokens now, and keep them
   * for the runner's life; returns the bytes reserved (0 when the runner keeps no batch buffers).
   */
  reserve?(rows: number, columns: number): number;
  /** Bytes of batch buffers currently allocated (in use, or kept warm after `endBatch`). */
  readonly batchBytes: number;
}
