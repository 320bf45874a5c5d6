/**
 * The "untrained" baseline: a model directory with the same architecture (read back from config.json) and
 * the very same tokenizer files as the model under evaluation, but seeded random weights. The builder writes
 * the graph from a byte-only BPE (no merges to learn: fast); then the model's own tokenizer.json,
 * tokenizer_config.json, generation_config.json (and chat_template.jinja) are copied over byte for byte and config.json's
 * token-id fields are taken from the model's, so both directories tokenize and stop identically.
 */
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HF_LAYOUT } from '../../server/src/inference/model/format.ts';
import { buildModelDirectory, parseArchitecture, trainByteLevelBpe, type LlamaArchitecture, type LlamaArchitectureInput } from '../model-builder/index.ts';
import { weightShapes } from '../model-builder/weights.ts';

export class BaselineError extends Error {
  override name = 'BaselineError';
}

type Json = Record<string, unknown>;

function readJson(path: string): Json {
  return JSON.parse(readFileSync(path, 'utf8')) as Json;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** The builder architecture of a Llama model directory, from its config.json. */
export function architectureOf(modelDir: string): LlamaArchitecture {
  const path = join(modelDir, HF_LAYOUT.config);
  if (!existsSync(path)) throw new BaselineError(`${modelDir} has no ${HF_LAYOUT.config}, so no untrained twin can be built; pass --baseline <dir> or --no-baseline`);
  const c = readJson(path);
  if (c.model_type !== 'llama') throw new BaselineError(`${path} describes a "${String(c.model_type)}" model; the untrained twin needs a llama config (pass --baseline <dir> or --no-baseline)`);
  const worldmind = (c.worldmind ?? {}) as Json;
  const input: Record<string, unknown> = {
    vocabSize: num(c.vocab_size),
    hiddenSize: num(c.hidden_size),
    numLayers: num(c.num_hidden_layers),
    numAttentionHeads: num(c.num_attention_heads),
    numKeyValueHeads: num(c.num_key_value_heads) ?? num(c.num_attention_heads),
    intermediateSize: num(c.intermediate_size),
    maxPositionEmbeddings: num(c.max_position_embeddings),
    tieWordEmbeddings: typeof c.tie_word_embeddings === 'boolean' ? c.tie_word_embeddings : true,
    kvDtype: worldmind.kv_cache_dtype === 'float16' ? 'float16' : 'float32',
  };
  for (const [key, value] of [['headDim', num(c.head_dim)], ['ropeTheta', num(c.rope_theta)], ['rmsNormEps', num(c.rms_norm_eps)], ['initializerRange', num(c.initializer_range)]] as const) {
    if (value !== undefined) input[key] = value;
  }
  try {
    return parseArchitecture(input as LlamaArchitectureInput);
  } catch (error) {
    throw new BaselineError(`${path}: ${(error as Error).message}`);
  }
}

export function parameterCount(arch: LlamaArchitecture): number {
  const shapes = weightShapes(arch);
  const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
  const layer = Object.values(shapes.layer).reduce((sum, shape) => sum + size(shape), 0);
  return size(shapes.embedTokens) + size(shapes.norm) + (arch.tieWordEmbeddings ? 0 : size(shapes.lmHead)) + arch.numLayers * layer;
}

/** Writes the untrained twin of `modelDir` into `outDir` (which must not hold a model yet). */
export function buildUntrainedTwin(modelDir: string, outDir: string, seed = 0): { dir: string; architecture: LlamaArchitecture; parameterCount: number } {
  const architecture = architectureOf(modelDir);
  for (const file of [HF_LAYOUT.tokenizer, HF_LAYOUT.tokenizerConfig]) {
    if (!existsSync(join(modelDir, file))) throw new BaselineError(`${modelDir} has no ${file} to copy into the untrained twin`);
  }
  const built = buildModelDirectory({ outDir, architecture, seed, bpe: trainByteLevelBpe('', 0), presetName: 'untrained-twin' });
  for (const file of [HF_LAYOUT.tokenizer, HF_LAYOUT.tokenizerConfig, HF_LAYOUT.generationConfig, HF_LAYOUT.chatTemplateFile]) {
    if (existsSync(join(modelDir, file))) copyFileSync(join(modelDir, file), join(outDir, file));
  }
  const source = readJson(join(modelDir, HF_LAYOUT.config));
  const config = readJson(join(outDir, HF_LAYOUT.config));
  for (const key of ['bos_token_id', 'eos_token_id', 'pad_token_id']) {
    if (key in source) config[key] = source[key];
    else delete config[key];
  }
  const sourceWorldmind = (source.worldmind ?? {}) as Json;
  const worldmind = (config.worldmind ?? {}) as Json;
  if (typeof sourceWorldmind.tokenizer_vocab_size === 'number') worldmind.tokenizer_vocab_size = sourceWorldmind.tokenizer_vocab_size;
  else delete worldmind.tokenizer_vocab_size;
  worldmind.untrained_twin_of = modelDir;
  config.worldmind = worldmind;
  writeFileSync(join(outDir, HF_LAYOUT.config), `${JSON.stringify(config, null, 2)}\n`);
  return { dir: outDir, architecture, parameterCount: built.parameterCount };
}
