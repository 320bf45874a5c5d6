/**
 * The action memory's related words: for a word its lines never use, the words they do use that WordNet
 * (Debian's `wordnet-base`, the same package the general corpus reads) relates to it — "halt" → stop,
 * "fortune" → luck, "blunt" → dull, "met" → meet. The server looks a player's unknown word up here before
 * searching the memory (line-index.ts), so a request phrased in a word the generated lines never used still
 * finds the requests it means. Built at training time, against the memory's own vocabulary, and stored in
 * the memory file: the server needs no WordNet.
 *
 * Relations kept, in two lists per word: "close" — the other words of each sense (synonyms), similar
 * adjectives, derivationally related words — and "broad" — one step up or down the is-a tree ("dagger" →
 * knife, "smith" → blacksmith); line-index.ts weighs them 0.6 and 0.3. WordNet's inflection exception lists map irregular forms to their lemma first
 * ("met" → meet). The database is read by wordnet.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { actionMemoryTerm, type RelatedWords } from '../../server/src/npc/action-memory.ts';
import { POS_FILES, readSynsets, WORDNET_DIR } from './wordnet.ts';

/** Related words kept per unknown word, closest first. */
const MAX_RELATED = 6;

const CLOSE_POINTERS = new Set(['&', '+', '$']); // similar to, derivationally related, verb group
const BROAD_POINTERS = new Set(['@', '@i', '~', '~i']); // hypernym, instance hypernym, hyponym, instance hyponym

/**
 * Related words for every WordNet word (and irregular form) whose memory term is not in `vocabulary`,
 * pointing at terms that are: term → [close terms, broad terms]. Terms are the memory's own (actionMemoryTerm).
 */
export function relatedWords(vocabulary: ReadonlySet<string>, dir = WORDNET_DIR): RelatedWords {
  const synsets = readSynsets(dir);
  const known = (term: string | null): term is string => term !== null && vocabulary.has(term);
  // lemma → [close set, broad set] of vocabulary terms.
  const found = new Map<string, { close: Set<string>; broad: Set<string> }>();
  const entry = (term: string) => {
    let e = found.get(term);
    if (!e) found.set(term, (e = { close: new Set(), broad: new Set() }));
    return e;
  };
  for (const synset of synsets.values()) {
    synset.words.forEach((word, i) => {
      const term = singleWordTerm(word);
      if (term === null || vocabulary.has(term)) return;
      const { close, broad } = entry(term);
      for (const other of synset.words) {
        const t = singleWordTerm(other);
        if (known(t)) close.add(t);
      }
      for (const [symbol, target, source, targetWord] of synset.pointers) {
        if (source !== 0 && source !== i + 1) continue;
        const into = CLOSE_POINTERS.has(symbol) ? close : BROAD_POINTERS.has(symbol) ? broad : undefined;
        const words = into && synsets.get(target)?.words;
        if (!into || !words) continue;
        for (const other of targetWord === 0 ? words : [words[targetWord - 1]!]) {
          const t = singleWordTerm(other);
          if (known(t)) into.add(t);
        }
      }
    });
  }
  // Irregular forms ("met meet", "mice mouse"): the form gets its lemma (when known) and the lemma's relations.
  for (const name of Object.values(POS_FILES)) {
    const path = join(dir, `${name}.exc`);
    if (!existsSync(path)) continue;
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      const [form, ...lemmas] = line.trim().split(' ');
      const term = form && singleWordTerm(form);
      if (!term || vocabulary.has(term)) continue;
      const e = entry(term);
      for (const lemma of lemmas) {
        const t = singleWordTerm(lemma);
        if (t === null) continue;
        if (vocabulary.has(t)) e.close.add(t);
        const via = found.get(t);
        via?.close.forEach((x) => e.close.add(x));
        via?.broad.forEach((x) => e.broad.add(x));
      }
    }
  }
  const related: RelatedWords = {};
  for (const term of [...found.keys()].sort()) {
    const { close, broad } = found.get(term)!;
    const closeTerms = [...close].slice(0, MAX_RELATED);
    const broadTerms = [...broad].filter((t) => !close.has(t)).slice(0, MAX_RELATED - closeTerms.length);
    if (closeTerms.length + broadTerms.length > 0) related[term] = [closeTerms, broadTerms];
  }
  return related;
}

/** The memory term of a one-word WordNet lemma ("blacksmith"), null for phrases ("good_luck") and odd tokens. */
function singleWordTerm(word: string): string | null {
  const w = word.replace(/\(\w+\)$/, '').toLowerCase(); // adjective markers: "galore(ip)"
  return /^[a-z][a-z'-]*$/.test(w) ? actionMemoryTerm(w) : null;
}
