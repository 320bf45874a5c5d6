/**
 * Learns byte-level BPE merges from a corpus. Hand-written because no maintained JavaScript BPE *trainer*
 * exists (@huggingface/tokenizers in JS only encodes/decodes); the algorithm is the classic one of Sennrich
 * et al. / HF tokenizers' BpeTrainer: repeatedly merge the most frequent adjacent pair. Ties break on the
 * pair's text so the result is deterministic.
 */
import { BYTE_TO_CHAR, byteLevelWords } from './byte-level.ts';

export interface BpeVocabulary {
  /** Token strings in id order: the 256 byte symbols first, then one per merge. */
  tokens: string[];
  /** Merges in priority order, as [left, right]. */
  merges: Array<[string, string]>;
}

export function trainByteLevelBpe(corpus: string, maxMerges: number): BpeVocabulary {
  const wordCounts = new Map<string, number>();
  for (const word of byteLevelWords(corpus)) wordCounts.set(word, (wordCounts.get(word) ?? 0) + 1);
  const words = [...wordCounts].map(([word, count]) => ({ symbols: Array.from(word), count }));

  // Pair counts are kept up to date incrementally: a merge only recounts the words that contain the
  // merged pair (recounting the whole corpus per merge took minutes for a 4k vocabulary on MBs of text).
  const pairCounts = new Map<string, number>();
  const pairWords = new Map<string, Set<number>>();
  const addPairs = (index: number, sign: 1 | -1) => {
    const { symbols, count } = words[index]!;
    for (let i = 0; i + 1 < symbols.length; i++) {
      const key = `${symbols[i]}\u0000${symbols[i + 1]}`;
      const next = (pairCounts.get(key) ?? 0) + sign * count;
      if (next === 0) pairCounts.delete(key);
      else pairCounts.set(key, next);
      if (sign > 0) {
        let set = pairWords.get(key);
        if (!set) pairWords.set(key, (set = new Set()));
        set.add(index);
      }
    }
  };
  words.forEach((_, index) => addPairs(index, 1));

  const tokens = [...BYTE_TO_CHAR];
  const merges: Array<[string, string]> = [];
  while (merges.length < maxMerges) {
    const bestKey = mostFrequentPair(pairCounts);
    if (bestKey === undefined) break;
    const [left, right] = bestKey.split('\u0000') as [string, string];
    merges.push([left, right]);
    tokens.push(left + right);
    const affected = pairWords.get(bestKey) ?? new Set<number>();
    pairWords.delete(bestKey);
    for (const index of affected) {
      addPairs(index, -1);
      mergePair(words[index]!.symbols, left, right);
      addPairs(index, 1);
    }
  }
  return { tokens, merges };
}

/** The most frequent pair (seen at least twice); ties break on the pair's text. */
function mostFrequentPair(counts: ReadonlyMap<string, number>): string | undefined {
  let bestKey: string | undefined;
  let bestCount = 1; // a pair seen once teaches nothing
  for (const [key, count] of counts) {
    if (count > bestCount || (count === bestCount && bestKey !== undefined && key < bestKey)) {
      bestKey = key;
      bestCount = count;
    }
  }
  return bestKey;
}

function mergePair(symbols: string[], left: string, right: string): void {
  for (let i = 0; i + 1 < symbols.length; i++) {
    if (symbols[i] === left && symbols[i + 1] === right) symbols.splice(i, 2, left + right);
  }
}
