/**
 * The action memory a dialogue fine-tune leaves in its model directory (server/src/npc/action-memory.ts
 * says what it is and how the server recalls it): the player lines the run trained on, with their calls,
 * and WordNet's greetings and farewells with each NPC's greeting call.
 * A run on some NPCs (train:npcs) replaces those NPCs' lines and keeps the others' from the model it
 * started from.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { actionMemoryFile, actionMemoryTerm, readActionMemoryFile, writeActionMemory, type ActionMemoryFile } from '../../server/src/npc/action-memory.ts';
import { splitWords } from '../../server/src/npc/lore-index.ts';
import { actionBody } from '../../server/src/npc/action-syntax.ts';
import type { WorldSample } from '../corpus/sample.ts';
import { greetingExpressions } from './greeting-lexicon.ts';
import { relatedWords } from './related-words.ts';
import { hasWordNet, WORDNET_DIR } from './wordnet.ts';
import { readTrainingSamples } from './training-data.ts';

/**
 * `base`'s memory with every NPC that `samples` speak to remembered from `samples` instead, plus WordNet's
 * greeting and farewell expressions with the call each NPC's greetings were answered with
 * (greeting-lexicon.ts), and the related words of its vocabulary from WordNet (related-words.ts) — without
 * either, with a warning on stderr, when WordNet is not installed.
 */
export function updatedActionMemory(base: ActionMemoryFile | undefined, samples: readonly WorldSample[], wordnetDir = WORDNET_DIR): ActionMemoryFile {
  const lines = samples.map((s) => ({ npcId: s.npcId, line: s.player, call: actionBody(s.action) }));
  const wordnet = hasWordNet(wordnetDir);
  if (!wordnet) console.warn(`train: no WordNet at ${wordnetDir} (apt-get install wordnet-base): the action memory is written without its greetings and related words`);
  const expressions = wordnet ? greetingExpressions(wordnetDir) : [];
  const fresh = actionMemoryFile([...lines, ...greetingLines(samples, expressions)]);
  const npcs = { ...(base?.npcs ?? {}), ...fresh.npcs };
  if (!wordnet) return { ...fresh, npcs };
  // Related words stand in for the words of the fine-tuning lines only: counted in, the expressions would
  // crowd a word's few related slots with one-line greetings ("farewell" → adieu, adios, … instead of goodbye).
  const said = new Set(expressions);
  return { ...fresh, npcs, related: relatedWords(memoryVocabulary(npcs, (line) => !said.has(line)), wordnetDir) };
}

/** Each expression as a line of every NPC whose greetings `samples` hold, with its most frequent greeting call. */
function greetingLines(samples: readonly WorldSample[], expressions: readonly string[]): Array<{ npcId: string; line: string; call: string }> {
  const calls = new Map<string, Map<string, number>>();
  for (const s of samples) {
    if (s.kind !== 'greeting') continue;
    const counts = calls.get(s.npcId) ?? new Map<string, number>();
    const call = actionBody(s.action);
    counts.set(call, (counts.get(call) ?? 0) + 1);
    calls.set(s.npcId, counts);
  }
  return [...calls].flatMap(([npcId, counts]) => {
    const call = [...counts].sort(([a, x], [b, y]) => y - x || a.localeCompare(b))[0]![0];
    return expressions.map((line) => ({ npcId, line, call }));
  });
}

/** Every term the memory's lines (those `keep` accepts) use. */
function memoryVocabulary(npcs: ActionMemoryFile['npcs'], keep: (line: string) => boolean): Set<string> {
  const terms = new Set<string>();
  for (const pairs of Object.values(npcs)) {
    for (const [line] of pairs) {
      if (!keep(line)) continue;
      for (const word of splitWords(line)) {
        const term = actionMemoryTerm(word);
        if (term !== null) terms.add(term);
      }
    }
  }
  return terms;
}

/**
 * `npm run train -- --from <dir> --out <dir> --memory-only`: the memory a fine-tune on `corpus` would leave,
 * written into the model directory `out` (started from `from`'s memory) without training. Returns the
 * lines remembered per NPC.
 */
export function rememberCorpus(options: { from: string; out: string; corpus: string; extraSampleFiles?: readonly string[] }): Record<string, number> {
  if (!existsSync(join(options.out, 'config.json'))) throw new Error(`${options.out} is not a model directory (no config.json)`);
  if (!existsSync(join(options.corpus, 'train.jsonl'))) throw new Error(`${options.corpus} holds no dialogue corpus (train.jsonl): run npm run corpus first`);
  const samples = readTrainingSamples(options.corpus, options.extraSampleFiles);
  const memory = updatedActionMemory(readActionMemoryFile(options.from), samples);
  writeActionMemory(options.out, memory);
  return Object.fromEntries(Object.entries(memory.npcs).map(([id, lines]) => [id, lines.length]));
}
