/**
 * Learns byte-level BPE merges from a corpus. Hand-written because no maintained JavaScript BPE *trainer*
 * exists (@huggingface/tokenizers in JS only encodes/decodes); the algorithm is the classic one of Sennrich
 * et al. / HF tokenizers' BpeTrainer: repeatedly merge the most frequent adjacent pair. Ties break on the
 * pair's text so the result is deterministic. Corpora here are a few KB, so the simple recount per merge is
 * fast enough and easy to verify.
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

  const tokens = [...BYTE_TO_CHAR];
  const merges: Array<[string, string]> = [];
  while (merges.length < maxMerges) {
    const best = mostFrequentPair(words);
    if (!best) break;
    const [left, right] = best;
    merges.push([left, right]);
    tokens.push(left + right);
    for (const word of words) mergePair(word.symbols, left, right);
  }
  return { tokens, merges };
}

function mostFrequentPair(words: Array<{ symbols: string[]; count: number }>): [string, string] | undefined {
  const counts = new Map<string, number>();
  for (const { symbols, count } of words) {
    for (let i = 0; i + 1 < symbols.length; i++) {
      const key = `${symbols[i]}\u0000${symbols[i + 1]}`;
      counts.set(key, (counts.get(key) ?? 0) + count);
    }
  }
  let bestKey: string | undefined;
  let bestCount = 1; // a pair seen once teaches nothing
  for (const [key, count] of counts) {
    if (count > bestCount || (count === bestCount && bestKey !== undefined && key < bestKey)) {
      bestKey = key;
      bestCount = count;
    }
  }
  if (bestKey === undefined) return undefined;
  const [left, right] = bestKey.split('\u0000') as [string, string];
  return [left, right];
}

function mergePair(symbols: string[], left: string, right: string): void {
  for (let i = 0; i + 1 < symbols.length; i++) {
    if (symbols[i] === left && symbols[i + 1] === right) symbols.splice(i, 2, left + right);
  }
}
