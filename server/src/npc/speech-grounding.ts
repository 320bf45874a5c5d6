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
    if (continuation > 0) for (const next of this.#continuations(sequences)) boost.set(next, Math.max(boost.get(next) ?? 0, continuation));
    // Never push the speech into a loop: no boost for a token that would repeat a trigram already said.
    const n = this.#said.length;
    if (n >= 2) {
      const [a, b] = [this.#said[n - 2], this.#said[n - 1]];
      for (let i = 0; i + 2 < n; i++) if (this.#said[i] === a && this.#said[i + 1] === b) boost.delete(this.#said[i + 2]!);
    }
    for (const [id, value] of boost) if (id < logits.length) logits[id] = logits[id]! + value;
  }

  /**
   * The tokens that continue the fact where the speech follows it: its first token before anything is said,
   * then the successors of the places in the fact that match the longest run of the last tokens said. A
   * token that occurs in the fact more than once (" the" in "the South Gate, the Guardhouse, the Market
   * Well") then continues where the speech really is, not at every occurrence.
   */
  #continuations(sequences: readonly number[][]): Set<number> {
    const said = this.#said;
    const n = said.length;
    let longest = 0;
    const next = new Set<number>();
    if (n === 0) {
      for (const seq of sequences) if (seq.length > 0) next.add(seq[0]!); // the speech's first token starts the fact
      return next;
    }
    for (const seq of sequences) {
      for (let j = 0; j + 1 < seq.length; j++) {
        let run = 0;
        while (run <= j && run < n && seq[j - run] === said[n - 1 - run]) run++;
        if (run === 0 || run < longest) continue;
        if (run > longest) {
          longest = run;
          next.clear();
        }
        next.add(seq[j + 1]!);
      }
    }
    return next;
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
