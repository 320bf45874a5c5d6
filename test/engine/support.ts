/**
 * Shared helpers for the engine suites: tiny real models built on the spot (no stubs), and a reference
 * greedy decoder that runs one sequence alone through the model layer's own step (no engine involved).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildModelDirectory } from '../../tools/model-builder/build-model-dir.ts';
import { PRESETS } from '../../tools/model-builder/presets.ts';
import { loadModel, type DecoderModel } from '../../server/src/inference/model/index.ts';

export interface TestModelOptions {
  kvDtype?: 'float32' | 'float16';
  seed?: number;
  maxPositionEmbeddings?: number;
  /** Bigger than tiny, for tests that need steps that take a while. */
  size?: 'tiny' | 'small';
}

/**
 * Builds a model directory in a fresh temp dir. Weights use a wide initializer range so greedy output
 * varies from token to token (the default 0.02 makes a random model repeat one token, which would let
 * batching bugs hide).
 */
export function buildTestModel(options: TestModelOptions = {}): { dir: string; cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'wm-engine-'));
  const dir = join(root, 'model');
  const base = PRESETS[options.size ?? 'tiny'];
  buildModelDirectory({
    outDir: dir,
    architecture: {
      ...base,
      initializerRange: 0.3,
      kvDtype: options.kvDtype ?? 'float32',
      ...(options.maxPositionEmbeddings ? { maxPositionEmbeddings: options.maxPositionEmbeddings } : {}),
    },
    seed: options.seed ?? 7,
  });
  return { dir, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/** Greedy continuation of one prompt, alone, one token per step with the KV cache. Stops at EOS. */
export async function referenceGreedy(model: DecoderModel, prompt: readonly number[], maxTokens: number): Promise<number[]> {
  let past = model.emptyCache(1);
  let ids = BigInt64Array.from(prompt, (t) => BigInt(t));
  let position = 0;
  const out: number[] = [];
  while (out.length < maxTokens) {
    const S = ids.length;
    const step = await model.step({
      batchSize: 1,
      inputIds: ids,
      attentionMask: new BigInt64Array(past.length + S).fill(1n),
      positionIds: BigInt64Array.from({ length: S }, (_, i) => BigInt(position + i)),
      past,
    });
    position += S;
    past = step.present;
    const row = step.logits.subarray((S - 1) * step.vocabSize, S * step.vocabSize);
    let best = 0;
    for (let i = 1; i < model.usableVocabSize; i++) if (row[i]! > row[best]!) best = i;
    out.push(best);
    if (model.isEos(best)) break;
    ids = BigInt64Array.from([BigInt(best)]);
  }
  return out;
}

export async function openModel(dir: string): Promise<DecoderModel> {
  return loadModel(dir, { intraOpNumThreads: 1 });
}

/** Distinct NPC-ish prompts of different lengths. */
export const PLAYER_LINES = [
  'Hello there!',
  'What do you sell, smith?',
  'I heard the mines to the north are haunted. Is that true, or just a tale for children?',
  'Can you repair my sword?',
  'Tell me about the old king and the war with the river folk, and why nobody goes to the ruins any more.',
  'Bye.',
  'How much for the shield on the wall?',
  'Where is the tavern?',
];

export const PERSONA =
  'You are Mara, the blacksmith of Oakvale. You are gruff but kind, you love your craft, and you never ' +
  'talk about your past as a soldier. Answer in one or two sentences. ';
