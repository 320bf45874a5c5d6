/**
 * The worker half of lore grounding (lore-grounding.ts says why and how it is chosen): per reply, it adds
 * the grounding biases to the speech's logits and follows what is said. Runs inside the action constraint
 * (action-constraint.ts), per token, so it keeps to a few array walks over a fact of a few dozen tokens.
 */
import type { GroundingOptions } from './lore-grounding.ts';

export class SpeechGrounding {
  readonly #said: number[] = [];
  #done = false;
  /** Every token of the fact, once (the per-token bias walks this, not the sequences). */
  readonly #factTokens: ReadonlySet<number>;

  constructor(private readonly options: GroundingOptions) {
    this.#factTokens = new Set(options.sequences.flat());
  }

  /** Adds the biases for the next speech token to `logits` (before the speech's deny list is applied). */
  bias(logits: Float32Array): void {
    if (this.#done) return;
    const boost = new Map<number, number>();
    const { sequences, bias, continuation } = this.options;
    if (bias > 0) for (const id of this.#factTokens) boost.set(id, bias);
    const last = this.#said.at(-1);
    if (continuation > 0 && last !== undefined) {
      for (const seq of sequences) {
        for (let j = 0; j + 1 < seq.length; j++) if (seq[j] === last) boost.set(seq[j + 1]!, Math.max(boost.get(seq[j + 1]!) ?? 0, continuation));
      }
    }
    // Never push the speech into a loop: no boost for a token that would repeat a trigram already said.
    const n = this.#said.length;
    if (n >= 2) {
      const [a, b] = [this.#said[n - 2], this.#said[n - 1]];
      for (let i = 0; i + 2 < n; i++) if (this.#said[i] === a && this.#said[i + 1] === b) boost.delete(this.#said[i + 2]!);
    }
    for (const [id, value] of boost) if (id < logits.length) logits[id] = logits[id]! + value;
  }

  /** A speech token was said. Grounding ends once the speech has said the fact through to its end. */
  accept(tokenId: number): void {
    this.#said.push(tokenId);
    const n = this.#said.length;
    if (n >= 2 && this.options.sequences.some((seq) => seq.length >= 2 && seq.at(-1) === tokenId && seq.at(-2) === this.#said[n - 2])) this.#done = true;
  }

  /** True once the fact has been said to its end (no more bias). */
  get done(): boolean {
    return this.#done;
  }
}
