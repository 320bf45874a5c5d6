/**
 * Call-argument grounding (server/src/npc/call-grounding.ts): the places and items a line names, found
 * with the shipped map's own names for them, and what they do to a turn's call prior — on the shipped
 * world, the default model's action memory and the real engine.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferenceEngine } from '../../server/src/inference/engine/engine-client.ts';
import { renderChat } from '../../server/src/inference/model/index.ts';
import { compileCallGrammar } from '../../server/src/npc/action-grammar.ts';
import { ActionMemory, type CallPriorRecord } from '../../server/src/npc/action-memory.ts';
import { parseReply } from '../../server/src/npc/action-syntax.ts';
import { groundCallWeights, groundedCallPrior, npcGazetteer, UNREACHABLE, WorldGazetteer } from '../../server/src/npc/call-grounding.ts';
import { personaMessage, turnMessages } from '../../server/src/npc/prompt.ts';
import { dialogueCompiler, SERVER_DIALOGUE_SETTINGS } from '../../tools/eval/generation.ts';
import { DEFAULT_MODEL_DIR, defaultModelText, shippedScripts, shippedWorld } from '../support/shipped-world.ts';

const bram = shippedScripts.get('bram')!;
const sum = (weights: Record<string, number>, prefix: string) => Object.entries(weights).filter(([b]) => b.startsWith(prefix)).reduce((s, [, w]) => s + w, 0);

describe('the names a line mentions', () => {
  const gazetteer = npcGazetteer(bram, shippedWorld);
  const find = (line: string) => {
    const named = gazetteer.find(line);
    return { places: named.places.sort(), items: named.items.sort() };
  };

  it("finds the map's names and aliases, case and punctuation aside", () => {
    expect(find('Be a friend and bring me to the WELL!')).toEqual({ places: ['well'], items: [] });
    expect(find('is ashwater bridge far from the tavern?')).toEqual({ places: ['bridge', 'inn'], items: [] });
    expect(find("show me bram's forge")).toEqual({ places: ['forge'], items: [] });
  });

  it('prefers the longer name: the market well is the well, the Inn Stables are the stables', () => {
    expect(find('meet me at the market well')).toEqual({ places: ['well'], items: [] });
    expect(find('Can we go to the Inn Stables together?')).toEqual({ places: ['stables'], items: [] });
    expect(find('a map of the town, please')).toEqual({ places: [], items: ['town_map'] });
  });

  it('needs a determiner before a one-word place name, so "well met" names no place', () => {
    expect(find('Well met, smith')).toEqual({ places: [], items: [] });
    expect(find('take me to your forge')).toEqual({ places: ['forge'], items: [] });
    expect(find('market')).toEqual({ places: [], items: [] });
  });

  it("finds items by their catalogue names and plurals, and an NPC's item missing from the catalogue by its id", () => {
    expect(find('got any horseshoes?')).toEqual({ places: [], items: ['horseshoe'] });
    expect(find('I could use a sharpening stone')).toEqual({ places: [], items: ['whetstone'] });
    const gazetteer = new WorldGazetteer([], []);
    expect(gazetteer.find('a lantern oil, please').items).toEqual([]);
    const withOwnItem = npcGazetteer({ places: {}, actions: { give_item: { item: ['lantern_oil'] } } } as never, { ...shippedWorld, items: [] });
    expect(withOwnItem.find('some lantern oil, please').items).toEqual(['lantern_oil']);
  });
});

describe('grounding the call weights', () => {
  const bodies = ['none', 'walk_to forge', 'walk_to well', 'walk_to gate', 'give_item horseshoe', 'give_item whetstone', 'emote nod'];
  const even = Object.fromEntries(bodies.map((b) => [b, 1 / bodies.length]));

  it('moves walk_to onto the named place it can reach, its total unchanged', () => {
    const weights = groundCallWeights(even, bodies, { places: ['well'], items: [] })!;
    expect(sum(weights, 'walk_to')).toBeCloseTo(sum(even, 'walk_to'), 3);
    expect(weights['walk_to well']!).toBeGreaterThan(0.97 * sum(weights, 'walk_to'));
    expect(weights['none']).toBeCloseTo(even['none']!, 3);
    expect(Object.values(weights).every((w) => w > 0)).toBe(true);
  });

  it('steps walk_to back when every named place is out of reach', () => {
    const weights = groundCallWeights(even, bodies, { places: ['bridge', 'chapel'], items: [] })!;
    const before = sum(even, 'walk_to') / (1 - sum(even, 'walk_to'));
    const after = sum(weights, 'walk_to') / (1 - sum(weights, 'walk_to'));
    expect(after / before).toBeCloseTo(UNREACHABLE, 2);
  });

  it('moves give_item onto a named item it has, and leaves other NPCs\' items alone', () => {
    const mine = groundCallWeights(even, bodies, { places: [], items: ['whetstone'] })!;
    expect(mine['give_item whetstone']!).toBeGreaterThan(0.97 * sum(mine, 'give_item'));
    expect(sum(mine, 'give_item')).toBeCloseTo(sum(even, 'give_item'), 3);
    expect(groundCallWeights(even, bodies, { places: [], items: ['bread'] })).toBeUndefined();
    expect(groundCallWeights(even, bodies, { places: [], items: [] })).toBeUndefined();
  });

  it('grounds every kind the action registry says takes a place or an item: point_at and trade too', () => {
    const kinds = ['none', 'walk_to forge', 'point_at chapel', 'point_at gate', 'trade salt_pouch 3', 'trade map 12', 'give_item ribbon'];
    const start = Object.fromEntries(kinds.map((b) => [b, 1 / kinds.length]));
    const weights = groundCallWeights(start, kinds, { places: ['chapel'], items: ['map'] })!;
    // It cannot walk to the chapel, but it can point at it; it sells maps; the ribbon it gives is not named.
    expect(weights['walk_to forge']! / weights['none']!).toBeCloseTo(UNREACHABLE, 2);
    expect(weights['point_at chapel']!).toBeGreaterThan(0.97 * sum(weights, 'point_at'));
    expect(sum(weights, 'point_at') / weights['none']!).toBeCloseTo(2, 2);
    expect(weights['trade map 12']!).toBeGreaterThan(0.97 * sum(weights, 'trade'));
    expect(weights['give_item ribbon']).toBeCloseTo(weights['none']!, 3);
  });

  it('leaves a turn without a prior without one', () => {
    expect(groundedCallPrior(undefined, bodies, { places: ['bridge'], items: [] })).toBeUndefined();
    const prior: CallPriorRecord = { strength: 4, weights: even };
    expect(groundedCallPrior(prior, bodies, { places: [], items: [] })).toBe(prior);
  });
});

describe("a turn's grammar with the shipped model's memory", () => {
  const memory = ActionMemory.load(DEFAULT_MODEL_DIR)!;
  const grounded = dialogueCompiler(defaultModelText, shippedWorld, SERVER_DIALOGUE_SETTINGS, memory);
  const ungrounded = dialogueCompiler(defaultModelText, shippedWorld, { ...SERVER_DIALOGUE_SETTINGS, callGrounding: false }, memory);

  it('grounds the recalled prior, and the record replays to the same constraint', () => {
    const line = 'walk me over to the old well, would you';
    const turn = grounded.turnGrammar(bram, line);
    const prior = turn.grammar.callPrior!;
    expect(prior.weights['walk_to well']!).toBeGreaterThan(0.97 * sum(prior.weights, 'walk_to'));
    expect(compileCallGrammar(turn.grammar.bodies, defaultModelText.tokenizer, turn.grammar)).toEqual(turn.constraint);
    // Its walk_to total is the memory's (weights are rounded to 4 decimals, hence 2 places here).
    expect(sum(prior.weights, 'walk_to')).toBeCloseTo(sum(ungrounded.turnGrammar(bram, line).grammar.callPrior!.weights, 'walk_to'), 2);
  });

  it('is off with NPC_CALL_GROUNDING=false: the memory alone', () => {
    const line = 'could you bring me to the chapel';
    const turn = ungrounded.turnGrammar(bram, line);
    const off = turn.grammar.callPrior!;
    expect(off).toEqual(ungrounded.compiled(bram).recall!.prior(line, turn.grammar.bodies, SERVER_DIALOGUE_SETTINGS.actionMemory!));
    expect(sum(grounded.turnGrammar(bram, line).grammar.callPrior!.weights, 'walk_to')).toBeLessThan(sum(off.weights, 'walk_to'));
  });
});

describe('on the real engine', () => {
  let engine: InferenceEngine;
  beforeAll(async () => {
    engine = await InferenceEngine.start({ modelDir: DEFAULT_MODEL_DIR, intraOpThreads: 1 });
  });
  afterAll(async () => {
    await engine.close();
  });

  it('an NPC asked to go where it cannot walk does not walk somewhere else', async () => {
    const memory = ActionMemory.load(DEFAULT_MODEL_DIR)!;
    const dialogue = dialogueCompiler(defaultModelText, shippedWorld, SERVER_DIALOGUE_SETTINGS, memory);
    const compiled = dialogue.compiled(bram);
    for (const line of ['walk me over to the chapel, would you', 'could you take me to the river crossing']) {
      const turn = dialogue.turnGrammar(bram, line);
      const prompt = renderChat(
        defaultModelText,
        turnMessages({ persona: personaMessage(bram, shippedWorld), lore: compiled.lore, loreFacts: 3, memory: { turns: [], tokens: 0, folded: 0 }, playerLine: line }).messages,
      );
      const reply = parseReply((await engine.generate({ prompt, maxTokens: 40, temperature: 0, constraint: turn.constraint }).result).text);
      expect((reply.body ?? '').startsWith('walk_to'), `${line} → ${reply.body}`).toBe(false);
    }
  });
});
