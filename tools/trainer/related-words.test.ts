/**
 * The action memory's related words, read from Debian's WordNet (`wordnet-base`, which .ci/run installs
 * for the general corpus too).
 */
import { describe, expect, it } from 'vitest';
import { actionMemoryTerm } from '../../server/src/npc/action-memory.ts';
import { relatedWords } from './related-words.ts';
import { hasWordNet, WORDNET_DIR } from './wordnet.ts';

const present = hasWordNet();
if (!present) console.warn(`related-words.test.ts skipped: no WordNet at ${WORDNET_DIR} (apt-get install wordnet-base)`);

describe.skipIf(!present)('related words from WordNet', () => {
  const vocabulary = new Set(['stop', 'luck', 'meet', 'knife', 'dull', 'forge', 'blacksmith', 'goodbye'].map((w) => actionMemoryTerm(w)!));
  const related = relatedWords(vocabulary);

  it('gives an unknown word the known words of its senses, similar and derived words as close ones', () => {
    expect(related.halt![0]).toContain('stop');
    expect(related.fortune![0]).toContain('luck');
    expect(related.blunt![0]).toContain('dull');
  });

  it('gives one is-a step up or down as broad ones, and maps irregular forms through their lemma', () => {
    expect(related.dagger![1]).toContain('knife');
    expect(related.smith![1]).toContain('blacksmith');
    expect(related.farewell![1]).toContain('goodbye');
    expect(related.met![0]).toContain('meet');
  });

  it('has no entry for a known word, and points only at known terms', () => {
    expect(related.forge).toBeUndefined();
    expect(related.stop).toBeUndefined();
    for (const [term, [close, broad]] of Object.entries(related)) {
      expect(vocabulary.has(term)).toBe(false);
      for (const t of [...close, ...broad]) expect(vocabulary.has(t)).toBe(true);
      expect(close.length + broad.length).toBeGreaterThan(0);
    }
  });
});
