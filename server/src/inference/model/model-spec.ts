/**
 * Reads a model directory's configuration files (HF/Optimum layout or onnxruntime-genai layout) into one
 * layout-independent description. The ONNX session is not opened here; see session-io.ts for what the graph
 * itself says.
 */
import { join } from 'node:path';
import { ModelLoadError } from './errors.ts';
import {
  GENAI_LAYOUT,
  GenaiConfigSchema,
  GenerationConfigSchema,
  HF_LAYOUT,
  HfConfigSchema,
  STANDARD_IO_NAMES,
  TokenizerConfigSchema,
  layerNamePattern,
  type GenerationConfig,
  type GraphIoNames,
  type TokenizerConfig,
} from './format.ts';
import { assertModelDirectory, hasFile, readConfig, readJson, readText } from './model-files.ts';

/** Decoding defaults recommended by the model's files (HF semantics: greedy unless do_sample is set). */
export interface GenerationDefaults {
  temperature: number;
  topK: number;
  topP: number;
  repetitionPenalty: number;
  maxNewTokens?: number;
}

export interface ModelSpec {
  dir: string;
  layout: 'hf' | 'genai';
  modelType: string;
  onnxPath: string;
  names: GraphIoNames;
  /** Longest sequence (prompt + reply) the model was built for. */
  contextLength: number;
  /** vocab_size as the config states it (the graph's logits width is authoritative; see session-io). */
  configVocabSize?: number;
  /** KV geometry as the config states it; used only where the graph leaves those dimensions symbolic. */
  kvHeads?: number;
  headDim?: number;
  /** Token ids stated by config files; the loader completes them from tokenizer_config's token strings. */
  bosTokenId?: number;
  eosTokenIds: number[];
  padTokenId?: number;
  generationDefaults: GenerationDefaults;
  tokenizerJson: object;
  tokenizerConfig: TokenizerConfig;
  chatTemplate?: string;
}

const TOKENIZER_WHY = 'the Hugging Face tokenizers file';

export function readModelSpec(dir: string): ModelSpec {
  assertModelDirectory(dir);
  if (hasFile(dir, HF_LAYOUT.config)) return readHfSpec(dir);
  if (hasFile(dir, GENAI_LAYOUT.config)) return readGenaiSpec(dir);
  throw new ModelLoadError(
    'unknown-layout',
    `Model directory ${dir} has neither config.json (Hugging Face/Optimum layout) nor genai_config.json (onnxruntime-genai layout).`,
  );
}

function readHfSpec(dir: string): ModelSpec {
  const config = readConfig(dir, HF_LAYOUT.config, HfConfigSchema, 'model configuration');
  const generation = hasFile(dir, HF_LAYOUT.generationConfig)
    ? readConfig(dir, HF_LAYOUT.generationConfig, GenerationConfigSchema, 'generation defaults')
    : undefined;
  const tokenizerConfig = readTokenizerConfig(dir);
  const onnxRelative = HF_LAYOUT.onnxCandidates.find((candidate) => hasFile(dir, candidate));
  if (!onnxRelative) {
    throw new ModelLoadError('missing-file', `Model directory ${dir} is missing onnx/model.onnx (the ONNX decoder graph).`);
  }
  const contextLength = config.max_position_embeddings ?? saneModelMaxLength(tokenizerConfig);
  if (contextLength === undefined) {
    throw new ModelLoadError(
      'invalid-config',
      `Model file ${join(dir, HF_LAYOUT.config)} states no context length (max_position_embeddings).`,
    );
  }
  return {
    dir,
    layout: 'hf',
    modelType: config.model_type,
    onnxPath: join(dir, onnxRelative),
    names: STANDARD_IO_NAMES,
    contextLength,
    ...optional('configVocabSize', config.vocab_size),
    ...optional('kvHeads', config.num_key_value_heads ?? config.num_attention_heads),
    ...optional('headDim', config.head_dim ?? hfHeadDim(config.hidden_size, config.num_attention_heads)),
    ...optional('bosTokenId', firstId(generation?.bos_token_id ?? config.bos_token_id)),
    eosTokenIds: unique([...ids(generation?.eos_token_id), ...ids(config.eos_token_id)]),
    ...optional('padTokenId', firstId(generation?.pad_token_id ?? config.pad_token_id)),
    generationDefaults: defaultsFromHf(generation),
    tokenizerJson: readTokenizerJson(dir),
    tokenizerConfig,
    ...optional('chatTemplate', readChatTemplate(dir, tokenizerConfig)),
  };
}

function readGenaiSpec(dir: string): ModelSpec {
  const genai = readConfig(dir, GENAI_LAYOUT.config, GenaiConfigSchema, 'onnxruntime-genai configuration');
  const { model } = genai;
  const decoder = model.decoder;
  if (!hasFile(dir, decoder.filename)) {
    throw new ModelLoadError(
      'missing-file',
      `Model directory ${dir} is missing ${decoder.filename}, the decoder file genai_config.json names.`,
    );
  }
  const tokenizerConfig = readTokenizerConfig(dir);
  const search = genai.search;
  return {
    dir,
    layout: 'genai',
    modelType: model.type,
    onnxPath: join(dir, decoder.filename),
    names: {
      inputIds: decoder.inputs.input_ids,
      attentionMask: decoder.inputs.attention_mask,
      positionIds: decoder.inputs.position_ids,
      logits: decoder.outputs.logits,
      pastKey: layerNamePattern(decoder.inputs.past_key_names),
      pastValue: layerNamePattern(decoder.inputs.past_value_names),
      presentKey: layerNamePattern(decoder.outputs.present_key_names),
      presentValue: layerNamePattern(decoder.outputs.present_value_names),
    },
    contextLength: model.context_length,
    ...optional('configVocabSize', model.vocab_size),
    ...optional('kvHeads', decoder.num_key_value_heads ?? decoder.num_attention_heads),
    ...optional('headDim', decoder.head_size),
    ...optional('bosTokenId', firstId(model.bos_token_id)),
    eosTokenIds: ids(model.eos_token_id),
    ...optional('padTokenId', firstId(model.pad_token_id)),
    generationDefaults: {
      temperature: search?.do_sample ? (search.temperature ?? 1) : 0,
      topK: search?.top_k ?? 0,
      topP: search?.top_p ?? 1,
      repetitionPenalty: search?.repetition_penalty ?? 1,
    },
    tokenizerJson: readTokenizerJson(dir),
    tokenizerConfig,
    ...optional('chatTemplate', readChatTemplate(dir, tokenizerConfig)),
  };
}

function readTokenizerJson(dir: string): object {
  const json = readJson(dir, HF_LAYOUT.tokenizer, TOKENIZER_WHY);
  if (typeof json !== 'object' || json === null || !('model' in json)) {
    throw new ModelLoadError(
      'invalid-tokenizer',
      `Model file ${join(dir, HF_LAYOUT.tokenizer)} is not a Hugging Face tokenizers file (it has no "model" section).`,
    );
  }
  return json;
}

function readTokenizerConfig(dir: string): TokenizerConfig {
  return readConfig(dir, HF_LAYOUT.tokenizerConfig, TokenizerConfigSchema, 'special tokens and chat template');
}

/** chat_template is a string, a list of named templates ("default" wins), or a separate .jinja file. */
function readChatTemplate(dir: string, tokenizerConfig: TokenizerConfig): string | undefined {
  const template = tokenizerConfig.chat_template;
  if (typeof template === 'string') return template;
  if (Array.isArray(template)) {
    return (template.find((entry) => entry.name === 'default') ?? template[0])?.template;
  }
  if (hasFile(dir, HF_LAYOUT.chatTemplateFile)) return readText(dir, HF_LAYOUT.chatTemplateFile, 'chat template');
  return undefined;
}

function defaultsFromHf(generation: GenerationConfig | undefined): GenerationDefaults {
  return {
    temperature: generation?.do_sample ? (generation.temperature ?? 1) : 0,
    topK: generation?.do_sample ? (generation.top_k ?? 50) : 0,
    topP: generation?.do_sample ? (generation.top_p ?? 1) : 1,
    repetitionPenalty: generation?.repetition_penalty ?? 1,
    ...optional('maxNewTokens', generation?.max_new_tokens),
  };
}

/** tokenizer_config's model_max_length is a huge sentinel when unknown; only trust plausible values. */
function saneModelMaxLength(tokenizerConfig: TokenizerConfig): number | undefined {
  const value = tokenizerConfig.model_max_length;
  return value !== undefined && Number.isInteger(value) && value > 0 && value <= 10_000_000 ? value : undefined;
}

function hfHeadDim(hiddenSize: number | undefined, heads: number | undefined): number | undefined {
  return hiddenSize !== undefined && heads !== undefined ? hiddenSize / heads : undefined;
}

function ids(value: number | number[] | null | undefined): number[] {
  if (value === null || value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

function firstId(value: number | number[] | null | undefined): number | undefined {
  return ids(value)[0];
}

function unique(values: number[]): number[] {
  return [...new Set(values)];
}

/** Spreads `{ key: value }` only when the value exists (keeps optional fields absent, not undefined). */
function optional<Key extends string, Value>(key: Key, value: Value | undefined): { [K in Key]?: Value } {
  return (value === undefined ? {} : { [key]: value }) as { [K in Key]?: Value };
}
