/**
 * Lore grounding on the real engine and the shipped model: the grounding a dialogue picks for a line, the
 * constraint it adds, and what it does to a generated reply (server/src/npc/lore-grounding.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferenceEngine } from '../../server/src/inference/engine/engine-client.ts';
import { renderChat } from '../../server/src/inference/model/index.ts';
import { compileCallGrammar } from '../../server/src/npc/action-grammar.ts';
import { parseReply } from '../../server/src/npc/action-syntax.ts';
import { groundConstraint, type GroundingRecord } from '../../server/src/npc/lore-grounding.ts';
import { personaMessage, turnMessages } from '../../server/src/npc/prompt.ts';
import { SCHEDULE_FACT } from '../../server/src/npc/schedule-grounding.ts';
import { dialogueCompiler, SERVER_DIALOGUE_SETTINGS } from '../../tools/eval/generation.ts';
import { DEFAULT_MODEL_DIR, defaultModelText, shippedScripts, shippedWorld } from '../support/shipped-world.ts';

const MODEL_DIR = DEFAULT_MODEL_DIR;
const world = shippedWorld;
const scripts = shippedScripts;
const text = defaultModelText;
const bram = scripts.get('bram')!;
const QUESTION = 'Who mends the spears and helmets of the town watch?';

describe('the grounding a dialogue picks', () => {
  const dialogue = dialogueCompiler(text, world, SERVER_DIALOGUE_SETTINGS);

  it('grounds a question about a fact on that fact, in the NPC\'s first person', () => {
    const grounding = dialogue.grounding(bram, QUESTION)!;
    expect(bram.lore[grounding.fact]).toMatch(/^Bram mends the spears and helmets/);
    expect(grounding.text).toMatch(/^I mend the spears and helmets .* for half my usual price/);
    expect(grounding.bias).toBeGreaterThan(0);
  });

  it('grounds a question about the NPC\'s day on its schedule instead (schedule-grounding.ts), in the turn\'s grammar too', () => {
    const grounding = dialogue.grounding(bram, 'Where will you be at noon?')!;
    expect(grounding.fact).toBe(SCHEDULE_FACT);
    expect(grounding.text).toMatch(/^From noon I'm at the Gilded Lantern/);
    expect(dialogue.turnGrammar(bram, 'Where will you be at noon?').grammar.grounding).toEqual(grounding);
  });

  it('leaves a line that matches no fact alone, and grounds nothing when it is off', () => {
    expect(dialogue.grounding(bram, 'Hello!')).toBeUndefined();
    expect(dialogueCompiler(text, world, { ...SERVER_DIALOGUE_SETTINGS, loreGrounding: 0 }).grounding(bram, QUESTION)).toBeUndefined();
  });
});

describe('lore grounding on the real engine', () => {
  let engine: InferenceEngine;
  beforeAll(async () => {
    engine = await InferenceEngine.start({ modelDir: MODEL_DIR, intraOpThreads: 1 });
  });
  afterAll(async () => {
    await engine.close();
  });

  const persona = personaMessage(bram, world);
  const compiled = dialogueCompiler(text, world).compiled(bram);
  const prompt = renderChat(text, turnMessages({ persona, lore: compiled.lore, loreFacts: 3, memory: { turns: [], tokens: 0, folded: 0 }, playerLine: QUESTION }).messages);
  const fact = dialogueCompiler(text, world).grounding(bram, QUESTION)!;
  // Far stronger than the server's default, so the effect does not depend on what this model knows.
  const strong: GroundingRecord = { ...fact, bias: 20, continuation: 50 };
  const generate = async (bodies: string[], grounding?: GroundingRecord) =>
    (await engine.generate({ prompt, maxTokens: 80, temperature: 0, constraint: compileCallGrammar(bodies, text.tokenizer, { maxSpeechTokens: 64, ...(grounding ? { grounding } : {}) }) }).result).text;

  it('after [[none]], steers the speech into saying the fact through to its end', async () => {
    const grounded = parseReply(await generate(['none'], strong));
    expect(grounded.body).toBe('none');
    const lastWords = fact.text.replace(/[.]$/, '').split(' ').slice(-4).join(' ');
    expect(grounded.speech).toContain(lastWords);
  });

  it('is what the turn log replays: the grammar record with its grounding compiles to the same constraint', async () => {
    const fromRecord = compileCallGrammar(['none'], text.tokenizer, { maxSpeechTokens: 64, grounding: strong });
    const added = groundConstraint(compileCallGrammar(['none'], text.tokenizer, { maxSpeechTokens: 64 }), strong, text.tokenizer);
    expect(fromRecord).toEqual(added);
    expect(await generate(['none'], strong)).toBe((await engine.generate({ prompt, maxTokens: 80, temperature: 0, constraint: added }).result).text);
  });

  it('leaves a reply that acts alone: after another call the speech is the ungrounded one', async () => {
    expect(await generate(['emote nod'], strong)).toBe(await generate(['emote nod']));
  });
});
