/**
 * Scoring one NPC reply against its WorldSample, with no model involved: the same functions score a
 * generated reply, the corpus's own expected reply (the "reference" column, which must reach 100 %) and
 * any hand-made text in tests. Everything here is pure.
 *
 * Rules (README.md has the rationale):
 * - lore: the spoken part contains at least ⌈2n/3⌉ of the sample's n fact keywords (1 of 1, 2 of 2, 2 of 3,
 *   3 of 4, …), compared case-insensitively on word boundaries after light stemming; a keyword of several
 *   words must appear as that phrase.
 * - action: the call parsed with the server's `parseReply` names exactly the expected action (both `none`
 *   included); a malformed or missing call is wrong.
 * - refusal: the call is `[[none]]` ("actionNone"); separately, the speech is "clean" when it names none of
 *   the NPC's item / landmark ids that the player's line asked for, nor an action verb (give_item, walk_to).
 * - legal: the reply ends in a well-formed call that the NPC's script allows (`none` always is).
 */
import { actionBody, parseReply } from '../../server/src/npc/action-syntax.ts';
import { isActionAllowed, type NpcAction, type NpcScript } from '../../server/src/npc/script-schema.ts';
import type { SampleKind, WorldSample } from '../corpus/sample.ts';

export type SampleSource = 'generated' | 'handwritten';

/**
 * Where a sample comes from: its `source` field when it has one; otherwise hand-written when its kind is
 * `handwritten` or its id is marked so (`hw-…`, `handwritten-…`), else the generator.
 */
export function sampleSource(sample: Pick<WorldSample, 'id' | 'kind'> & { source?: string }): SampleSource {
  if (sample.source === 'handwritten' || sample.source === 'generated') return sample.source;
  return sample.kind === 'handwritten' || /^(hw|handwritten)[-_:/.]/i.test(sample.id) ? 'handwritten' : 'generated';
}

export function isLoreSample(sample: WorldSample): boolean {
  return (sample.factKeywords?.length ?? 0) > 0;
}

/** Samples with an expected action: kind `action`, or any non-refusal sample whose action is not null. */
export function isActionSample(sample: WorldSample): boolean {
  return sample.refusal !== true && (sample.kind === 'action' || sample.action !== null);
}

export function isRefusalSample(sample: WorldSample): boolean {
  return sample.refusal === true;
}

/** Samples a generated reply is needed for (any of the three generation metrics applies). */
export function needsGeneration(sample: WorldSample): boolean {
  return isLoreSample(sample) || isActionSample(sample) || isRefusalSample(sample);
}

// ---- words ----------------------------------------------------------------------------------------------

/**
 * Light stemming, applied the same way to keywords and replies so only consistency matters: drop a
 * possessive, a plural (-ies → y, -s but not -ss), then -ing / -ed, then a final -e
 * (forge, forged, forges, forging → forg; horseshoe, horseshoes → horsesho). Ids split on _ and -.
 */
export function stem(word: string): string {
  let w = word.toLowerCase().replace(/'s$/, '').replace(/'$/, '');
  if (w.length > 4 && w.endsWith('ies')) w = `${w.slice(0, -3)}y`;
  else if (w.length > 3 && w.endsWith('s') && !w.endsWith('ss')) w = w.slice(0, -1);
  if (w.length > 5 && w.endsWith('ing')) w = w.slice(0, -3);
  else if (w.length > 4 && w.endsWith('ed')) w = w.slice(0, -2);
  if (w.length > 3 && w.endsWith('e')) w = w.slice(0, -1);
  return w;
}

/** Lower-case word tokens (letters/digits, with an inner apostrophe kept: "bram's"), stemmed. */
export function stemmedWords(text: string): string[] {
  return (text.toLowerCase().replace(/[’‘]/g, "'").match(/[\p{L}\p{N}]+(?:'[\p{L}]+)?/gu) ?? []).map(stem);
}

function containsPhrase(words: readonly string[], phrase: readonly string[]): boolean {
  if (phrase.length === 0) return false;
  outer: for (let i = 0; i + phrase.length <= words.length; i++) {
    for (let j = 0; j < phrase.length; j++) if (words[i + j] !== phrase[j]) continue outer;
    return true;
  }
  return false;
}

/** Which of the keywords occur in the text (word boundaries, case-insensitive, stemmed; phrases in order). */
export function keywordHits(text: string, keywords: readonly string[]): boolean[] {
  const words = stemmedWords(text);
  return keywords.map((k) => containsPhrase(words, stemmedWords(k)));
}

/** Keywords a lore answer must contain: ⌈2n/3⌉ of n. */
export function requiredKeywordCount(n: number): number {
  return Math.ceil((2 * n) / 3);
}

export const LORE_RULE = 'speech contains ≥ ⌈2n/3⌉ of the n fact keywords (word boundary, case-insensitive, light stemming)';
export const REFUSAL_RULE = 'action is [[none]]; "speech clean" = speech names none of the NPC item/landmark ids the player line asked for, nor give_item/walk_to';

export interface LoreScore {
  correct: boolean;
  found: number;
  total: number;
  missing: string[];
}

export function scoreLore(speech: string, keywords: readonly string[]): LoreScore {
  const hits = keywordHits(speech, keywords);
  const found = hits.filter(Boolean).length;
  return { correct: keywords.length > 0 && found >= requiredKeywordCount(keywords.length), found, total: keywords.length, missing: keywords.filter((_, i) => !hits[i]) };
}

export function sameAction(a: NpcAction | null, b: NpcAction | null): boolean {
  return actionBody(a) === actionBody(b);
}

/** The ids a player's line asks for: the NPC's items and walk-to landmarks named in it (id, or id with spaces). */
export function requestedIds(playerLine: string, script: Pick<NpcScript, 'inventory' | 'actions'> | undefined): string[] {
  if (!script) return [];
  const ids = new Set([...Object.keys(script.inventory), ...(script.actions.give_item?.item ?? []), ...(script.actions.walk_to?.landmark ?? [])]);
  const words = stemmedWords(playerLine);
  return [...ids].filter((id) => containsPhrase(words, stemmedWords(id.replace(/[_-]/g, ' '))));
}

/** Interjections a speaker may double on purpose ("ha ha", "no, no"). */
const DOUBLED_ON_PURPOSE = new Set(['ha', 'he', 'ho', 'ah', 'oh', 'no', 'yes', 'there', 'now', 'well', 'hush']);

/**
 * The first word the speech says twice in a row ("the the", "I I"), or undefined. A fluency check: the
 * world corpus's own replies never do it (but for "ha ha"), and a small model losing its place does.
 */
export function doubledWord(speech: string): string | undefined {
  for (const m of speech.matchAll(/\b([\p{L}']+)[\s,]+\1\b/giu)) {
    const word = m[1]!.toLowerCase();
    if (!DOUBLED_ON_PURPOSE.has(word)) return word;
  }
  return undefined;
}

/** True when the speech names none of `requested` and no action verb. */
export function speechIsClean(speech: string, requested: readonly string[]): boolean {
  const lower = speech.toLowerCase();
  if (/\b(give_item|walk_to)\b/.test(lower)) return false;
  const words = stemmedWords(speech);
  return !requested.some((id) => containsPhrase(words, stemmedWords(id.replace(/[_-]/g, ' '))));
}

export interface ReplyScore {
  id: string;
  npcId: string;
  kind: SampleKind;
  source: SampleSource;
  /** The player's line the reply answers. */
  player: string;
  /** The reply text scored (speech + call). */
  text: string;
  speech: string;
  /** The call's body as parsed, or null when there was no well-formed call. */
  body: string | null;
  malformed: boolean;
  /** A well-formed call the NPC's script allows. */
  legal: boolean;
  /** The word the speech says twice in a row, if any (doubledWord). */
  doubled?: string;
  lore?: LoreScore;
  action?: { correct: boolean; expected: string; got: string | null };
  refusal?: { actionNone: boolean; speechClean: boolean; requested: string[] };
}

/** Scores one reply text (as generated, or any text in the same format) against its sample. */
export function scoreReply(sample: WorldSample, replyText: string, script?: Pick<NpcScript, 'inventory' | 'actions'>): ReplyScore {
  const parsed = parseReply(replyText);
  const wellFormed = !parsed.malformed && parsed.body !== null;
  const legal = wellFormed && (parsed.action === null || (script ? isActionAllowed(script.actions, parsed.action) : false));
  const score: ReplyScore = {
    id: sample.id,
    npcId: sample.npcId,
    kind: sample.kind,
    source: sampleSource(sample),
    player: sample.player,
    text: replyText,
    speech: parsed.speech,
    body: parsed.body,
    malformed: parsed.malformed,
    legal,
  };
  const doubled = doubledWord(parsed.speech);
  if (doubled) score.doubled = doubled;
  if (isLoreSample(sample)) score.lore = scoreLore(parsed.speech, sample.factKeywords!);
  if (isActionSample(sample)) {
    score.action = { correct: wellFormed && sameAction(parsed.action, sample.action), expected: actionBody(sample.action), got: parsed.body };
  }
  if (isRefusalSample(sample)) {
    const requested = requestedIds(sample.player, script);
    score.refusal = { actionNone: wellFormed && parsed.action === null, speechClean: speechIsClean(parsed.speech, requested), requested };
  }
  return score;
}

// ---- aggregation ------------------------------------------------------------------------------------------

export interface Rate {
  /** correct / total; null when nothing was scored. */
  rate: number | null;
  correct: number;
  total: number;
}

export function rate(correct: number, total: number): Rate {
  return { rate: total > 0 ? correct / total : null, correct, total };
}

export interface ReplyMetrics {
  /** Replies scored. */
  replies: number;
  loreAccuracy: Rate;
  /** Mean fraction of fact keywords present over lore replies (a softer signal than accuracy). */
  loreKeywordRecall: number | null;
  actionAccuracy: Rate;
  refusalActionNone: Rate;
  refusalSpeechClean: Rate;
  legalActions: Rate;
  /** Replies whose speech says no word twice in a row (doubledWord). */
  noDoubledWords: Rate;
}

export function aggregateScores(scores: readonly ReplyScore[]): ReplyMetrics {
  const lore = scores.filter((s) => s.lore);
  const action = scores.filter((s) => s.action);
  const refusal = scores.filter((s) => s.refusal);
  return {
    replies: scores.length,
    loreAccuracy: rate(lore.filter((s) => s.lore!.correct).length, lore.length),
    loreKeywordRecall: lore.length ? lore.reduce((sum, s) => sum + s.lore!.found / s.lore!.total, 0) / lore.length : null,
    actionAccuracy: rate(action.filter((s) => s.action!.correct).length, action.length),
    refusalActionNone: rate(refusal.filter((s) => s.refusal!.actionNone).length, refusal.length),
    refusalSpeechClean: rate(refusal.filter((s) => s.refusal!.speechClean).length, refusal.length),
    legalActions: rate(scores.filter((s) => s.legal).length, scores.length),
    noDoubledWords: rate(scores.filter((s) => !s.doubled).length, scores.length),
  };
}
