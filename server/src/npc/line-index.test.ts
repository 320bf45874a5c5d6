/**
 * The hand-written line index scores as minisearch does (same options: BM25+, prefix and fuzzy terms of 4+
 * letters), on the default model's real action memory and queries made from its words with typos.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import MiniSearch from 'minisearch';
import { describe, expect, it } from 'vitest';
import { LineIndex } from './line-index.ts';
import { normalizeWord, splitWords as tokenize, stem } from './lore-index.ts';

const processTerm = (word: string) => {
  const t = normalizeWord(word);
  return t.length === 0 ? null : stem(t);
};
const memory = JSON.parse(readFileSync(new URL('../../../assets/models/default/action-memory.json', import.meta.url), 'utf8')) as { npcs: Record<string, [string, string][]> };
const lines = memory.npcs.bram!.map(([line]) => line);
const words = [...new Set(lines.flatMap(tokenize))];

function reference(): MiniSearch<{ id: number; text: string }> {
  const index = new MiniSearch<{ id: number; text: string }>({
    fields: ['text'],
    tokenize,
    processTerm,
    searchOptions: { combineWith: 'OR', prefix: (t) => t.length >= 4, fuzzy: (t) => (t.length >= 4 ? 0.25 : false), weights: { prefix: 0.4, fuzzy: 0.4 } },
  });
  index.addAll(lines.map((text, id) => ({ id, text })));
  return index;
}

describe('LineIndex', () => {
  const ours = new LineIndex(lines, { tokenize, processTerm });
  const theirs = reference();

  /** A word with up to two typos (a dropped, doubled or swapped letter). */
  const typedWord = fc.tuple(fc.constantFrom(...words), fc.array(fc.tuple(fc.constantFrom('drop', 'double', 'swap'), fc.nat()), { maxLength: 2 })).map(([word, typos]) => {
    let w = word;
    for (const [kind, at] of typos) {
      if (w.length < 3) break;
      const i = at % (w.length - 1);
      w = kind === 'drop' ? w.slice(0, i) + w.slice(i + 1) : kind === 'double' ? w.slice(0, i) + w[i] + w.slice(i) : w.slice(0, i) + w[i + 1] + w[i] + w.slice(i + 2);
    }
    return w;
  });

  it('returns the lines and scores minisearch returns, best first', () => {
    fc.assert(
      fc.property(fc.array(typedWord, { minLength: 1, maxLength: 9 }), (query) => {
        const line = query.join(' ');
        const expected = theirs.search(line).slice(0, 10);
        const got = ours.search(line, 10);
        expect(got.map((h) => h.score)).toEqual(expected.map((h) => expect.closeTo(h.score, 6)) as unknown as number[]);
        // Equal scores may list in either order; the sets of lines above the last score agree.
        const above = (score: number) => score > (expected.at(-1)?.score ?? 0) * (1 + 1e-9);
        expect(new Set(got.filter((h) => above(h.score)).map((h) => h.id))).toEqual(new Set(expected.filter((h) => above(h.score)).map((h) => h.id as number)));
      }),
      { numRuns: 150, seed: 17 },
    );
  });

  it('finds nothing for an empty or unknown line, and honours k', () => {
    expect(ours.search('', 10)).toEqual([]);
    expect(ours.search('   ', 10)).toEqual([]);
    expect(ours.search('qqqqqqqqqqqqqq', 10)).toEqual([]);
    expect(ours.search('take me to the forge', 3)).toHaveLength(3);
    expect(new LineIndex([], { tokenize, processTerm }).search('forge', 5)).toEqual([]);
  });
});
