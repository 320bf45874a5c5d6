/**
 * Decode-time grammar for NPC replies, evaluated inside the inference worker (loaded there as a
 * constraint module, see inference/engine/constraint-spec.ts). It is what makes an illegal action
 * impossible rather than unlikely:
 *
 * - Speech phase: any token except end-of-sequence and tokens containing "[" or "]". The single-"["
 *   token (the opener) ends the speech; it is the only way out. It is forced once the speech reaches
 *   its token budget, or as soon as the model would rather stop (its best end-of-sequence logit comes
 *   within `eosMargin` of the best allowed token): an NPC that wants to stop talking must act.
 * - Action phase: a trie over the token sequences of the NPC's legal calls (each the text after the
 *   opener, e.g. "[walk_to forge]]"); the turn completes when one sequence is finished.
 *
 * Hand-written because the language is tiny (a finite set of suffixes after free text) and must run
 * per token in the worker. `@mlc-ai/web-xgrammar` (0.1.x, an Emscripten build of xgrammar) was
 * evaluated: it could express the language as EBNF, but a grammar cannot say "force the call when the
 * model would rather stop" (that needs the logits), and it adds a WASM module plus a vocabulary
 * compile per model for what is here a trie walk over a few dozen token sequences.
 */
import type { ConstraintContext, TokenConstraint } from '../inference/engine/constraint-spec.ts';

export interface ActionConstraintOptions {
  /** Token id of "[" — the only way from speech to the action call. */
  openerId: number;
  /** Token sequences of every legal call after the opener ("[walk_to forge]]", "[none]]", …). */
  alternatives: number[][];
  /** Speech tokens before the opener is forced. */
  maxSpeechTokens: number;
  /** Speech tokens required before the opener is allowed (an NPC says something before acting). */
  minSpeechTokens: number;
  /** Force the opener when the best end-of-sequence logit is within this of the best speech token. */
  eosMargin: number;
}

// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u0008\u000b-\u001f\u007f]/;

/** Tokens the speech may never contain, per vocabulary (computed once per worker and vocabulary size). */
let denyCache: { vocabSize: number; deny: Uint8Array } | undefined;

function speechDenyList(ctx: ConstraintContext): Uint8Array {
  if (denyCache?.vocabSize === ctx.vocabSize) return denyCache.deny;
  const deny = new Uint8Array(ctx.vocabSize);
  for (let id = 0; id < ctx.vocabSize; id++) {
    const text = ctx.tokenText(id);
    // Brackets belong to the call syntax; empty text means a special token (chat markers, EOS);
    // control characters have no place in speech.
    if (text.length === 0 || text.includes('[') || text.includes(']') || CONTROL_CHARS.test(text)) deny[id] = 1;
  }
  for (const eos of ctx.eosTokenIds) if (eos < ctx.vocabSize) deny[eos] = 1;
  denyCache = { vocabSize: ctx.vocabSize, deny };
  return deny;
}

export function createConstraint(rawOptions: unknown, ctx: ConstraintContext): TokenConstraint {
  const options = rawOptions as ActionConstraintOptions;
  if (!Number.isInteger(options.openerId) || options.openerId < 0 || options.openerId >= ctx.vocabSize) {
    throw new Error(`action grammar: opener token ${options.openerId} is outside the vocabulary`);
  }
  if (options.alternatives.length === 0 || options.alternatives.some((a) => a.length === 0 || a.some((t) => t < 0 || t >= ctx.vocabSize))) {
    throw new Error('action grammar: every legal call needs a non-empty token sequence inside the vocabulary');
  }
  const deny = speechDenyList(ctx);
  const eosIds = ctx.eosTokenIds.filter((id) => id < ctx.vocabSize);
  let speechTokens = 0;
  let inAction = false;
  let position = 0;
  /** Indexes of alternatives still matching what the action phase produced so far. */
  let live: number[] = [];
  let complete = false;

  const forceOnly = (logits: Float32Array, allowed: Iterable<number>) => {
    const keep = new Map<number, number>();
    for (const id of allowed) keep.set(id, logits[id]!);
    logits.fill(Number.NEGATIVE_INFINITY, 0, ctx.vocabSize);
    for (const [id, value] of keep) logits[id] = Number.isFinite(value) ? value : 0;
  };

  return {
    mask(logits: Float32Array): void {
      if (complete) return;
      if (inAction) {
        forceOnly(logits, new Set(live.map((i) => options.alternatives[i]![position]!)));
        return;
      }
      const openerAllowed = speechTokens >= options.minSpeechTokens;
      if (openerAllowed && speechTokens >= options.maxSpeechTokens) {
        forceOnly(logits, [options.openerId]);
        return;
      }
      let bestEos = Number.NEGATIVE_INFINITY;
      for (const id of eosIds) bestEos = Math.max(bestEos, logits[id]!);
      let bestSpeech = Number.NEGATIVE_INFINITY;
      for (let id = 0; id < ctx.vocabSize; id++) {
        if (deny[id] && id !== options.openerId) logits[id] = Number.NEGATIVE_INFINITY;
        else if (logits[id]! > bestSpeech) bestSpeech = logits[id]!;
      }
      if (!openerAllowed) logits[options.openerId] = Number.NEGATIVE_INFINITY;
      else if (bestEos >= bestSpeech - options.eosMargin) forceOnly(logits, [options.openerId]);
    },
    accept(tokenId: number): void {
      if (complete) return;
      if (!inAction) {
        if (tokenId === options.openerId && speechTokens >= options.minSpeechTokens) {
          inAction = true;
          position = 0;
          live = options.alternatives.map((_, i) => i);
        } else {
          speechTokens++;
        }
        return;
      }
      live = live.filter((i) => options.alternatives[i]![position] === tokenId);
      position++;
      if (live.length === 0) throw new Error(`action grammar: token ${tokenId} matches no legal call (the mask was not applied)`);
      if (live.some((i) => options.alternatives[i]!.length === position)) complete = true;
    },
    isComplete(): boolean {
      return complete;
    },
  };
}
