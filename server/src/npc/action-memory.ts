/**
 * Action memory: the player lines a model was fine-tuned on, with the call each one was answered with,
 * kept beside the weights (`action-memory.json` in the model directory) and recalled at decode time as a
 * prior over the NPC's legal calls — a nearest-neighbour memory in the manner of kNN-LM (Khandelwal et al.,
 * 2020), for the decision a small model gets wrong most: which action a request asks for. A 4 M-parameter
 * model recognises the phrasings it trained on but not a new one ("can we go to the pub together?"); a
 * BM25 search with typo-tolerant matching (line-index.ts) over the same lines finds the trained request that
 * shares its words, and the call prior tips the model's own choice towards that request's call.
 *
 * The prior is a bias, not a rule: at each token of the call, `strength` × ln(share of the recalled
 * weight under that token) is added to the model's logit (action-constraint.ts), so a confident model
 * keeps its call and a hesitant one follows the memory. Lines the memory holds with a `none` call (lore
 * questions, refusals, injections) vote for `none` as much as requests vote for an action, except that a
 * remembered question counts QUESTION_NONE_WEIGHT of its vote for a line that asks nothing.
 *
 * The trainer writes the file after a dialogue fine-tune (its train split's lines, per NPC); a model
 * without one decodes exactly as before. The file is part of the model's identity (hashModelFiles).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LineIndex } from './line-index.ts';
import { normalizeWord, splitWords, stem } from './lore-index.ts';

/** The file in a model directory. */
export const ACTION_MEMORY_FILE = 'action-memory.json';
const FORMAT = 'worldmind-action-memory';
const VERSION = 1;

/** The call body of doing nothing (action-syntax.ts `actionBody(null)`). */
const NONE = 'none';
/** Default NPC_ACTION_MEMORY: nats per unit of log-share (0 turns the prior off). */
export const DEFAULT_ACTION_MEMORY = 4;
/** Recalled lines that vote. */
export const NEIGHBOURS = 10;
/**
 * Weight of a remembered question's `none` vote when the player's line is not a question. Lore questions
 * are answered with `none`, and many of them open with words a greeting or a request also uses ("Hey there,
 * what's your daily routine?", "Good evening! where do you go after dark?"): their votes outweighed a model
 * that read "Hey there" or "Evening!" right. A line that asks nothing should take its call from lines that
 * ask nothing either. Tried once on the validation split (action 87.2 → 89.3 %, refusals unchanged) and
 * measured once on the test split (78.8 → 79.8 %, refusals and lore unchanged).
 */
export const QUESTION_NONE_WEIGHT = 0.3;
/** Share of the prior spread evenly over every legal call, so no call is ever pushed to -∞. */
const SMOOTHING = 0.1;

export interface ActionMemoryFile {
  format: typeof FORMAT;
  version: typeof VERSION;
  /** Per NPC id: [player line, call body] pairs, deduplicated. */
  npcs: Record<string, Array<[string, string]>>;
  /** Words the lines never use → related words they do (written by the trainer from WordNet; optional). */
  related?: RelatedWords;
}

/**
 * Term (actionMemoryTerm) → [close terms, broad terms]: a word the memory's lines never use, and the terms
 * of theirs that mean nearly the same (synonyms, similar and derived words) or one step broader or narrower.
 */
export type RelatedWords = Record<string, [string[], string[]]>;

/** A turn's call prior, as logged with its grammar (so a replay rebuilds the same constraint). */
export interface CallPriorRecord {
  /** Nats per unit of log-share. */
  strength: number;
  /** Prior weight of each legal call body (summing to 1 over the turn's bodies). */
  weights: Record<string, number>;
}

export class ActionMemoryError extends Error {
  override name = 'ActionMemoryError';
}

export class ActionMemory {
  readonly #lines: ReadonlyMap<string, ReadonlyArray<readonly [string, string]>>;
  readonly #related: ReadonlyMap<string, readonly [string[], string[]]>;

  private constructor(file: ActionMemoryFile) {
    this.#lines = new Map(Object.entries(file.npcs));
    this.#related = new Map(Object.entries(file.related ?? {}));
  }

  /** The memory in `modelDir`, or undefined when the model has none. Throws ActionMemoryError on a malformed file. */
  static load(modelDir: string): ActionMemory | undefined {
    const file = readActionMemoryFile(modelDir);
    return file && new ActionMemory(file);
  }

  /** A memory of these (NPC, line, call body) examples, with these related words. */
  static fromExamples(examples: Iterable<MemoryExample>, related?: RelatedWords): ActionMemory {
    return new ActionMemory({ ...actionMemoryFile(examples), ...(related ? { related } : {}) });
  }

  /** NPC ids the memory holds lines for. */
  get npcIds(): string[] {
    return [...this.#lines.keys()];
  }

  /** Lines held for one NPC. */
  size(npcId: string): number {
    return this.#lines.get(npcId)?.length ?? 0;
  }

  /**
   * What one NPC recalls: its remembered lines plus `script`'s own — its examples with their actions and
   * its lore facts as `none` (a question about a fact is talk, not a request, even when the fact is newer
   * than the memory). Undefined when the memory holds no line for the NPC: it decodes as without a memory.
   */
  recall(npcId: string, script: { lore: readonly string[]; examples: ReadonlyArray<{ player: string; call: string }> }): ActionRecall | undefined {
    const remembered = this.#lines.get(npcId);
    if (!remembered || remembered.length === 0) return undefined;
    return new ActionRecall(
      [...remembered, ...script.examples.map((e) => [e.player, e.call] as const), ...script.lore.map((fact) => [fact, NONE] as const)],
      this.#related,
    );
  }
}

/** One NPC's recall: a BM25 index over its lines (built once per script version). */
export class ActionRecall {
  readonly #calls: string[];
  /** Per line: it is a question answered with `none` (its vote counts QUESTION_NONE_WEIGHT for a line that asks nothing). */
  readonly #askedNone: Uint8Array;
  readonly #index: LineIndex;

  constructor(lines: ReadonlyArray<readonly [string, string]>, related: ReadonlyMap<string, readonly [string[], string[]]> = new Map()) {
    this.#calls = lines.map(([, call]) => call);
    this.#askedNone = Uint8Array.from(lines, ([text, call]) => (call === NONE && isQuestionLine(text) ? 1 : 0));
    // Typed lines: prefixes ("blacksm") and typos ("rbbon", "sotp") still find their word; a word the lines
    // never use finds the related words they do ("halt" → stop) (line-index.ts).
    this.#index = new LineIndex(lines.map(([text]) => text), { tokenize: splitWords, processTerm: actionMemoryTerm, related: (term) => related.get(term) });
  }

  /**
   * The call prior for `line` when the legal calls are `bodies`: the BM25 scores of the NEIGHBOURS
   * best-matching lines summed per call, normalised, smoothed. Undefined when the strength is 0 or no
   * matching line's call is legal.
   */
  prior(line: string, bodies: readonly string[], strength: number): CallPriorRecord | undefined {
    if (strength <= 0 || !line.trim()) return undefined;
    const legal = new Set(bodies);
    const votes = new Map<string, number>();
    const asks = isQuestionLine(line);
    let total = 0;
    for (const hit of this.#index.search(line, NEIGHBOURS)) {
      const call = this.#calls[hit.id]!;
      if (!legal.has(call)) continue;
      const vote = !asks && this.#askedNone[hit.id] === 1 ? hit.score * QUESTION_NONE_WEIGHT : hit.score;
      votes.set(call, (votes.get(call) ?? 0) + vote);
      total += vote;
    }
    if (!(total > 0)) return undefined;
    const weights: Record<string, number> = {};
    for (const body of bodies) weights[body] = round((1 - SMOOTHING) * ((votes.get(body) ?? 0) / total) + SMOOTHING / bodies.length);
    return { strength, weights };
  }
}

export interface MemoryExample {
  npcId: string;
  line: string;
  call: string;
}

/** The memory file in `modelDir` as written, checked; undefined when there is none. */
export function readActionMemoryFile(modelDir: string): ActionMemoryFile | undefined {
  const path = join(modelDir, ACTION_MEMORY_FILE);
  if (!existsSync(path)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ActionMemoryError(`${path} is not valid JSON: ${(error as Error).message}`);
  }
  return checkActionMemoryFile(parsed, path);
}

function checkActionMemoryFile(data: unknown, where: string): ActionMemoryFile {
  const file = data as Partial<ActionMemoryFile> | null;
  if (!file || file.format !== FORMAT || file.version !== VERSION || typeof file.npcs !== 'object' || file.npcs === null || Array.isArray(file.npcs)) {
    throw new ActionMemoryError(`${where} is not a ${FORMAT} file of version ${VERSION}`);
  }
  for (const [npcId, pairs] of Object.entries(file.npcs)) {
    if (!Array.isArray(pairs) || pairs.some((p) => !Array.isArray(p) || p.length !== 2 || typeof p[0] !== 'string' || typeof p[1] !== 'string')) {
      throw new ActionMemoryError(`${where}: NPC "${npcId}" must map to [line, call] string pairs`);
    }
  }
  if (file.related !== undefined) {
    const strings = (x: unknown) => Array.isArray(x) && x.every((t) => typeof t === 'string');
    if (typeof file.related !== 'object' || file.related === null || Array.isArray(file.related)) throw new ActionMemoryError(`${where}: "related" must be an object`);
    const bad = Object.entries(file.related).find(([, v]) => !Array.isArray(v) || v.length !== 2 || !strings(v[0]) || !strings(v[1]));
    if (bad) throw new ActionMemoryError(`${where}: related word "${bad[0]}" must map to [close words, broad words] string lists`);
  }
  return file as ActionMemoryFile;
}

/** The file's content for these examples: per NPC, each distinct (line, call) once, in first-seen order. */
export function actionMemoryFile(examples: Iterable<MemoryExample>): ActionMemoryFile {
  const npcs: Record<string, Array<[string, string]>> = {};
  const seen = new Set<string>();
  for (const { npcId, line, call } of examples) {
    const text = line.trim();
    const key = `${npcId}\0${text}\0${call}`;
    if (!text || seen.has(key)) continue;
    seen.add(key);
    (npcs[npcId] ??= []).push([text, call]);
  }
  return { format: FORMAT, version: VERSION, npcs };
}

/** Writes the memory into `modelDir` (one line per NPC and per related word, so a diff shows what changed). */
export function writeActionMemory(modelDir: string, file: ActionMemoryFile): void {
  const body = Object.entries(file.npcs)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([npcId, pairs]) => `    ${JSON.stringify(npcId)}: ${JSON.stringify(pairs)}`)
    .join(',\n');
  const related = file.related
    ? `,\n  "related": {\n${Object.entries(file.related).map(([term, words]) => `    ${JSON.stringify(term)}: ${JSON.stringify(words)}`).join(',\n')}\n  }`
    : '';
  writeFileSync(join(modelDir, ACTION_MEMORY_FILE), `{\n  "format": "${FORMAT}",\n  "version": ${VERSION},\n  "npcs": {\n${body}\n  }${related}\n}\n`);
}

/** A word's term in the memory's index: as the lore index makes them, but keeping short and function words ("come with me" and "go with me" differ by them). */
export function actionMemoryTerm(word: string): string | null {
  const t = normalizeWord(word);
  return t.length === 0 ? null : stem(t);
}

/** Words that open a question (players drop the question mark): interrogatives, auxiliaries, "any idea …". */
const QUESTION_OPENERS = new Set(
  'what whats wat wats where wheres who whos whose why how hows when which is are was were do does did can could would will have has any anything anyone know'.split(' '),
);

/** "…, would you": the auxiliaries of a tag question. */
const QUESTION_TAGS = new Set('would will could can wont won'.split(' '));

/**
 * Whether a player's line asks something: a question mark, a question word among its first four words
 * (after a greeting or the NPC's name: "hey bram, where do you sleep"), or a tag ("…, would you").
 * Rule-based on purpose: it only sorts the memory's votes, and it was measured as it stands
 * (QUESTION_NONE_WEIGHT).
 */
export function isQuestionLine(text: string): boolean {
  if (text.includes('?')) return true;
  const words = splitWords(text).map((word) => word.toLowerCase().replace(/'/g, ''));
  if (words.slice(0, 4).some((word) => QUESTION_OPENERS.has(word))) return true;
  // A tag question: "walk me to the chapel, would you".
  return words.length >= 2 && QUESTION_TAGS.has(words[words.length - 2]!) && words[words.length - 1] === 'you';
}

/** Weights in the log and on the wire: 4 decimals are plenty. */
function round(x: number): number {
  return Math.round(x * 10000) / 10000;
}
