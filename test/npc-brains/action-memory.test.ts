/**
 * The action memory (server/src/npc/action-memory.ts): what it recalls for a line, the file it lives in,
 * the call prior a dialogue adds to a turn's grammar, and what that prior does on the real engine.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferenceEngine } from '../../server/src/inference/engine/engine-client.ts';
import { renderChat } from '../../server/src/inference/model/index.ts';
import { compileCallGrammar } from '../../server/src/npc/action-grammar.ts';
import {
  ACTION_MEMORY_FILE,
  ActionMemory,
  ActionMemoryError,
  actionMemoryFile,
  isQuestionLine,
  QUESTION_NONE_WEIGHT,
  readActionMemoryFile,
  writeActionMemory,
  type CallPriorRecord,
} from '../../server/src/npc/action-memory.ts';
import { parseReply } from '../../server/src/npc/action-syntax.ts';
import { personaMessage, turnMessages } from '../../server/src/npc/prompt.ts';
import { dialogueCompiler, SERVER_DIALOGUE_SETTINGS } from '../../tools/eval/generation.ts';
import { DEFAULT_MODEL_DIR, defaultModelText, shippedScripts, shippedWorld } from '../support/shipped-world.ts';

const BODIES = ['none', 'walk_to forge', 'walk_to well', 'give_item horseshoe', 'emote nod'];
const EXAMPLES = [
  { npcId: 'bram', line: 'Take me to the forge, please.', call: 'walk_to forge' },
  { npcId: 'bram', line: 'Could you show me the way to the forge?', call: 'walk_to forge' },
  { npcId: 'bram', line: 'Walk me over to the old well.', call: 'walk_to well' },
  { npcId: 'bram', line: 'Got a horseshoe for luck?', call: 'give_item horseshoe' },
  { npcId: 'bram', line: 'Could you spare a horseshoe?', call: 'give_item horseshoe' },
  { npcId: 'bram', line: 'What do you think of the weather?', call: 'none' },
  { npcId: 'marta', line: 'Take me to the inn.', call: 'walk_to inn' },
];
const noScript = { lore: [], examples: [] };
const top = (prior: CallPriorRecord | undefined) => Object.entries(prior!.weights).sort(([, a], [, b]) => b - a)[0]![0];

describe('recalling calls for a line', () => {
  const memory = ActionMemory.fromExamples(EXAMPLES);
  const bram = memory.recall('bram', noScript)!;

  it('tips towards the call of the remembered lines most like it, typos and all', () => {
    expect(top(bram.prior('can you take me to the forge', BODIES, 4))).toBe('walk_to forge');
    expect(top(bram.prior('spare me a horsshoe', BODIES, 4))).toBe('give_item horseshoe');
    expect(top(bram.prior('old weell, walk me there', BODIES, 4))).toBe('walk_to well');
  });

  it('weighs every legal call, sums to one, and never gives a call zero', () => {
    const prior = bram.prior('take me to the forge', BODIES, 4)!;
    expect(Object.keys(prior.weights)).toEqual(BODIES);
    expect(Object.values(prior.weights).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 3);
    for (const w of Object.values(prior.weights)) expect(w).toBeGreaterThan(0);
    expect(prior.strength).toBe(4);
  });

  it('only votes with calls that are legal now (a trust gate shuts walk_to forge)', () => {
    const prior = bram.prior('take me to the forge', ['none', 'walk_to well', 'emote nod'], 4)!;
    expect(Object.keys(prior.weights)).toEqual(['none', 'walk_to well', 'emote nod']);
    expect(prior.weights['walk_to forge']).toBeUndefined();
  });

  it('recalls nothing when off, for a line that matches nothing, or for an NPC it holds no line for', () => {
    expect(bram.prior('take me to the forge', BODIES, 0)).toBeUndefined();
    expect(bram.prior('zzz qqq', BODIES, 4)).toBeUndefined();
    expect(bram.prior('   ', BODIES, 4)).toBeUndefined();
    expect(memory.recall('selka', noScript)).toBeUndefined();
  });

  it('lets a word no remembered line uses stand in for the related words the file gives it, and only such a word', () => {
    const lines = [...EXAMPLES, { npcId: 'bram', line: 'Stop walking, please.', call: 'stop' }];
    const bodies = [...BODIES, 'stop'];
    const plain = ActionMemory.fromExamples(lines).recall('bram', noScript)!;
    const related = ActionMemory.fromExamples(lines, { halt: [['stop'], []], dagger: [[], ['horseshoe']], forge: [['well'], []] }).recall('bram', noScript)!;
    expect(plain.prior('halt!', bodies, 4)).toBeUndefined();
    expect(top(related.prior('halt!', bodies, 4))).toBe('stop');
    // A broad relation counts too, at a lower weight than a close one.
    expect(top(related.prior('a dagger', bodies, 4))).toBe('give_item horseshoe');
    // "forge" is a word the lines use: its own lines decide, the related entry is never read.
    expect(related.prior('take me to the forge', bodies, 4)).toEqual(plain.prior('take me to the forge', bodies, 4));
  });

  it("counts the script's own lore as talk and its examples as requests", () => {
    const fact = 'Bram gives a horseshoe to travellers he likes, for luck on the road.';
    const withScript = memory.recall('bram', { lore: [fact], examples: [{ player: 'Nod if you hear me.', call: 'emote nod' }] })!;
    const question = 'Why do you give a horseshoe to travellers you like, for luck on the road?';
    expect(withScript.prior(question, BODIES, 4)!.weights.none).toBeGreaterThan(bram.prior(question, BODIES, 4)!.weights.none!);
    expect(top(withScript.prior('nod if you can hear me', BODIES, 4))).toBe('emote nod');
  });
});

describe('questions answered with none, and a line that asks nothing', () => {
  // Three lore questions that open with the greeting, one greeting that shares a word with it.
  const lines: Array<[string, string]> = [
    ['Hey there, what is your daily routine?', 'none'],
    ['Hey there, where do you sleep', 'none'],
    ['hey there whats the story with the mill', 'none'],
    ['Hi there!', 'emote wave'],
    ['Hey there, tell me about the mill.', 'none'],
  ];
  const recall = ActionMemory.fromExamples(lines.map(([line, call]) => ({ npcId: 'bram', line, call }))).recall('bram', noScript)!;
  const bodies = ['none', 'emote wave'];

  it('tells a question by its mark or by a question word among its first four words', () => {
    for (const q of ['Where do you sleep', 'hey bram, whats the story there', 'any idea about the mill', 'Is it noon?', 'you ok?']) expect(isQuestionLine(q), q).toBe(true);
    for (const q of ['Hey there', 'Evening!', 'take me to the forge', 'give me a horseshoe, thanks', 'Well met, smith. I need a whetstone and the way to the mill']) expect(isQuestionLine(q), q).toBe(false);
  });

  it("weighs a remembered question's none vote by QUESTION_NONE_WEIGHT for a line that asks nothing, and fully for a question", () => {
    expect(QUESTION_NONE_WEIGHT).toBeGreaterThan(0);
    expect(QUESTION_NONE_WEIGHT).toBeLessThan(1);
    const greeting = recall.prior('Hey there', bodies, 4)!;
    const question = recall.prior('Hey there, what is going on?', bodies, 4)!;
    // The plain "tell me about" line still votes in full: only questions are discounted.
    expect(greeting.weights['emote wave']!).toBeGreaterThan(question.weights['emote wave']!);
    expect(top(question)).toBe('none');
    // Requests and greetings are never discounted, whatever the line.
    const requests = ActionMemory.fromExamples([{ npcId: 'bram', line: 'Could you spare a horseshoe?', call: 'give_item horseshoe' }, { npcId: 'bram', line: 'What about a horseshoe?', call: 'none' }]).recall('bram', noScript)!;
    const both = ['none', 'give_item horseshoe'];
    const asked = requests.prior('a horseshoe?', both, 4)!;
    const told = requests.prior('a horseshoe', both, 4)!;
    expect(told.weights['give_item horseshoe']!).toBeGreaterThan(asked.weights['give_item horseshoe']!);
  });
});

describe('the memory file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wm-action-memory-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('round-trips, each distinct line once per NPC', () => {
    writeActionMemory(dir, actionMemoryFile([...EXAMPLES, EXAMPLES[0]!, { ...EXAMPLES[0]!, line: `  ${EXAMPLES[0]!.line} ` }]));
    const file = readActionMemoryFile(dir)!;
    expect(file.npcs.bram).toHaveLength(6);
    expect(file.npcs.marta).toEqual([['Take me to the inn.', 'walk_to inn']]);
    expect(ActionMemory.load(dir)!.size('bram')).toBe(6);
  });

  it('keeps its related words', () => {
    const related = { halt: [['stop', 'stay'], ['end']] as [string[], string[]] };
    writeActionMemory(dir, { ...actionMemoryFile(EXAMPLES), related });
    expect(readActionMemoryFile(dir)!.related).toEqual(related);
    writeActionMemory(dir, actionMemoryFile(EXAMPLES));
    expect(readActionMemoryFile(dir)!.related).toBeUndefined();
  });

  it('is optional, and a malformed one is refused with its path and reason', () => {
    expect(ActionMemory.load(join(dir, 'nothing-here'))).toBeUndefined();
    writeFileSync(join(dir, ACTION_MEMORY_FILE), '{"format": "worldmind-action-memory", "version": 1, "npcs": {"bram": [["a line"]]}}');
    expect(() => ActionMemory.load(dir)).toThrow(ActionMemoryError);
    expect(() => ActionMemory.load(dir)).toThrow(/bram.*\[line, call\] string pairs/);
    writeFileSync(join(dir, ACTION_MEMORY_FILE), '{"npcs": {}');
    expect(() => ActionMemory.load(dir)).toThrow(new RegExp(`${ACTION_MEMORY_FILE} is not valid JSON`));
    writeFileSync(join(dir, ACTION_MEMORY_FILE), '{"format": "worldmind-action-memory", "version": 1, "npcs": {}, "related": {"halt": ["stop"]}}');
    expect(() => ActionMemory.load(dir)).toThrow(/related word "halt" must map to \[close words, broad words\]/);
    writeFileSync(join(dir, ACTION_MEMORY_FILE), '{"format": "other", "npcs": {}}');
    expect(() => ActionMemory.load(dir)).toThrow(/is not a worldmind-action-memory file/);
  });
});

describe("the shipped model's memory in a turn's grammar", () => {
  const memory = ActionMemory.load(DEFAULT_MODEL_DIR)!;
  const bram = shippedScripts.get('bram')!;
  const dialogue = dialogueCompiler(defaultModelText, shippedWorld, SERVER_DIALOGUE_SETTINGS, memory);

  it('holds every shipped NPC', () => {
    expect(memory.npcIds.sort()).toEqual([...shippedScripts.keys()].sort());
  });

  it('adds the call prior to the grammar record, and the record replays to the same constraint', () => {
    const turn = dialogue.turnGrammar(bram, 'hey can we go to the forge together');
    expect(top(turn.grammar.callPrior)).toBe('walk_to forge');
    expect(compileCallGrammar(turn.grammar.bodies, defaultModelText.tokenizer, turn.grammar)).toEqual(turn.constraint);
  });

  it('adds none when it is off or the model has no memory', () => {
    expect(dialogueCompiler(defaultModelText, shippedWorld, { ...SERVER_DIALOGUE_SETTINGS, actionMemory: 0 }, memory).turnGrammar(bram, 'take me to the forge').grammar.callPrior).toBeUndefined();
    expect(dialogueCompiler(defaultModelText, shippedWorld, SERVER_DIALOGUE_SETTINGS).turnGrammar(bram, 'take me to the forge').grammar.callPrior).toBeUndefined();
  });
});

describe('the call prior on the real engine', () => {
  let engine: InferenceEngine;
  beforeAll(async () => {
    engine = await InferenceEngine.start({ modelDir: DEFAULT_MODEL_DIR, intraOpThreads: 1 });
  });
  afterAll(async () => {
    await engine.close();
  });

  const bram = shippedScripts.get('bram')!;
  const compiled = dialogueCompiler(defaultModelText, shippedWorld).compiled(bram);
  const line = 'Nice weather today.';
  const prompt = renderChat(
    defaultModelText,
    turnMessages({ persona: personaMessage(bram, shippedWorld), lore: compiled.lore, loreFacts: 3, memory: { turns: [], tokens: 0, folded: 0 }, playerLine: line }).messages,
  );
  const call = async (bodies: string[], callPrior?: CallPriorRecord) =>
    parseReply((await engine.generate({ prompt, maxTokens: 40, temperature: 0, constraint: compileCallGrammar(bodies, defaultModelText.tokenizer, { maxSpeechTokens: 24, ...(callPrior ? { callPrior } : {}) }) }).result).text).body;

  it('a strong prior decides the call either way; the model decides without one', async () => {
    const bodies = ['none', 'emote nod', 'walk_to well'];
    // Far stronger than the server's default, so the outcome does not depend on what this model prefers.
    const towards = (body: string): CallPriorRecord => ({ strength: 20, weights: Object.fromEntries(bodies.map((b) => [b, b === body ? 0.98 : 0.01])) });
    for (const body of bodies) expect(await call(bodies, towards(body))).toBe(body);
    const unbiased = await call(bodies);
    expect(bodies).toContain(unbiased);
    expect(await call(bodies, { strength: 0, weights: towards('walk_to well').weights })).toBe(unbiased);
  });
});
