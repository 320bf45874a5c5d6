/**
 * Lore retrieval: BM25 ranking (minisearch) over one NPC's lore facts, so each prompt carries only the
 * facts relevant to the player's line instead of the whole lorebook.
 */
import MiniSearch from 'minisearch';

export interface LoreHit {
  /** The fact as written in the script. */
  text: string;
  /** Its position in the script's `lore` list. */
  index: number;
  score: number;
}

export interface LoreIndex {
  /** Number of facts indexed. */
  readonly size: number;
  /** The `k` most relevant facts for `text`, best first (fewer if fewer match; none for an empty query). */
  search(text: string, k: number): string[];
  /** Same, with positions and BM25 scores. */
  searchScored(text: string, k: number): LoreHit[];
}

/** Words too common to say anything about relevance in player lines or lore (also used by memory summaries). */
export const STOP_WORDS: ReadonlySet<string> = new Set(
  ('a an and are as at be been but by can could did do does for from had has have he her here him his how i if in into is it its ' +
    'me my no not of on or our she so some than that the their them then there these they this to too up us was we were what ' +
    'when where which who whom why will with would you your yours about any tell know ever just also every one there\'s what\'s ' +
    'i\'m you\'re it\'s don\'t yes aye all get got let now say see off out own much many more most very only')
    .split(/\s+/),
);

/**
 * Light English stemming so "horseshoes" finds "horseshoe" and "guarded" finds "guards". Hand-written
 * because a full stemmer (Porter/Snowball) is a dependency for little gain on a few dozen short facts;
 * the same function runs on facts and queries, so it only has to be consistent, not linguistically right.
 */
export function stem(word: string): string {
  let w = word;
  if (w.endsWith("'s")) w = w.slice(0, -2);
  if (w.length > 5 && w.endsWith('ies')) return w.slice(0, -3) + 'y';
  if (w.length > 5 && w.endsWith('ing')) return w.slice(0, -3);
  if (w.length > 4 && w.endsWith('ed')) return w.slice(0, -2);
  if (w.length > 4 && w.endsWith('es') && /(sh|ch|x|ss)es$/.test(w)) return w.slice(0, -2);
  if (w.length > 3 && w.endsWith('s') && !w.endsWith('ss')) return w.slice(0, -1);
  return w;
}

/** A line's words: split on anything that is not a letter, digit, apostrophe or hyphen ("old-oak", "Bram's" stay whole). */
export function splitWords(text: string): string[] {
  return text.split(/[^\p{L}\p{N}'’-]+/u).filter(Boolean);
}

/** A word lower-cased, without edge apostrophes or hyphens, curly apostrophes straightened ("" when nothing is left). */
export function normalizeWord(word: string): string {
  return word.toLowerCase().replace(/^['’-]+|['’-]+$/g, '').replace(/’/g, "'");
}

function processTerm(term: string): string | null {
  const t = normalizeWord(term);
  if (t.length < 2 || STOP_WORDS.has(t)) return null;
  return stem(t);
}

export function createLoreIndex(facts: readonly string[]): LoreIndex {
  const index = new MiniSearch<{ id: number; text: string }>({
    fields: ['text'],
    storeFields: ['text'],
    tokenize: splitWords,
    processTerm,
    searchOptions: {
      combineWith: 'OR',
      // Prefix matches for longer words ("lante" while typing, "smith" → "smithing") at a lower weight.
      prefix: (term) => term.length >= 4,
      fuzzy: (term) => (term.length >= 6 ? 0.2 : false),
      weights: { prefix: 0.4, fuzzy: 0.3 },
    },
  });
  index.addAll(facts.map((text, id) => ({ id, text })));

  const searchScored = (text: string, k: number): LoreHit[] => {
    if (k <= 0 || !text.trim()) return [];
    return index
      .search(text)
      .slice(0, k)
      .map((r) => ({ text: facts[r.id as number]!, index: r.id as number, score: r.score }));
  };

  return {
    size: facts.length,
    searchScored,
    search: (text, k) => searchScored(text, k).map((h) => h.text),
  };
}
