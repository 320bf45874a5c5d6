/**
 * A fingerprint of the prompt an NPC's turns are built with: one canonical turn — the persona, lore
 * retrieved for a fixed line, a situation with every kind of line, a remembered exchange and a summary —
 * assembled by `turnMessages` and hashed. A fine-tuned model records the fingerprints of the prompts it
 * was trained on (tools/trainer/recipes); a test compares them with what the server builds now, so a
 * change to the prompt format or a script's persona cannot ship without retraining the model.
 */
import { createHash } from 'node:crypto';
import { formatReply } from './action-syntax.ts';
import { createLoreIndex } from './lore-index.ts';
import { personaMessage, turnMessages, type WorldFacts } from './prompt.ts';
import type { NpcScript } from './script-schema.ts';

const CANONICAL_LINE = 'What do you know about the town, and can you show me the way?';

export function promptFingerprint(script: NpcScript, world: WorldFacts): string {
  const { messages } = turnMessages({
    persona: personaMessage(script, world),
    lore: createLoreIndex(script.lore),
    loreFacts: 3,
    playerLine: CANONICAL_LINE,
    situation: {
      time: 12 * 60 + 30,
      activity: 'working',
      place: world.landmarks[0]?.name ?? 'the square',
      speaker: 'Ada',
      players: ['Bo'],
      npcs: ['Someone'],
      inventory: { apple: 2 },
      events: [{ kind: 'player_arrived', player: 'Bo' }, { kind: 'item_given', player: 'Bo', item: 'apple' }, { kind: 'chat', player: 'Bo', text: 'fine day' }],
      trust: 1,
    },
    memory: {
      summary: 'the weather',
      turns: [
        { role: 'player', text: 'Hello there.', ts: 1 },
        { role: 'npc', text: formatReply('Hello, stranger.', null), ts: 2 },
      ],
      tokens: 0,
      folded: 1,
    },
  });
  return createHash('sha256').update(JSON.stringify(messages)).digest('hex').slice(0, 16);
}

/** Fingerprints of every script, by id. */
export function promptFingerprints(scripts: readonly NpcScript[], world: WorldFacts): Record<string, string> {
  return Object.fromEntries([...scripts].sort((a, b) => a.id.localeCompare(b.id)).map((s) => [s.id, promptFingerprint(s, world)]));
}
