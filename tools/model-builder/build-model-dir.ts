/**
 * Writes a complete model directory in the HF/Optimum/transformers.js layout (DESIGN.md "Model format"):
 * config.json, generation_config.json, tokenizer.json, tokenizer_config.json, onnx/model.onnx (+ _data).
 * Weights are seeded random unless the caller (e.g. the trainer) passes its own.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HF_LAYOUT, externalDataFileName } from '../../server/src/inference/model/format.ts';
import { LlamaArchitectureSchema, headDimOf, type LlamaArchitecture, type LlamaArchitectureInput } from './architecture.ts';
import { buildLlamaGraph } from './llama-graph.ts';
import { writeOnnxModel } from './onnx/serialize.ts';
import { trainByteLevelBpe, type BpeVocabulary } from './tokenizer/bpe-trainer.ts';
import { EMBEDDED_CORPUS } from './tokenizer/corpus.ts';
import { tokenizerFiles, type TokenizerIds } from './tokenizer/tokenizer-files.ts';
import { randomLlamaWeights, validateWeights, type LlamaWeights } from './weights.ts';

/** Above this many weight bytes, initializers go to onnx/model.onnx_data. */
const EXTERNAL_DATA_THRESHOLD_BYTES = 2 * 1024 * 1024;
const SPECIAL_TOKEN_COUNT = 3;

export interface BuildModelOptions {
  outDir: string;
  architecture: LlamaArchitectureInput;
  /** Seed of the random weights. Default 0. */
  seed?: number;
  /** Trained weights (HF layout); replaces the random ones. */
  weights?: LlamaWeights;
  /** Text to learn the BPE merges from. Default: the embedded corpus. */
  corpus?: string;
  /** A ready BPE vocabulary (e.g. the trainer's); replaces learning one from the corpus. */
  bpe?: BpeVocabulary;
  /** Force external weight data on or off; default: on above 2 MiB of weights. */
  externalData?: boolean;
  /** Recorded in config.json for provenance. */
  presetName?: string;
}

export interface BuiltModel {
  dir: string;
  architecture: LlamaArchitecture;
  parameterCount: number;
  tokenizer: TokenizerIds;
  externalData: boolean;
}

export function buildModelDirectory(options: BuildModelOptions): BuiltModel {
  const architecture = parseArchitecture(options.architecture);
  const seed = options.seed ?? 0;
  const bpe = options.bpe ?? trainByteLevelBpe(options.corpus ?? EMBEDDED_CORPUS, architecture.vocabSize - SPECIAL_TOKEN_COUNT - 256);
  const tokenizer = tokenizerFiles(bpe, architecture.maxPositionEmbeddings);
  if (tokenizer.ids.size > architecture.vocabSize) {
    throw new Error(`The tokenizer has ${tokenizer.ids.size} tokens but the model's vocabulary only ${architecture.vocabSize}.`);
  }
  const weights = options.weights ?? randomLlamaWeights(architecture, seed);
  validateWeights(architecture, weights);

  const graph = buildLlamaGraph(architecture, weights);
  const weightBytes = graph.initializers.reduce((sum, init) => sum + init.data.byteLength, 0);
  const externalData = options.externalData ?? weightBytes > EXTERNAL_DATA_THRESHOLD_BYTES;

  mkdirSync(join(options.outDir, HF_LAYOUT.onnxDir), { recursive: true });
  const onnxPath = join(options.outDir, HF_LAYOUT.onnxCandidates[0]);
  writeOnnxModel(graph, {
    path: onnxPath,
    ...(externalData ? { externalDataPath: join(options.outDir, HF_LAYOUT.onnxDir, externalDataFileName('model.onnx')) } : {}),
    producerName: 'worldmind-model-builder',
    metadata: { seed: String(seed), preset: options.presetName ?? 'custom' },
  });

  const ids = tokenizer.ids;
  writeJson(options.outDir, HF_LAYOUT.config, hfConfig(architecture, ids, externalData, { seed, preset: options.presetName ?? 'custom', trained: Boolean(options.weights) }));
  writeJson(options.outDir, HF_LAYOUT.generationConfig, {
    bos_token_id: ids.endOfText,
    eos_token_id: [ids.turnEnd, ids.endOfText],
    pad_token_id: ids.endOfText,
    do_sample: false,
  });
  writeJson(options.outDir, HF_LAYOUT.tokenizer, tokenizer.tokenizerJson);
  writeJson(options.outDir, HF_LAYOUT.tokenizerConfig, tokenizer.tokenizerConfig);

  return {
    dir: options.outDir,
    architecture,
    parameterCount: countParameters(weights),
    tokenizer: ids,
    externalData,
  };
}

export function parseArchitecture(input: LlamaArchitectureInput): LlamaArchitecture {
  const parsed = LlamaArchitectureSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`Invalid model architecture: ${issue.path.join('.') || '(top level)'} ${issue.message}.`);
  }
  return parsed.data;
}

function hfConfig(
  arch: LlamaArchitecture,
  ids: TokenizerIds,
  externalData: boolean,
  provenance: { seed: number; preset: string; trained: boolean },
) {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    vocab_size: arch.vocabSize,
    hidden_size: arch.hiddenSize,
    intermediate_size: arch.intermediateSize,
    num_hidden_layers: arch.numLayers,
    num_attention_heads: arch.numAttentionHeads,
    num_key_value_heads: arch.numKeyValueHeads,
    head_dim: headDimOf(arch),
    max_position_embeddings: arch.maxPositionEmbeddings,
    rope_theta: arch.ropeTheta,
    rms_norm_eps: arch.rmsNormEps,
    tie_word_embeddings: arch.tieWordEmbeddings,
    hidden_act: 'silu',
    attention_bias: false,
    mlp_bias: false,
    initializer_range: arch.initializerRange,
    torch_dtype: 'float32',
    use_cache: true,
    bos_token_id: ids.endOfText,
    eos_token_id: ids.turnEnd,
    pad_token_id: ids.endOfText,
    'transformers.js_config': externalData ? { use_external_data_format: true } : {},
    /** Not read by HF tools; records how this directory was made and how many ids have a token. */
    worldmind: {
      builder: 'tools/model-builder',
      preset: provenance.preset,
      seed: provenance.trained ? null : provenance.seed,
      trained_weights: provenance.trained,
      kv_cache_dtype: arch.kvDtype,
      tokenizer_vocab_size: ids.size,
    },
  };
}

function countParameters(weights: LlamaWeights): number {
  const layer = weights.layers.reduce((sum, l) => sum + Object.values(l).reduce((s, t: Float32Array) => s + t.length, 0), 0);
  return weights.embedTokens.length + weights.norm.length + (weights.lmHead?.length ?? 0) + layer;
}

function writeJson(dir: string, relativePath: string, value: unknown): void {
  writeFileSync(join(dir, relativePath), `${JSON.stringify(value, null, 2)}\n`);
}
