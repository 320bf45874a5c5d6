/**
 * Compiles an NPC's allowed actions into the decode-time constraint the engine runs in its worker
 * (see action-constraint.ts): token ids are computed here, with the model's tokenizer, so the worker
 * only compares integers.
 */
import { fileURLToPath } from 'node:url';
import type { ConstraintSpec } from '../inference/engine/constraint-spec.ts';
import type { TextTokenizer } from '../inference/tokenizer/index.ts';
import type { ActionConstraintOptions } from './action-constraint.ts';
import { actionBody, ACTION_CLOSE } from './action-syntax.ts';
import type { CallPriorRecord } from './action-memory.ts';
import { groundConstraint, type GroundingRecord } from './lore-grounding.ts';
import { legalActions, type ActionGate, type NpcActions } from './script-schema.ts';

const CONSTRAINT_MODULE = fileURLToPath(new URL('./action-constraint.ts', import.meta.url));

export interface ActionGrammarOptions {
  maxSpeechTokens: number;
  minSpeechTokens?: number;
  /** Sample the call at the request's temperature (default: the most likely legal call, see action-constraint.ts). */
  sampleCall?: boolean;
  /** A turn's lore grounding (what the turn log records; the dialogue adds it per turn with `groundConstraint`). */
  grounding?: GroundingRecord;
  /** A turn's call prior (action-memory.ts; the dialogue adds it per turn with `priorConstraint`). */
  callPrior?: CallPriorRecord;
}

export class ActionGrammarError extends Error {
  override name = 'ActionGrammarError';
}

/** Every legal call body for these actions, `none` first. */
export function legalCallBodies(actions: NpcActions, gate?: ActionGate): string[] {
  return [actionBody(null), ...legalActions(actions, gate).map((a) => actionBody(a))];
}

export function compileActionGrammar(actions: NpcActions, tokenizer: TextTokenizer, options: ActionGrammarOptions): ConstraintSpec {
  return compileCallGrammar(legalCallBodies(actions), tokenizer, options);
}

/** The same from a list of call bodies (what the turn log records, so a replay rebuilds the grammar). */
export function compileCallGrammar(bodies: readonly string[], tokenizer: TextTokenizer, options: ActionGrammarOptions): ConstraintSpec {
  const opener = tokenizer.encode('[');
  if (opener.length !== 1) throw new ActionGrammarError(`the tokenizer has no single token for "[" (got ${opener.length} tokens); the action grammar needs one`);
  if (bodies.length === 0) throw new ActionGrammarError('the action grammar needs at least one call');
  const alternatives = bodies.map((body) => tokenizer.encode(`[${body}${ACTION_CLOSE}`));
  // The text must round-trip, or the call the player sees would differ from the one that was checked.
  for (const [i, body] of bodies.entries()) {
    const decoded = tokenizer.decode(alternatives[i]!);
    if (decoded !== `[${body}${ACTION_CLOSE}`) throw new ActionGrammarError(`the tokenizer does not round-trip the action call "${body}" (decodes to ${JSON.stringify(decoded)})`);
  }
  const constraintOptions: ActionConstraintOptions = {
    openerId: opener[0]!,
    alternatives,
    maxSpeechTokens: options.maxSpeechTokens,
    minSpeechTokens: options.minSpeechTokens ?? 1,
    ...(options.sampleCall ? { sampleCall: true } : {}),
    noneAlternative: bodies.indexOf(actionBody(null)),
  };
  const spec = groundConstraint({ kind: 'module', module: CONSTRAINT_MODULE, options: constraintOptions }, options.grounding, tokenizer);
  return priorConstraint(spec, options.callPrior, bodies);
}

/**
 * The action grammar with a turn's call prior added (the shared spec is not changed). `bodies` are the
 * grammar's calls in its order; a call the prior does not weigh (a script edited since it was logged)
 * gets the smallest weight it gives.
 */
export function priorConstraint(spec: ConstraintSpec, prior: CallPriorRecord | undefined, bodies: readonly string[]): ConstraintSpec {
  if (!prior || prior.strength <= 0 || bodies.length < 2 || spec.kind !== 'module') return spec;
  const given = Object.values(prior.weights).filter((w) => w > 0);
  if (given.length === 0) return spec;
  const floor = Math.min(...given);
  const weights = bodies.map((body) => (prior.weights[body]! > 0 ? prior.weights[body]! : floor));
  return { ...spec, options: { ...(spec.options as object), callPrior: { strength: prior.strength, weights } } };
}

/**
 * The tokens a grammar-constrained reply consists of: the opener "[" as its own token, the call as the
 * grammar's alternative spells it, the speech as the tokenizer spells it (on its own, as at the start of
 * a text), then end-of-turn. Training targets use exactly this sequence, so a model learns to produce
 * what the decoder will accept — the natural tokenization of "[[walk_to forge]] …" uses merged bracket
 * tokens the grammar never allows.
 */
export function replyTokenIds(tokenizer: TextTokenizer, speech: string, body: string, endOfTurnId: number): number[] {
  const opener = tokenizer.encode('[');
  if (opener.length !== 1) throw new ActionGrammarError(`the tokenizer has no single token for "[" (got ${opener.length} tokens); the action grammar needs one`);
  return [opener[0]!, ...tokenizer.encode(`[${body}${ACTION_CLOSE}`), ...tokenizer.encode(speech.trim()), endOfTurnId];
}
