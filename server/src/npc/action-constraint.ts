/**
 * Decode-time grammar for NPC replies, evaluated inside the inference worker (loaded there as a
 * constraint module, see inference/engine/constraint-spec.ts). It is what makes an illegal action
 * impossible rather than unlikely. A reply is the action call, then the speech (action-syntax.ts):
 *
 * - Call phase: the opener "[" (a single token) is forced first, then a trie over the token sequences of
 *   the NPC's legal calls (each the text after the opener, e.g. "[walk_to forge]]") until one is complete.
 *   A turn's call prior (action-memory.ts) adds its bias to each call token's logit before the choice.
 *   The call is decided greedily (`decidesGreedily`; `sampleCall` opts out): the most likely legal call, whatever the NPC's
 *   temperature — sampled at the speech's temperature (0.5–1.0 in the shipped scripts) the default model's
 *   held-out action accuracy fell from 66 % (greedy) to 60 %, refusals from 95 % to 93 %.
 * - Speech phase: any token except tokens containing "[" or "]", special tokens and control characters.
 *   End-of-sequence is allowed once `minSpeechTokens` are said (an NPC that acts also says something);
 *   the reply is complete at end-of-sequence or when the speech reaches its token budget. After a
 *   `[[none]]` call, a turn's lore grounding (lore-grounding.ts, speech-grounding.ts) biases the speech
 *   towards the retrieved fact.
 *
 * Hand-written because the language is tiny (one of a few dozen call prefixes, then free text) and must
 * run per token in the worker. `@mlc-ai/web-xgrammar` (0.1.x, an Emscripten build of xgrammar) was
 * evaluated: it could express the language as EBNF, but adds a WASM module plus a vocabulary compile per
 * model for what is here a trie walk over a few dozen token sequences and a deny list.
 */
import type { ConstraintContext, TokenConstraint } from '../inference/engine/constraint-spec.ts';
import type { GroundingOptions } from './lore-grounding.ts';
import { SpeechGrounding } from './speech-grounding.ts';

export interface ActionConstraintOptions {
  /** Token id of "[" — every reply starts with it. */
  openerId: number;
  /** Token sequences of every legal call after the opener ("[walk_to forge]]", "[none]]", …). */
  alternatives: number[][];
  /** Speech tokens after which the reply is complete. */
  maxSpeechTokens: number;
  /** Speech tokens required before end-of-sequence is allowed (an NPC that acts also says something). */
  minSpeechTokens: number;
  /** Sample the call at the request's temperature instead of deciding it greedily (tests of the grammar's reach). */
  sampleCall?: boolean;
  /** Index in `alternatives` of the `[[none]]` call (-1: none is not legal); lore grounding applies after it. */
  noneAlternative?: number;
  /** This turn's lore grounding (lore-grounding.ts); applied to the speech after a `[[none]]` call. */
  grounding?: GroundingOptions;
  /**
   * This turn's call prior (action-memory.ts): a weight per alternative; each call token gets `strength`
   * × ln(the weight of the live alternatives it continues) added to its logit.
   */
  callPrior?: { strength: number; weights: number[] };
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
  const g = options.grounding;
  if (g && (!(g.bias >= 0 && g.continuation >= 0 && Number.isFinite(g.bias + g.continuation)) || g.sequences.some((seq) => seq.some((t) => !Number.isInteger(t) || t < 0 || t >= ctx.vocabSize)))) {
    throw new Error('action grammar: lore grounding needs finite biases ≥ 0 and tokens inside the vocabulary');
  }
  const prior = options.callPrior;
  if (prior && (!(prior.strength >= 0 && Number.isFinite(prior.strength)) || prior.weights.length !== options.alternatives.length || prior.weights.some((w) => !(w > 0 && Number.isFinite(w))))) {
    throw new Error('action grammar: a call prior needs a finite strength ≥ 0 and one positive weight per legal call');
  }
  const deny = speechDenyList(ctx);
  const eosIds = ctx.eosTokenIds.filter((id) => id < ctx.vocabSize);
  let openerSeen = false;
  let inSpeech = false;
  let speechTokens = 0;
  let position = 0;
  /** Indexes of alternatives still matching what the call phase produced so far. */
  let live: number[] = options.alternatives.map((_, i) => i);
  let complete = false;
  /** Set when the call is complete: the speech's lore grounding, if this turn has one and the call is none. */
  let grounding: SpeechGrounding | undefined;

  const forceOnly = (logits: Float32Array, allowed: Iterable<number>) => {
    const keep = new Map<number, number>();
    for (const id of allowed) keep.set(id, logits[id]!);
    logits.fill(Number.NEGATIVE_INFINITY, 0, ctx.vocabSize);
    for (const [id, value] of keep) logits[id] = Number.isFinite(value) ? value : 0;
  };

  return {
    mask(logits: Float32Array): void {
      if (complete) return;
      if (!openerSeen) {
        forceOnly(logits, [options.openerId]);
        return;
      }
      if (!inSpeech) {
        const next = new Set(live.map((i) => options.alternatives[i]![position]!));
        forceOnly(logits, next);
        if (prior && prior.strength > 0 && next.size > 1) {
          const mass = new Map<number, number>();
          for (const i of live) {
            const token = options.alternatives[i]![position]!;
            mass.set(token, (mass.get(token) ?? 0) + prior.weights[i]!);
          }
          for (const [token, weight] of mass) logits[token] = logits[token]! + prior.strength * Math.log(weight);
        }
        return;
      }
      grounding?.bias(logits);
      const eosLogits = speechTokens >= options.minSpeechTokens ? eosIds.map((id) => logits[id]!) : [];
      for (let id = 0; id < ctx.vocabSize; id++) if (deny[id]) logits[id] = Number.NEGATIVE_INFINITY;
      eosLogits.forEach((value, i) => (logits[eosIds[i]!] = value));
    },
    accept(tokenId: number): void {
      if (complete) return;
      if (!openerSeen) {
        if (tokenId !== options.openerId) throw new Error(`action grammar: token ${tokenId} is not the opener (the mask was not applied)`);
        openerSeen = true;
        return;
      }
      if (!inSpeech) {
        live = live.filter((i) => options.alternatives[i]![position] === tokenId);
        position++;
        if (live.length === 0) throw new Error(`action grammar: token ${tokenId} matches no legal call (the mask was not applied)`);
        const called = live.find((i) => options.alternatives[i]!.length === position);
        if (called !== undefined) {
          inSpeech = true;
          if (options.grounding && called === options.noneAlternative) grounding = new SpeechGrounding(options.grounding);
        }
        return;
      }
      if (eosIds.includes(tokenId)) {
        complete = true;
        return;
      }
      speechTokens++;
      grounding?.accept(tokenId);
      if (speechTokens >= options.maxSpeechTokens) complete = true;
    },
    isComplete(): boolean {
      return complete;
    },
    decidesGreedily(): boolean {
      return !options.sampleCall && !inSpeech && !complete;
    },
  };
}
