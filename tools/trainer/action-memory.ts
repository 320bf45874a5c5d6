/**
 * The action memory a dialogue fine-tune leaves in its model directory (server/src/npc/action-memory.ts
 * says what it is and how the server recalls it): the player lines the run trained on, with their calls.
 * A run on some NPCs (train:npcs) replaces those NPCs' lines and keeps the others' from the model it
 * started from.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { actionMemoryFile, actionMemoryTerm, readActionMemoryFile, writeActionMemory, type ActionMemoryFile } from '../../server/src/npc/action-memory.ts';
import { splitWords } from '../../server/src/npc/lore-index.ts';
import { actionBody } from '../../server/src/npc/action-syntax.ts';
import type { WorldSample } from '../corpus/sample.ts';
import { hasWordNet, relatedWords, WORDNET_DIR } from './related-words.ts';
import { readTrainingSamples } from './training-data.ts';

/**
 * `base`'s memory with every NPC that `samples` speak to remembered from `samples` instead, and the
 * related words of its vocabulary from WordNet (related-words.ts) — without them, with a warning on
 * stderr, when WordNet is not installed.
 */
export function updatedActionMemory(base: ActionMemoryFile | undefined, samples: readonly WorldSample[], wordnetDir = WORDNET_DIR): ActionMemoryFile {
  const fresh = actionMemoryFile(samples.map((s) => ({ npcId: s.npcId, line: s.player, call: actionBody(s.action) })));
  const npcs = { ...(base?.npcs ?? {}), ...fresh.npcs };
  if (!hasWordNet(wordnetDir)) {
    console.warn(`train: no WordNet at ${wordnetDir} (apt-get install wordnet-base): the action memory is written without related words`);
    return { ...fresh, npcs };
  }
  return { ...fresh, npcs, related: relatedWords(memoryVocabulary(npcs), wordnetDir) };
}

/** Every term the memory's lines use. */
function memoryVocabulary(npcs: ActionMemoryFile['npcs']): Set<string> {
  const terms = new Set<string>();
  for (const pairs of Object.values(npcs)) {
    for (const [line] of pairs) {
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
