/**
 * Picks the next token from one row of logits. One Sampler per request (it owns the request's seeded
 * generator and scratch buffers); `sample` takes a Float32Array view of any length ≥ the usable vocabulary,
 * so a scheduler can pass `batchLogits.subarray(row * V, (row + 1) * V)` without copying. The row itself is
 * never modified.
 *
 * Order of processing (as in HF transformers): allowed-token mask → repetition penalty → temperature →
 * top-k → top-p → draw.
 */
import { SeededRandom, randomSeed } from './seeded-random.ts';
import { SamplingParamsSchema, type SamplingParams, type SamplingParamsInput } from './sampling-params.ts';

/** 1 = the token may be chosen. Ids at or beyond the mask's length are not allowed. */
export type TokenMask = Uint8Array;

export interface SampleContext {
  /** Token ids the repetition penalty applies to (prompt and reply so far). */
  history?: ArrayLike<number>;
  /** A constraint's allowed tokens for this step (e.g. the NPC's legal actions). */
  allowed?: TokenMask;
  /** Take the most likely token this step, whatever the temperature (a constraint's decision point). */
  greedy?: boolean;
}

export class NoAllowedTokenError extends Error {
  override readonly name = 'NoAllowedTokenError';
}

export class Sampler {
  readonly params: SamplingParams;
  readonly seed: number;
  private readonly random: SeededRandom;
  private readonly scores: Float32Array;
  private readonly candidates: Int32Array;
  private readonly penalized: Uint8Array;

  /**
   * @param usableVocabSize ids at or above this are never chosen (no token exists for them); pass
   *   `model.usableVocabSize`.
   */
  constructor(params: SamplingParamsInput, readonly usableVocabSize: number) {
    this.params = SamplingParamsSchema.parse(params);
    this.seed = this.params.seed ?? randomSeed();
    this.random = new SeededRandom(this.seed);
    this.scores = new Float32Array(usableVocabSize);
    this.candidates = new Int32Array(usableVocabSize);
    this.penalized = new Uint8Array(usableVocabSize);
  }

  /**
   * A sampler for one request: fields the request leaves unset take the model's generation_config
   * defaults (greedy unless the model says do_sample).
   */
  static forModel(
    model: { generationDefaults: { temperature: number; topK: number; topP: number; repetitionPenalty: number }; usableVocabSize: number },
    requested: SamplingParamsInput = {},
  ): Sampler {
    const d = model.generationDefaults;
    return new Sampler({ temperature: d.temperature, topK: d.topK, topP: d.topP, repetitionPenalty: d.repetitionPenalty, ...requested }, model.usableVocabSize);
  }

  get greedy(): boolean {
    return this.params.temperature === 0 || this.params.topK === 1;
  }

  sample(logits: Float32Array, context: SampleContext = {}): number {
    const size = Math.min(this.usableVocabSize, logits.length);
    const scores = this.scores;
    scores.set(logits.subarray(0, size));
    if (context.allowed) applyMask(scores, size, context.allowed);
    if (this.params.repetitionPenalty !== 1 && context.history) {
      this.applyRepetitionPenalty(size, context.history);
    }
    if (this.greedy || context.greedy) {
      const best = argmax(scores, size);
      if (!(scores[best]! > Number.NEGATIVE_INFINITY)) throw new NoAllowedTokenError('No token is allowed at this step.');
      return best;
    }

    const count = this.collectFinite(size);
    if (count === 0) throw new NoAllowedTokenError('No token is allowed at this step.');
    const inverseTemperature = 1 / this.params.temperature;
    for (let i = 0; i < count; i++) {
      const id = this.candidates[i]!;
      scores[id] = scores[id]! * inverseTemperature;
    }
    const kept = this.params.topK > 0 ? Math.min(this.params.topK, count) : count;
    const nucleus = this.params.topP < 1 ? this.nucleusSize(kept, count) : this.sortTop(kept, count);
    return this.draw(nucleus);
  }

  /** HF semantics: positive logits are divided by the penalty, negative ones multiplied, once per id. */
  private applyRepetitionPenalty(size: number, history: ArrayLike<number>): void {
    const penalty = this.params.repetitionPenalty;
    const seen = this.penalized;
    for (let i = 0; i < history.length; i++) {
      const id = history[i]!;
      if (id < 0 || id >= size || seen[id]) continue;
      seen[id] = 1;
      const score = this.scores[id]!;
      this.scores[id] = score > 0 ? score / penalty : score * penalty;
    }
    for (let i = 0; i < history.length; i++) {
      const id = history[i]!;
      if (id >= 0 && id < size) seen[id] = 0;
    }
  }

  private collectFinite(size: number): number {
    let count = 0;
    for (let id = 0; id < size; id++) if (this.scores[id]! > Number.NEGATIVE_INFINITY) this.candidates[count++] = id;
    return count;
  }

  /** Puts the `kept` best candidates first, sorted best-first (ties: lower id first); returns kept. */
  private sortTop(kept: number, count: number): number {
    if (kept < count) selectLargest(this.candidates, count, kept, this.scores);
    const scores = this.scores;
    const top = this.candidates.subarray(0, kept);
    top.sort((a, b) => scores[b]! - scores[a]! || a - b);
    return kept;
  }

  /**
   * Top-p over the best `kept` candidates: grows a sorted prefix (64, 128, ...) until it holds p of the
   * probability mass, so peaked distributions never sort the whole vocabulary.
   */
  private nucleusSize(kept: number, count: number): number {
    const scores = this.scores;
    const ids = this.candidates;
    // top-k first: the mass p refers to is that of the k survivors.
    if (kept < count) selectLargest(ids, count, kept, scores);
    let max = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < kept; i++) max = Math.max(max, scores[ids[i]!]!);
    let total = 0;
    for (let i = 0; i < kept; i++) total += Math.exp(scores[ids[i]!]! - max);
    const target = this.params.topP * total;
    for (let prefix = Math.min(64, kept); ; prefix = Math.min(prefix * 2, kept)) {
      this.sortTop(prefix, kept);
      let mass = 0;
      for (let i = 0; i < prefix; i++) {
        mass += Math.exp(scores[ids[i]!]! - max);
        if (mass >= target) return i + 1;
      }
      if (prefix === kept) return kept;
    }
  }

  /** Draws from the softmax over the first `count` candidates (sorted best-first). */
  private draw(count: number): number {
    const scores = this.scores;
    const best = scores[this.candidates[0]!]!;
    let total = 0;
    for (let i = 0; i < count; i++) total += Math.exp(scores[this.candidates[i]!]! - best);
    let threshold = this.random.next() * total;
    for (let i = 0; i < count; i++) {
      threshold -= Math.exp(scores[this.candidates[i]!]! - best);
      if (threshold < 0) return this.candidates[i]!;
    }
    return this.candidates[count - 1]!;
  }
}

function applyMask(scores: Float32Array, size: number, allowed: TokenMask): void {
  for (let id = 0; id < size; id++) if (id >= allowed.length || allowed[id] === 0) scores[id] = Number.NEGATIVE_INFINITY;
}

/** Highest score, lowest id on ties (what transformers' greedy search returns). */
function argmax(scores: Float32Array, size: number): number {
  let best = -1;
  let bestScore = Number.NEGATIVE_INFINITY;
  for (let id = 0; id < size; id++) {
    if (scores[id]! > bestScore) {
      bestScore = scores[id]!;
      best = id;
    }
  }
  if (best < 0) throw new NoAllowedTokenError('No token is allowed at this step.');
  return best;
}

/**
 * Quickselect (deterministic median-of-three pivot): rearranges ids[0, count) so the `k` highest-scoring
 * ids come first, in no particular order. O(count) on average.
 */
function selectLargest(ids: Int32Array, count: number, k: number, scores: Float32Array): void {
  let left = 0;
  let right = count - 1;
  const better = (a: number, b: number) => scores[a]! > scores[b]! || (scores[a] === scores[b] && a < b);
  while (left < right) {
    const middle = (left + right) >>> 1;
    const pivot = medianOfThree(ids[left]!, ids[middle]!, ids[right]!, better);
    let i = left;
    let j = right;
    while (i <= j) {
      while (better(ids[i]!, pivot)) i++;
      while (better(pivot, ids[j]!)) j--;
      if (i <= j) {
        const swap = ids[i]!;
        ids[i] = ids[j]!;
        ids[j] = swap;
        i++;
        j--;
      }
    }
    if (k - 1 <= j) right = j;
    else if (k - 1 >= i) left = i;
    else return;
  }
}

function medianOfThree(a: number, b: number, c: number, better: (x: number, y: number) => boolean): number {
  if (better(a, b)) {
    if (better(b, c)) return b;
    return better(a, c) ? c : a;
  }
  if (better(a, c)) return a;
  return better(b, c) ? c : b;
}

/** A dense mask allowing exactly `ids` (helper for constraints that produce id lists). */
export function maskFromIds(ids: Iterable<number>, vocabSize: number): TokenMask {
  const mask = new Uint8Array(vocabSize);
  for (const id of ids) if (id >= 0 && id < vocabSize) mask[id] = 1;
  return mask;
}
