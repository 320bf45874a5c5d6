import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../../server/src/config.ts';
import { loadModelText, renderChat } from '../../../server/src/inference/model/index.ts';
import type { ChatMessage } from '../../../server/src/inference/tokenizer/index.ts';
import { formatReply, parseReply } from '../../../server/src/npc/action-syntax.ts';
import { createLoreIndex } from '../../../server/src/npc/lore-index.ts';
import type { Recollection } from '../../../server/src/npc/memory.ts';
import { LORE_HEADER, personaMessage, turnMessages, worldFacts } from '../../../server/src/npc/prompt.ts';
import { estimateTokens, itemPhrase, timeInWords } from '../../../server/src/npc/situation.ts';
import { isActionAllowed, type NpcScript } from '../../../server/src/npc/script-schema.ts';
import { parseSamples, serializeSamples, type WorldSample } from '../sample.ts';
import { rewritePerson } from '../../../server/src/npc/english.ts';
import { dialogueExamples } from '../../trainer/training-data.ts';
import { buildWorldCorpus, type WorldCorpus } from './generate.ts';
import { DEFAULT_HANDWRITTEN, DEFAULT_HANDWRITTEN_VALID, handwrittenLineKey, loadHandwritten, parseHandwritten } from './handwritten.ts';
import { loadCorpusWorld, npcContexts, type CorpusWorld } from './npc-context.ts';
import { Rng } from './rng.ts';
import { writeWorldCorpus } from './write.ts';

const SEED = 11;
/** Building a corpus takes ~20 s alone, several times that on a loaded 2-core machine (CI runs test files side by side). */
const CORPUS_BUILD_TIMEOUT_MS = 240_000;
let world: CorpusWorld;
let corpus: WorldCorpus;
let all: WorldSample[];
let scripts: Map<string, NpcScript>;

beforeAll(() => {
  world = loadCorpusWorld();
  scripts = new Map(world.scripts.map((s) => [s.id, s]));
  corpus = buildWorldCorpus({ seed: SEED, world, scale: 0.5 });
  all = [...corpus.train, ...corpus.valid, ...corpus.test];
}, CORPUS_BUILD_TIMEOUT_MS);

/** The Recollection that `memoryMessages` turns into these chat messages (the part between the lore and the player's line). */
function recollectionOf(middle: ChatMessage[]): Recollection {
  const turns = [...middle];
  let summary: string | undefined;
  const first = turns[0];
  const m = first?.role === 'user' ? /^\(Earlier, we talked about: ([\s\S]*)\)$/.exec(first.content) : null;
  if (m && turns[1]?.role === 'assistant') {
    summary = m[1];
    turns.splice(0, 2);
  }
  return { ...(summary !== undefined ? { summary } : {}), turns: turns.map((t) => ({ role: t.role === 'user' ? 'player' : 'npc', text: t.content, ts: 0 })), tokens: 0, folded: 0 };
}

/** What the server builds for this line: persona, retrieved lore, memory, line (server code only). */
function serverMessages(s: WorldSample): ChatMessage[] {
  const script = scripts.get(s.npcId)!;
  const persona = personaMessage(script, worldFacts(world.map));
  const systems = s.messages.findIndex((m) => m.role !== 'system'); // persona, lore, situation
  const middle = s.messages.slice(systems, -1);
  return turnMessages({
    persona,
    lore: createLoreIndex(script.lore),
    loreFacts: ConfigSchema.shape.NPC_LORE_FACTS.parse(undefined),
    memory: recollectionOf(middle),
    playerLine: s.player,
    situation: s.situation,
    situationBudget: { maxTokens: ConfigSchema.shape.NPC_SITUATION_TOKENS.parse(undefined), countTokens: estimateTokens },
  }).messages;
}

describe('world corpus', () => {
  it('is the same for the same seed, and different for another seed', () => {
    const again = buildWorldCorpus({ seed: SEED, world, scale: 0.5 });
    for (const split of ['train', 'valid', 'test'] as const) expect(serializeSamples(again[split])).toBe(serializeSamples(corpus[split]));
    expect(again.heldOut).toEqual(corpus.heldOut);
    const other = buildWorldCorpus({ seed: SEED + 1, world, scale: 0.2 });
    expect(serializeSamples(other.train)).not.toBe(serializeSamples(corpus.train));
  }, CORPUS_BUILD_TIMEOUT_MS);

  it('has sensible sizes, every kind, every NPC, and ids unique', () => {
    expect(corpus.train.length).toBeGreaterThan(8000);
    expect(corpus.valid.length).toBeGreaterThan(100);
    expect(corpus.test.length).toBeGreaterThan(300);
    for (const split of [corpus.train, corpus.test]) {
      const kinds = new Set(split.map((s) => s.kind));
      for (const k of ['lore', 'action', 'greeting', 'smalltalk', 'schedule', 'refusal', 'injection']) expect(kinds).toContain(k);
      expect(new Set(split.map((s) => s.npcId))).toEqual(new Set(scripts.keys()));
    }
    expect(new Set(all.map((s) => s.id)).size).toBe(all.length);
    expect(corpus.train.some((s) => s.messages.some((m) => m.role === 'assistant'))).toBe(true); // some carry memory
  });

  it("builds every sample's messages with the server's prompt code", () => {
    const rng = Rng.derive(1, 'test-subset');
    const subset = [...rng.sample(corpus.train, 300), ...rng.sample(corpus.test, 100), ...corpus.train.filter((s) => s.messages.length > 3).slice(0, 100)];
    for (const s of subset) {
      expect(s.messages).toEqual(serverMessages(s));
      expect(s.messages.at(-1)).toEqual({ role: 'user', content: s.player });
    }
    // And they render with the served model's chat template.
    const text = loadModelText(ConfigSchema.shape.MODEL_DIR.parse(undefined));
    for (const s of subset.slice(0, 20)) expect(renderChat(text, s.messages)).toContain(s.player.split('\n')[0]!.replace(/<\|[^|]*\|>/g, '').slice(0, 10));
  });

  it('tokenizes for training with each persona encoded once, to exactly the ids of the whole prompt', () => {
    // The trainer (like the engine) encodes a persona once and reuses its ids: the same ids as encoding each whole prompt.
    const text = loadModelText(ConfigSchema.shape.MODEL_DIR.parse(undefined));
    const rng = Rng.derive(2, 'tokenize-subset');
    const subset = [...rng.sample(corpus.train, 300), ...rng.sample(corpus.test, 100), ...corpus.train.filter((s) => s.messages.length > 3).slice(0, 50), ...all.filter((s) => s.player.includes('<|')).slice(0, 50)];
    expect(subset.some((s) => s.player.includes('<|'))).toBe(true); // injections that spell a chat marker
    const { examples } = dialogueExamples(text, subset, 1 << 20);
    expect(examples).toHaveLength(subset.length);
    let shared = 0;
    subset.forEach((s, i) => {
      const whole = text.tokenizer.encode(renderChat(text, s.messages, { addGenerationPrompt: true }));
      expect(examples[i]!.prompt).toEqual(whole);
      if (examples[i]!.prefixLength) shared++;
    });
    expect(shared).toBe(subset.length); // every sample has the persona prefix the packed rows share
  });

  it('gives every sample a situation block after the shared persona, and answers situation questions from it', () => {
    const personas = new Map<string, string>();
    for (const s of all) {
      expect(s.situation, s.id).toBeDefined();
      // The persona (the cached prefix) is the same for every sample of an NPC, whatever the situation.
      const persona = personas.get(s.npcId) ?? s.messages[0]!.content;
      personas.set(s.npcId, persona);
      expect(s.messages[0]!.content).toBe(persona);
      expect(s.messages[0]!.content).not.toContain('What you notice now');
      const block = s.messages.find((m) => m.role === 'system' && m.content.startsWith('What you notice now'));
      expect(block, s.id).toBeDefined();
      const index = s.messages.indexOf(block!);
      expect(index).toBeGreaterThan(0);
      if (s.messages[1]!.content.startsWith(LORE_HEADER)) expect(index).toBe(2);
      expect(block!.content).toContain(timeInWords(s.situation!.time));
      // Everything the sample's situation holds is shown (generated situations fit the budget whole).
      for (const name of [...s.situation!.players, ...s.situation!.npcs]) expect(block!.content).toContain(name);
      for (const [item, n] of Object.entries(s.situation!.inventory)) expect(block!.content).toContain(itemPhrase(item, n));
    }
    const situational = all.filter((s) => s.template?.startsWith('sit.'));
    expect(situational.length).toBeGreaterThan(200);
    for (const s of situational) {
      const sit = s.situation!;
      if (s.template!.startsWith('sit.time.')) expect(s.speech.toLowerCase()).toContain(timeInWords(sit.time));
      if (s.template!.startsWith('sit.who.')) for (const name of [...sit.players, ...sit.npcs]) expect(s.speech).toContain(name);
      if (s.template!.startsWith('sit.carry.')) for (const [item, n] of Object.entries(sit.inventory)) expect(s.speech).toContain(itemPhrase(item, n));
    }
    // Varied: times, companions, items and events differ between samples, and some scenes are busy.
    const train = corpus.train.map((s) => s.situation!);
    expect(new Set(train.map((x) => x.time)).size).toBeGreaterThan(200);
    // A small share states the NPC's trust in the speaker (the server's line, only when it is not 0).
    const trusting = all.filter((s) => s.situation!.trust);
    expect(trusting.length / all.length).toBeGreaterThan(0.03);
    expect(trusting.length / all.length).toBeLessThan(0.15);
    expect(new Set(trusting.map((s) => s.situation!.trust)).size).toBe(6);
    for (const s of all) {
      const block = s.messages.find((m) => m.role === 'system' && m.content.startsWith('What you notice now'))!.content;
      expect(block.includes('\n- Trust: '), s.id).toBe(Boolean(s.situation!.trust));
    }
    expect(train.some((x) => x.players.length === 3)).toBe(true);
    expect(train.some((x) => x.events.length === 2)).toBe(true);
    expect(train.some((x) => Object.keys(x.inventory).length === 0)).toBe(true);
    // Situation phrasings are held out for test like every other family.
    expect(corpus.test.some((s) => s.template?.startsWith('sit.') && corpus.heldOut.templates.test.includes(s.template))).toBe(true);
  });

  it('only uses legal actions, and the reply is the speech plus its call', () => {
    for (const s of all) {
      if (s.action) expect(isActionAllowed(scripts.get(s.npcId)!.actions, s.action), `${s.npcId}: ${s.reply}`).toBe(true);
      expect(s.reply).toBe(formatReply(s.speech, s.action));
      const parsed = parseReply(s.reply);
      expect(parsed.malformed).toBe(false);
      expect(parsed.action).toEqual(s.action);
      expect(parsed.speech).toBe(s.speech);
      expect(s.speech.split(/\s+/).length).toBeLessThanOrEqual(45);
      if (s.kind === 'refusal' || s.kind === 'injection') {
        expect(s.refusal).toBe(true);
        expect(s.action).toBeNull();
      }
      if (s.kind === 'lore') {
        expect(s.fact).toBeDefined();
        expect(s.factKeywords!.length).toBeGreaterThan(0);
        // The answer states the fact: every keyword is in the speech, and the fact is in the prompt.
        for (const k of s.factKeywords!) expect(s.speech.toLowerCase()).toContain(k);
        expect(s.messages[1]!.content).toContain(s.fact!);
      }
    }
  });

  it('never lets a held-out fact or template into train', () => {
    const heldTemplates = new Set([...corpus.heldOut.templates.test, ...corpus.heldOut.templates.valid]);
    const heldFacts = [...corpus.heldOut.facts.test, ...corpus.heldOut.facts.valid];
    expect(corpus.heldOut.facts.test.length).toBeGreaterThan(0);
    expect(corpus.heldOut.templates.test.length).toBeGreaterThan(0);
    const heldFactTexts = new Set(heldFacts.map((f) => f.text));
    const npcOf = (id: string) => id.split('#')[0]!;
    const firstPersons = heldFacts.map((f) => rewritePerson(f.text, npcContexts(world).find((c) => c.script.id === npcOf(f.id))!.self, 'first'));
    for (const s of corpus.train) {
      expect(heldTemplates.has(s.template ?? '')).toBe(false);
      if (s.fact) expect(heldFactTexts.has(s.fact)).toBe(false);
      // Neither as an answer nor in the remembered turns of a train prompt.
      const said = [s.speech, ...s.messages.filter((m) => m.role === 'assistant').map((m) => m.content)];
      for (const fp of firstPersons) for (const text of said) expect(text.includes(fp)).toBe(false);
    }
    // Every held-out sample is held out for a reason.
    for (const s of [...corpus.valid, ...corpus.test]) {
      // (Out-of-world topics and the topics of "I don't know" lines are held out with their topic / fact.)
      const reason = heldTemplates.has(s.template ?? '') || (s.fact !== undefined && heldFactTexts.has(s.fact)) || s.kind === 'refusal' || s.template?.startsWith('unknown.');
      expect(reason, `${s.template} ${s.player}`).toBe(true);
    }
    // Lore on held-out facts is in test, in several phrasings.
    const heldFactSamples = corpus.test.filter((s) => s.fact && corpus.heldOut.facts.test.some((f) => f.text === s.fact));
    expect(heldFactSamples.length).toBeGreaterThan(20);
  });

  it('loads the hand-written lines, with legal expected actions and real facts', () => {
    const samples = loadHandwritten(world, DEFAULT_HANDWRITTEN);
    expect(samples.length).toBeGreaterThanOrEqual(60);
    expect(samples.length).toBeLessThanOrEqual(120);
    for (const s of samples) {
      expect(s.split).toBe('test');
      expect(s.source).toBe('handwritten');
      if (s.action) expect(isActionAllowed(scripts.get(s.npcId)!.actions, s.action), `${s.npcId}: ${s.player}`).toBe(true);
      if (s.kind === 'lore') {
        expect(scripts.get(s.npcId)!.lore).toContain(s.fact);
        for (const k of s.factKeywords!) expect(s.fact!.toLowerCase()).toContain(k);
      }
      expect(s.messages).toEqual(serverMessages(s));
    }
    const kinds = new Set(samples.map((s) => s.kind));
    for (const k of ['lore', 'action', 'refusal', 'injection', 'schedule', 'greeting']) expect(kinds).toContain(k);
    // A wrong line is reported, not loaded.
    expect(() => parseHandwritten('- {npc: bram, kind: action, line: "x", action: {type: follow}}', world)).toThrow(/not allowed/);
    expect(() => parseHandwritten('- {npc: bram, kind: lore, line: "x", keywords: [zeppelin]}', world)).toThrow(/no lore fact/);
    // The same words to the same NPC twice, case and punctuation aside, is one line written twice.
    const twice = '- {npc: finn, kind: greeting, line: "hiya finn", action: {type: emote, emote: wave}}\n- {npc: finn, kind: greeting, line: "Hiya, Finn!", action: {type: emote, emote: wave}}';
    expect(() => parseHandwritten(twice, world)).toThrow(/entry 1 .*repeats entry 0/);
  });

  it('loads the hand-written validation lines into the valid split, none of them a test line', () => {
    const samples = loadHandwritten(world, DEFAULT_HANDWRITTEN_VALID, undefined, 'valid');
    expect(samples.length).toBeGreaterThanOrEqual(50);
    for (const s of samples) {
      expect(s.split).toBe('valid');
      expect(s.source).toBe('handwritten');
      expect(s.messages).toEqual(serverMessages(s));
    }
    const kinds = new Set(samples.map((s) => s.kind));
    for (const k of ['lore', 'action', 'refusal', 'injection', 'greeting']) expect(kinds).toContain(k);
    const testLines = new Set(loadHandwritten(world, DEFAULT_HANDWRITTEN).map((s) => handwrittenLineKey(s.npcId, s.player)));
    for (const s of samples) expect(testLines.has(handwrittenLineKey(s.npcId, s.player)), s.player).toBe(false);
  });
});

describe('writeWorldCorpus', () => {
  const dir = mkdtempSync(join(tmpdir(), 'world-corpus-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the splits and a manifest with counts, hold-outs and hashes', () => {
    const manifest = writeWorldCorpus({ seed: SEED, world, scale: 0.3, outDir: dir });
    const test = parseSamples(readFileSync(join(dir, 'test.jsonl'), 'utf8'));
    expect(test.filter((s) => s.source === 'handwritten').length).toBe(manifest.handwritten.samples);
    const valid = parseSamples(readFileSync(join(dir, 'valid.jsonl'), 'utf8'));
    expect(valid.filter((s) => s.source === 'handwritten').length).toBe(manifest.handwrittenValid.samples);
    expect(manifest.handwrittenValid.samples).toBeGreaterThan(0);
    expect(manifest.counts.test.total).toBe(test.length);
    expect(manifest.files['train.jsonl']!.samples).toBe(manifest.counts.train.total);
    expect(manifest.heldOut.facts.test.length).toBeGreaterThan(0);
    expect(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'))).toEqual(JSON.parse(JSON.stringify(manifest)));
  }, CORPUS_BUILD_TIMEOUT_MS);
});

describe('group rounds', () => {
  const SAYS = /^"[^"\n]{1,42}" says: /;
  it('some train samples are group rounds as the server builds them; held-out splits stay one-player', () => {
    const groups = corpus.train.filter((s) => s.messages.some((m) => m.role === 'user' && SAYS.test(m.content)));
    expect(corpus.stats.withGroupLines).toBe(groups.length);
    expect(groups.length).toBeGreaterThan(corpus.train.length * 0.03);
    for (const s of groups.slice(0, 200)) {
      const last = s.messages.at(-1)!;
      // The addressed line is last and is the sample's own; the reply answers it.
      expect(last).toEqual({ role: 'user', content: s.player });
      const heard = s.messages.filter((m) => m.role === 'user' && SAYS.test(m.content));
      expect(heard.length).toBeGreaterThanOrEqual(1);
      expect(heard.length).toBeLessThanOrEqual(3);
      const names = heard.map((m) => m.content.match(/^"([^"]+)"/)![1]);
      expect(new Set(names).size).toBe(names.length);
      expect(names).not.toContain(s.situation?.speaker);
    }
    for (const s of [...corpus.valid, ...corpus.test]) expect(s.messages.some((m) => m.role === 'user' && SAYS.test(m.content))).toBe(false);
  });
});
