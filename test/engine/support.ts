/**
 * Shared helpers for the engine suites: tiny real models built on the spot (no stubs), and the reference
 * output of one sequence generated alone by the model layer (no engine involved).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildModelDirectory } from '../../tools/model-builder/build-model-dir.ts';
import { PRESETS } from '../../tools/model-builder/presets.ts';
import { generate } from '../../server/src/inference/generate/index.ts';
import { loadModel, type DecoderModel } from '../../server/src/inference/model/index.ts';
import type { SamplingParamsInput } from '../../server/src/inference/sampling/index.ts';

export interface TestModelOptions {
  kvDtype?: 'float32' | 'float16';
  seed?: number;
  maxPositionEmbeddings?: number;
  /** `medium` (~11M parameters): for tests that need engine steps that take a while. */
  size?: 'tiny' | 'small' | 'medium';
}

const MEDIUM = {
  vocabSize: 2048,
  hiddenSize: 384,
  numLayers: 6,
  numAttentionHeads: 6,
  numKeyValueHeads: 2,
  intermediateSize: 1024,
  maxPositionEmbeddings: 1024,
  tieWordEmbeddings: true,
};

/**
 * Builds a model directory in a fresh temp dir. Weights use a wide initializer range so greedy output
 * varies from token to token (the default 0.02 makes a random model repeat one token, which would let
 * batching bugs hide).
 */
export function buildTestModel(options: TestModelOptions = {}): { dir: string; cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'wm-engine-'));
  const dir = join(root, 'model');
  const base = options.size === 'medium' ? MEDIUM : PRESETS[options.size ?? 'tiny'];
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

/**
 * The reference: the model layer's single-sequence generator (one prompt alone, KV cache, no engine).
 * Tokens exclude EOS, as the engine's do.
 */
export async function referenceTokens(
  model: DecoderModel,
  prompt: readonly number[],
  maxTokens: number,
  sampling: SamplingParamsInput = { temperature: 0 },
): Promise<number[]> {
  return (await generate(model, { prompt: { tokens: prompt }, maxTokens, sampling })).tokens;
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
