import { describe, expect, it } from 'vitest';
import { parseReply } from '../../../server/src/npc/action-syntax.ts';
import { LORE_HEADER } from '../../../server/src/npc/prompt.ts';
import type { WorldSample } from '../sample.ts';
import { buildWorldCorpus } from './generate.ts';
import { loadCorpusWorld, npcContexts } from './npc-context.ts';
import { drillSentences, readingDrills, spliceDrills } from './reading-drills.ts';

const TEXT = `It is a truth universally acknowledged, that a single man in possession of a good fortune must be in want of a wife.

Call me Ishmael. Some years ago, never mind how long precisely, having little money in my purse, I thought I would sail about a little.
The smith hammered the glowing horseshoe on his anvil until the evening bell rang over Emberfall.
[A bracketed line that must never become speech, because the action grammar forbids brackets.]
The miller ground the barley at the old wheel while the river ran high after the spring rain.
The guard counted the carts at the gate and wrote each name in the ledger beside the door.
Short one.
The merchant sold salt from the southern pans to the farmers who came to the square on market day.`;

describe('reading drills', () => {
  const world = loadCorpusWorld();
  const corpus = buildWorldCorpus({ seed: 5, world, scale: 0.2 });
  const sentences = drillSentences(TEXT);
  const heldOut = new Set(['lore.topic.t01', 'lore.topic.t02', 'lore.topic.t03']);
  const drills = readingDrills(corpus.train, { count: 60, seed: 3, sentences, heldOutTemplates: heldOut });

  it('takes whole prose sentences only: no brackets, none too short or too long', () => {
    expect(sentences).toContain('The smith hammered the glowing horseshoe on his anvil until the evening bell rang over Emberfall.');
    expect(sentences.some((s) => s.includes('['))).toBe(false);
    expect(sentences).not.toContain('Short one.');
  });

  it('asks about one bullet of the replaced lore block and answers with that bullet, with no action', () => {
    expect(drills.length).toBe(60);
    for (const d of drills) {
      const lore = d.messages.find((m) => m.role === 'system' && m.content.startsWith(LORE_HEADER))!;
      const bullets = lore.content.split('\n').slice(1).map((b) => b.slice(2));
      expect(bullets).toContain(d.speech);
      expect(sentences).toContain(d.speech);
      // The topic asked about is in the answer and in no other bullet.
      const topic = d.factKeywords![0]!;
      expect(d.player.toLowerCase()).toContain(topic);
      expect(d.speech.toLowerCase()).toContain(topic);
      for (const other of bullets.filter((b) => b !== d.speech)) expect(other.toLowerCase().split(/\W+/)).not.toContain(topic);
      // The player's line is the last message; the persona and situation are the base sample's.
      expect(d.messages.at(-1)).toEqual({ role: 'user', content: d.player });
      expect(heldOut.has(d.template!)).toBe(false);
      expect(d.split).toBe('train');
      const parsed = parseReply(d.reply);
      expect(parsed.malformed).toBe(false);
      expect(parsed.action).toBeNull();
      expect(parsed.speech).toBe(d.speech);
    }
  });

  it('is deterministic from its seed and keeps the base prompt apart from the lore block and the line', () => {
    const again = readingDrills(corpus.train, { count: 60, seed: 3, sentences, heldOutTemplates: heldOut });
    expect(again).toEqual(drills);
    const byId = new Map<string, WorldSample>(corpus.train.map((s) => [s.id, s]));
    for (const d of drills) {
      const base = byId.get(d.id.replace(/~drill\d+$/, ''))!;
      expect(base.kind).toBe('lore');
      expect(d.messages.length).toBe(base.messages.length);
      expect(d.messages[0]).toEqual(base.messages[0]);
    }
  });

  it('with person drills, names the NPC in a bullet and answers about it in the first person', () => {
    const people = drillSentences(`${TEXT}

He hammered the broken hinge of the chapel door until the sun went down behind the hill.
She carried the heavy basket of apples to the market square before the bell rang at noon.
He sold his old grey mare to the miller for three silver coins and a sack of flour.
She lit the brass lantern above the door and swept the steps of the inn every evening.`);
    const selves = new Map(npcContexts(world).map((c) => [c.script.id, c.self]));
    const mixed = readingDrills(corpus.train, { count: 80, seed: 9, sentences: people, heldOutTemplates: heldOut, selves, personShare: 0.5 });
    expect(mixed.length).toBe(80);
    const personal = mixed.filter((d) => d.speech !== d.fact);
    expect(personal.length).toBeGreaterThan(15);
    expect(personal.length).toBeLessThan(65);
    for (const d of personal) {
      const self = selves.get(d.npcId)!;
      const first = self.name.split(' ').find((w) => w !== 'Sergeant')!;
      expect(d.fact!.startsWith(`${first} `)).toBe(true); // the pronoun gave way to the NPC's name
      expect(d.speech.startsWith('I ')).toBe(true);
      expect(d.speech.slice(2).split(' ').slice(1).join(' ')).toBe(d.fact!.split(' ').slice(2).join(' ').replace(/\bhis\b/g, 'my').replace(/\bher\b/g, 'my'));
      const bullets = d.messages.find((m) => m.role === 'system' && m.content.startsWith(LORE_HEADER))!.content.split('\n').slice(1).map((b) => b.slice(2));
      expect(bullets).toContain(d.fact);
      expect(d.speech.toLowerCase()).toContain(d.factKeywords![0]!);
      expect(parseReply(d.reply).speech).toBe(d.speech);
    }
    expect(() => readingDrills(corpus.train, { count: 1, seed: 1, sentences: people, selves, personShare: 2 })).toThrow(/between 0 and 1/);
  });

  it('splice drills: a train fact finished by another train fact, in the lore block, answered in the first person', () => {
    const selves = new Map(npcContexts(world).map((c) => [c.script.id, c.self]));
    const spliced = spliceDrills(corpus.train, { count: 50, seed: 4, selves, heldOutTemplates: heldOut });
    expect(spliced.length).toBe(50);
    const trainFacts = [...new Set(corpus.train.filter((s) => s.kind === 'lore' && s.fact).map((s) => s.fact!))];
    const byId = new Map<string, WorldSample>(corpus.train.map((s) => [s.id, s]));
    for (const d of spliced) {
      const base = byId.get(d.id.replace(/~splice\d+$/, ''))!;
      expect(base.kind).toBe('lore');
      expect(trainFacts).not.toContain(d.fact); // a new sentence…
      const words = d.fact!.split(' ');
      // …that starts as the base's fact and ends as another train fact.
      expect(base.fact!.startsWith(words.slice(0, 3).join(' '))).toBe(true);
      expect(trainFacts.some((f) => f !== base.fact && f.endsWith(words.slice(-2).join(' ')))).toBe(true);
      const bullets = d.messages.find((m) => m.role === 'system' && m.content.startsWith(LORE_HEADER))!.content.split('\n').slice(1).map((b) => b.slice(2));
      expect(bullets).toContain(d.fact);
      expect(bullets).not.toContain(base.fact);
      expect(d.speech.toLowerCase()).toContain(d.factKeywords![0]!);
      expect(d.player.toLowerCase()).toContain(d.factKeywords![0]!);
      expect(heldOut.has(d.template!)).toBe(false);
      expect(parseReply(d.reply).speech).toBe(d.speech);
    }
    // First person where the fact names the NPC.
    expect(spliced.some((d) => d.speech !== d.fact && /^(I|My) /.test(d.speech))).toBe(true);
    expect(spliceDrills(corpus.train, { count: 50, seed: 4, selves, heldOutTemplates: heldOut })).toEqual(spliced);
  });
});
