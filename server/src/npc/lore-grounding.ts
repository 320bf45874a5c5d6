/**
 * Lore grounding: a decode-time nudge towards the lore fact retrieved for the player's line, so an NPC
 * asked about something it knows says it. A small model often answers a question about a fact it never
 * saw in training with a fact it did (measured on the default model: 21 % of validation questions about
 * held-out facts answered, 82 % about facts it trained on), although the fact is right there in the
 * prompt. The nudge is a logit bias in the reply's speech (the action call is untouched):
 *
 * - `bias` nats on every token of the fact as the NPC would say it — its first-person form ("Bram built
 *   his forge" → "I built my forge", english.ts), so the reply stays in character;
 * - `continuation` nats on the fact's first token as the speech's first, then on the token that
 *   continues the fact where the speech has been following it (the successor of the place in the fact
 *   that matches the longest run of the last tokens said), so a copy starts at the fact's start and stays faithful — never on a token that would repeat a trigram already said, and
 *   no more once the fact has been said to its end.
 *
 * It is scaled by how well the fact matches the line (BM25 score, ramped from RAMP_FROM to RAMP_TO), so a
 * greeting or an order that merely shares a word with some fact is hardly touched, and it applies only
 * when the call is `[[none]]`: an NPC that acts speaks about what it does. A bias is not a constraint: the
 * model can still say something else when it is confident.
 */
import type { TextTokenizer } from '../inference/tokenizer/index.ts';
import type { ConstraintSpec } from '../inference/engine/constraint-spec.ts';
import type { LoreHit } from './lore-index.ts';

/** Default NPC_LORE_GROUNDING: nats on the fact's tokens at full match (0 turns grounding off). */
export const DEFAULT_LORE_GROUNDING = 4;
/** The continuation bias, as a multiple of the token bias (chosen on the validation split: 2.5 → 4.5 took lore 84.2 → 88.4 % with the longest-run rule). */
export const CONTINUATION_FACTOR = 4.5;
/** BM25 scores (lore-index.ts) below RAMP_FROM get no grounding, above RAMP_TO the full bias. */
export const RAMP_FROM = 1;
export const RAMP_TO = 4;

/** What a turn was grounded on: logged with its grammar, so a replay rebuilds the same constraint. */
export interface GroundingRecord {
  /** The fact's position in the script's `lore`; SCHEDULE_FACT (-1) when grounded on its schedule (schedule-grounding.ts). */
  fact: number;
  /** The text the speech was biased towards (the fact in the NPC's first person). */
  text: string;
  /** Nats on each of its tokens. */
  bias: number;
  /** Nats on the token that continues it. */
  continuation: number;
}

/** What the worker's action constraint receives (action-constraint.ts). */
export interface GroundingOptions {
  /** The fact's token sequences as the speech may spell it (at the start of the speech and after a space). */
  sequences: number[][];
  bias: number;
  continuation: number;
}

/**
 * The grounding for a turn: the best-matching fact (`hit`, from the script's lore index) at a strength
 * ramped by its score, or undefined when grounding is off or nothing matches well enough.
 */
export function loreGrounding(hit: LoreHit | undefined, firstPerson: readonly string[], strength: number): GroundingRecord | undefined {
  if (!hit || strength <= 0) return undefined;
  const ramp = Math.min(1, Math.max(0, (hit.score - RAMP_FROM) / (RAMP_TO - RAMP_FROM)));
  if (ramp === 0) return undefined;
  return groundingRecord(hit.index, firstPerson[hit.index] ?? hit.text, strength * ramp);
}

/** A grounding on `text` at `bias` nats per token (and the continuation bias that goes with it). */
export function groundingRecord(fact: number, text: string, bias: number): GroundingRecord {
  const rounded = round(bias);
  return { fact, text, bias: rounded, continuation: round(rounded * CONTINUATION_FACTOR) };
}

/** The action grammar with a turn's grounding added (the spec itself is shared per script and not changed). */
export function groundConstraint(spec: ConstraintSpec, grounding: GroundingRecord | undefined, tokenizer: TextTokenizer): ConstraintSpec {
  if (!grounding || spec.kind !== 'module') return spec;
  const options: GroundingOptions = {
    sequences: [tokenizer.encode(grounding.text), tokenizer.encode(` ${grounding.text}`)],
    bias: grounding.bias,
    continuation: grounding.continuation,
  };
  return { ...spec, options: { ...(spec.options as object), grounding: options } };
}

/** Bias values in the log and on the wire: 3 decimals are plenty. */
function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
