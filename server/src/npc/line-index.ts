/**
 * BM25 search over many short lines (an NPC's action memory: thousands of player lines), scoring as
 * minisearch 7 does with prefix and fuzzy terms — BM25+ (k 1.2, b 0.7, d 0.5), prefix matches weighted
 * 0.4·len/(len + 0.3·extra), fuzzy ones 0.4·len/(len + distance), each line's sum times the number of query
 * words it matched — but over postings in typed arrays. Hand-written because minisearch builds a result
 * object per matching line and sorts them all: a line with "the", "me" and "you" matches most of an NPC's
 * 6,000 lines, and a turn's search took 6–20 ms on the server's main thread; here 0.3–1 ms (the same top
 * lines and scores, line-index.test.ts). Term lookup, prefix
 * and fuzzy matching (the hard part) stay minisearch's, through its SearchableMap.
 */
import SearchableMap from 'minisearch/SearchableMap';

const K = 1.2;
const B = 0.7;
const D = 0.5;
const PREFIX_WEIGHT = 0.4;
const FUZZY_WEIGHT = 0.4;
/** Words this long or longer also match longer words they start and, within FUZZY_SHARE of their length in edits, typos. */
const EXPAND_FROM = 4;
const FUZZY_SHARE = 0.25;
const MAX_FUZZY = 6;
/** Weights of a related word standing in for a word no line uses: close (a synonym) and broad (one is-a step). */
const RELATED_CLOSE = 0.6;
const RELATED_BROAD = 0.3;

export interface LineHit {
  /** The line's position in the indexed list. */
  id: number;
  score: number;
}

interface Postings {
  lines: Int32Array;
  counts: Uint16Array;
}

export class LineIndex {
  readonly #terms = new SearchableMap<Postings>();
  readonly #lengths: Float32Array;
  readonly #averageLength: number;
  /** Scratch per search (the index is used from one thread). */
  readonly #scores: Float64Array;
  readonly #matched: Uint32Array;
  readonly #stamp: Uint32Array;
  #generation = 0;

  /**
   * `tokenize` splits a line into words, `processTerm` turns a word into its index term or null (the same
   * run on queries); a line's length is its number of distinct words, as minisearch counts it.
   */
  constructor(
    lines: readonly string[],
    private readonly text: {
      tokenize: (line: string) => string[];
      processTerm: (word: string) => string | null;
      /** For a term no line uses: [close terms, broad terms] that stand in for it (action-memory.ts RelatedWords). */
      related?: (term: string) => readonly [readonly string[], readonly string[]] | undefined;
    },
  ) {
    this.#lengths = new Float32Array(lines.length);
    const postings = new Map<string, { lines: number[]; counts: number[] }>();
    lines.forEach((line, id) => {
      const tokens = text.tokenize(line);
      this.#lengths[id] = new Set(tokens).size;
      const words = this.#processed(tokens);
      const counts = new Map<string, number>();
      for (const word of words) counts.set(word, (counts.get(word) ?? 0) + 1);
      for (const [word, count] of counts) {
        let p = postings.get(word);
        if (!p) postings.set(word, (p = { lines: [], counts: [] }));
        p.lines.push(id);
        p.counts.push(count);
      }
    });
    for (const [word, p] of postings) this.#terms.set(word, { lines: Int32Array.from(p.lines), counts: Uint16Array.from(p.counts) });
    this.#averageLength = lines.length ? this.#lengths.reduce((a, b) => a + b, 0) / lines.length : 0;
    this.#scores = new Float64Array(lines.length);
    this.#matched = new Uint32Array(lines.length);
    this.#stamp = new Uint32Array(lines.length);
  }

  get size(): number {
    return this.#lengths.length;
  }

  /** The `k` best-scoring lines for `text`, best first (fewer when fewer match). */
  search(text: string, k: number): LineHit[] {
    const queryTerms = this.#processed(this.text.tokenize(text));
    if (queryTerms.length === 0 || k <= 0 || this.size === 0) return [];
    const generation = ++this.#generation;
    const touched: number[] = [];
    // Each occurrence of a word adds its score; a line's multiplier counts distinct words (the first 32).
    const distinct = [...new Set(queryTerms)];
    for (const term of queryTerms) {
      for (const [postings, weight] of this.#expansions(term)) this.#add(postings, weight, distinct.indexOf(term), generation, touched);
    }
    // The k best in one pass (a few thousand lines may match; sorting them all would cost more than scoring).
    const best: LineHit[] = [];
    for (const id of touched) {
      const score = this.#scores[id]! * popcount(this.#matched[id]!);
      if (best.length === k && !better(score, id, best[k - 1]!)) continue;
      let at = Math.min(best.length, k - 1);
      while (at > 0 && better(score, id, best[at - 1]!)) at--;
      if (best.length === k) best.pop();
      best.splice(at, 0, { id, score });
    }
    return best;
  }

  #processed(tokens: readonly string[]): string[] {
    return tokens.map(this.text.processTerm).filter((t): t is string => t !== null);
  }

  /** The postings a query term reaches, with their weights: itself, longer words it starts, near misses. */
  #expansions(term: string): Array<[Postings, number]> {
    const found: Array<[Postings, number]> = [];
    const exact = this.#terms.get(term);
    if (exact) found.push([exact, 1]);
    else {
      const [close, broad] = this.text.related?.(term) ?? [[], []];
      for (const [words, weight] of [[close, RELATED_CLOSE], [broad, RELATED_BROAD]] as const) {
        for (const word of words) {
          const postings = this.#terms.get(word);
          if (postings) found.push([postings, weight]);
        }
      }
    }
    if (term.length < EXPAND_FROM) return found;
    const prefixed = new Set<string>();
    for (const [word, postings] of this.#terms.atPrefix(term)) {
      const extra = word.length - term.length;
      if (extra === 0) continue;
      prefixed.add(word);
      found.push([postings, (PREFIX_WEIGHT * word.length) / (word.length + 0.3 * extra)]);
    }
    const maxDistance = Math.min(MAX_FUZZY, Math.round(term.length * FUZZY_SHARE));
    if (maxDistance > 0) {
      for (const [word, [postings, distance]] of this.#terms.fuzzyGet(term, maxDistance)) {
        if (distance === 0 || prefixed.has(word)) continue;
        found.push([postings, (FUZZY_WEIGHT * word.length) / (word.length + distance)]);
      }
    }
    return found;
  }

  #add(postings: Postings, weight: number, queryIndex: number, generation: number, touched: number[]): void {
    const n = this.size;
    const df = postings.lines.length;
    const idf = Math.log(1 + (n - df + 0.5) / (df + 0.5));
    const bit = queryIndex < 32 ? 1 << queryIndex : 0;
    for (let i = 0; i < df; i++) {
      const id = postings.lines[i]!;
      const tf = postings.counts[i]!;
      const score = weight * idf * (D + (tf * (K + 1)) / (tf + K * (1 - B + (B * this.#lengths[id]!) / this.#averageLength)));
      if (this.#stamp[id] !== generation) {
        this.#stamp[id] = generation;
        this.#scores[id] = 0;
        this.#matched[id] = 0;
        touched.push(id);
      }
      this.#scores[id] = this.#scores[id]! + score;
      this.#matched[id] = this.#matched[id]! | bit;
    }
  }
}

/** Higher score first; among equal scores, the earlier line. */
function better(score: number, id: number, than: LineHit): boolean {
  return score > than.score || (score === than.score && id < than.id);
}

/** Distinct query words a line matched (one bit each), at least 1 as in minisearch. */
function popcount(bits: number): number {
  let n = 0;
  for (let v = bits >>> 0; v; v &= v - 1) n++;
  return Math.max(1, n);
}
