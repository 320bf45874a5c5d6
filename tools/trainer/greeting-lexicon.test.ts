/**
 * WordNet's greetings and farewells in the action memory (greeting-lexicon.ts, action-memory.ts), read from
 * Debian's WordNet (`wordnet-base`, which .ci/run installs for the general corpus too).
 */
import { describe, expect, it } from 'vitest';
import type { WorldSample } from '../corpus/sample.ts';
import { updatedActionMemory } from './action-memory.ts';
import { greetingExpressions } from './greeting-lexicon.ts';
import { hasWordNet, WORDNET_DIR } from './wordnet.ts';

const present = hasWordNet();
if (!present) console.warn(`greeting-lexicon.test.ts skipped: no WordNet at ${WORDNET_DIR} (apt-get install wordnet-base)`);

const sample = (npcId: string, kind: string, player: string, action: WorldSample['action']) => ({ npcId, kind, player, action }) as unknown as WorldSample;

describe.skipIf(!present)('greetings and farewells from WordNet', () => {
  it('lists the expressions people say, not the acts around them', () => {
    const said = greetingExpressions();
    for (const expression of ['hello', 'howdy', 'good afternoon', 'so long', 'cheerio', 'au revoir', 'goodbye']) expect(said).toContain(expression);
    for (const act of ['welcome', 'send-off', 'salute', 'hail', 'greeting', 'farewell']) expect(said).not.toContain(act);
  });

  it("are remembered by every NPC that greets, with its own most frequent greeting call", () => {
    const samples = [
      sample('roderick', 'greeting', 'Good day to you', { type: 'emote', emote: 'salute' }),
      sample('roderick', 'greeting', 'Bye', { type: 'emote', emote: 'salute' }),
      sample('roderick', 'greeting', 'Hi', { type: 'emote', emote: 'nod' }),
      sample('marta', 'greeting', 'Goodbye', { type: 'emote', emote: 'wave' }),
      sample('marta', 'action', 'Take me to the inn', { type: 'walk_to', landmark: 'inn' }),
      sample('bram', 'lore', 'Who built the forge?', null),
    ];
    const memory = updatedActionMemory(undefined, samples);
    expect(memory.npcs.roderick).toContainEqual(['so long', 'emote salute']);
    expect(memory.npcs.marta).toContainEqual(['cheerio', 'emote wave']);
    expect(memory.npcs.bram).toEqual([['Who built the forge?', 'none']]);
    // The fine-tuning lines' own words, not the expressions, are what related words point at.
    expect(memory.related?.farewell?.[1]).toContain('goodbye');
    expect(Object.values(memory.related ?? {}).flat(2)).not.toContain('cheerio');
  });
});
