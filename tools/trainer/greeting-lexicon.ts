/**
 * Greetings and farewells from WordNet, for the action memory: the generated dialogue greets in some thirty
 * phrasings, so a player's "so long", "cheerio" or "good afternoon" found no greeting among the memory's
 * lines and the NPC did not wave. WordNet lists the expressions themselves: the synsets one is-a step below
 * greeting/salutation and farewell/word of farewell whose definition says they are said ("an expression of
 * greeting", "a farewell remark", "a conventional expression of greeting or farewell") — hello, howdy,
 * good afternoon, so long, cheerio, au revoir, … — and not the acts around them (a welcome, a send-off, a
 * salute). Each NPC remembers them with the call its own greetings were answered with in the fine-tuning
 * data (action-memory.ts).
 */
import { readSynsets, WORDNET_DIR } from './wordnet.ts';

/** Definitions of synsets that are things said. */
const SAID = /\bexpression of (greeting|farewell|greeting or farewell)\b|\bfarewell remark\b/;

/** The greeting and farewell expressions, lower case, multi-word ones with spaces ("so long"), sorted. */
export function greetingExpressions(dir = WORDNET_DIR): string[] {
  const synsets = readSynsets(dir);
  // The roots, found by their lemmas (not by offset, which is WordNet-version specific).
  const roots = [...synsets].filter(([key, s]) => key.startsWith('n') && (s.words.includes('salutation') && s.words.includes('greeting') || s.words.includes('word_of_farewell'))).map(([key]) => key);
  const expressions = new Set<string>();
  for (const root of roots) {
    for (const [symbol, target] of synsets.get(root)!.pointers) {
      const synset = symbol === '~' ? synsets.get(target) : undefined;
      if (!synset || !SAID.test(synset.gloss.split(';')[0]!)) continue;
      for (const word of synset.words) expressions.add(word.replace(/_/g, ' ').toLowerCase());
    }
  }
  return [...expressions].sort();
}
