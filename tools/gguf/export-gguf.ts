/**
 * A Worldmind model directory (the builder's/trainer's layout: config.json, tokenizer.json,
 * tokenizer_config.json, onnx/model.onnx) → one GGUF v3 file that llama.cpp-based tools load as a `llama`
 * model. The mapping follows llama.cpp's own converter (convert_hf_to_gguf.py, LlamaModel):
 *
 * - tensor names: model.embed_tokens → token_embd, layers.N.input_layernorm → blk.N.attn_norm, q/k/v/o_proj →
 *   attn_q/attn_k/attn_v/attn_output, post_attention_layernorm → ffn_norm, gate/up/down_proj →
 *   ffn_gate/ffn_up/ffn_down, model.norm → output_norm, lm_head → output. Linears are stored [out, in] row-major
 *   (ggml ne = [in, out]), which is HF's layout; our ONNX initializers are [in, out] so they are transposed.
 * - q_proj and k_proj rows are permuted (`permuteForLlamaRope`): our graph, like HF, rotates the two halves of
 *   each head (rotate_half), while llama.cpp's LLAMA rope rotates adjacent pairs (2i, 2i+1). Permuting the
 *   rows that produce q and k turns one into the other; q·k scores are unchanged because both are permuted
 *   the same way within each head.
 * - tied embeddings: no `output.weight`; llama.cpp then uses token_embd for the output projection (it loads
 *   `output` as optional and falls back to the embedding).
 * - tokenizer: `gpt2` (byte-level BPE: tokens in the byte alphabet, merges "a b"), pre-tokenizer `gpt-2`
 *   (GPT-2's split regex, which is what our ByteLevel pre-tokenizer uses), special tokens as CONTROL, ids
 *   the model has but the tokenizer never assigns as `[PADn]` UNUSED tokens (llama.cpp needs one token per
 *   embedding row), bos/eos/pad/unk ids, add_bos/add_eos, and the chat template.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { headDimOf, type LlamaArchitecture } from '../model-builder/architecture.ts';
import { readArchitecture, readParams, transpose } from '../trainer/model-weights.ts';
import { baseParamSpecs, paramNames, PROJECTIONS, type Projection } from '../trainer/llama-train-graph.ts';
import { GGUF_DEFAULT_ALIGNMENT, GgmlType, GgufType, gguf, writeGguf, type GgufTensor, type GgufValue, type GgufWriteSummary } from './gguf-writer.ts';

export type GgufWeightType = 'f32' | 'f16';

export interface ExportGgufOptions {
  modelDir: string;
  outPath: string;
  /** Storage of the matrices; norms always stay f32 (as llama.cpp's converter keeps 1-D tensors). Default f32. */
  weightType?: GgufWeightType;
  /** general.name; default: the model directory's name. */
  name?: string;
}

export interface ExportGgufSummary extends GgufWriteSummary {
  architecture: LlamaArchitecture;
  weightType: GgufWeightType;
  /** Tokens the tokenizer defines; the rest of the vocabulary up to vocabSize is [PADn] filler. */
  tokenizerTokens: number;
  merges: number;
}

/** llama.cpp's token types (llama_token_type). */
export const TokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/** general.file_type: the dominant storage of the weights (llama_ftype). */
const FILE_TYPE: Record<GgufWeightType, number> = { f32: 0, f16: 1 };

const LINEAR_NAMES: Record<Projection, string> = {
  q_proj: 'attn_q',
  k_proj: 'attn_k',
  v_proj: 'attn_v',
  o_proj: 'attn_output',
  gate_proj: 'ffn_gate',
  up_proj: 'ffn_up',
  down_proj: 'ffn_down',
};

/**
 * HF (rotate-half) row order of a q/k projection → llama.cpp's (adjacent-pair) order, per head. `weights` is
 * [heads·headDim, cols] row-major; within a head, output row 2j+h takes input row h·headDim/2 + j (h ∈ {0,1}).
 * This is convert_hf_to_gguf.py's permute: reshape(heads, 2, headDim/2, cols).swapaxes(1, 2).
 */
export function permuteForLlamaRope(weights: Float32Array, heads: number, cols: number): Float32Array {
  const rows = weights.length / cols;
  if (!Number.isInteger(rows) || rows % heads !== 0 || (rows / heads) % 2 !== 0) {
    throw new Error(`cannot permute a ${rows}x${cols} projection into ${heads} heads of even size`);
  }
  const headDim = rows / heads;
  const half = headDim / 2;
  const out = new Float32Array(weights.length);
  for (let head = 0; head < heads; head++) {
    for (let j = 0; j < half; j++) {
      for (let h = 0; h < 2; h++) {
        const from = (head * headDim + h * half + j) * cols;
        const to = (head * headDim + 2 * j + h) * cols;
        out.set(weights.subarray(from, from + cols), to);
      }
    }
  }
  return out;
}

/** GGUF name, HF-layout shape and whether it is permuted, for every tensor the file holds, in file order. */
export function ggufTensorPlan(arch: LlamaArchitecture): Array<{ gguf: string; source: string; shape: number[]; permuteHeads?: number; transposed: boolean }> {
  const specs = new Map(baseParamSpecs(arch).map((s) => [s.name, s.shape]));
  const h = arch.hiddenSize;
  const plan: Array<{ gguf: string; source: string; shape: number[]; permuteHeads?: number; transposed: boolean }> = [
    { gguf: 'token_embd.weight', source: paramNames.embed, shape: [arch.vocabSize, h], transposed: false },
  ];
  for (let layer = 0; layer < arch.numLayers; layer++) {
    plan.push({ gguf: `blk.${layer}.attn_norm.weight`, source: paramNames.inputNorm(layer), shape: [h], transposed: false });
    for (const p of PROJECTIONS) {
      const source = paramNames.linear(layer, p);
      const [inF, outF] = specs.get(source)!;
      const permuteHeads = p === 'q_proj' ? arch.numAttentionHeads : p === 'k_proj' ? arch.numKeyValueHeads : undefined;
      plan.push({ gguf: `blk.${layer}.${LINEAR_NAMES[p]}.weight`, source, shape: [outF!, inF!], transposed: true, ...(permuteHeads ? { permuteHeads } : {}) });
    }
    plan.push({ gguf: `blk.${layer}.ffn_norm.weight`, source: paramNames.postNorm(layer), shape: [h], transposed: false });
  }
  plan.push({ gguf: 'output_norm.weight', source: paramNames.norm, shape: [h], transposed: false });
  if (!arch.tieWordEmbeddings) plan.push({ gguf: 'output.weight', source: paramNames.lmHead, shape: [arch.vocabSize, h], transposed: false });
  return plan;
}

interface TokenizerJson {
  added_tokens?: Array<{ id: number; content: string; special?: boolean }>;
  pre_tokenizer?: { type?: string; use_regex?: boolean } | null;
  model?: { type?: string; vocab?: Record<string, number>; merges?: Array<string | [string, string]>; byte_fallback?: boolean };
}

export interface GgufVocabulary {
  tokens: string[];
  tokenTypes: number[];
  merges: string[];
  /** Tokens the tokenizer defines (the rest are [PADn]). */
  defined: number;
  byText: Map<string, number>;
}

/** The tokenizer.json of a byte-level BPE model as llama.cpp's `gpt2` vocabulary of exactly `vocabSize` tokens. */
export function ggufVocabulary(tokenizerPath: string, vocabSize: number): GgufVocabulary {
  const json = readJson<TokenizerJson>(tokenizerPath);
  const model = json.model;
  if (model?.type !== 'BPE' || !model.vocab || !model.merges) throw new Error(`${tokenizerPath}: expected a BPE model with vocab and merges (got ${model?.type ?? 'no model'}).`);
  if (json.pre_tokenizer?.type !== 'ByteLevel') {
    throw new Error(`${tokenizerPath}: pre_tokenizer is ${json.pre_tokenizer?.type ?? 'missing'}; only byte-level BPE (GPT-2 style, as the builder writes) maps onto llama.cpp's gpt2 tokenizer.`);
  }
  if (model.byte_fallback) throw new Error(`${tokenizerPath}: byte_fallback BPE is a SentencePiece-style tokenizer, not GPT-2 byte-level BPE.`);
  const tokens: Array<string | undefined> = new Array(vocabSize);
  const types: number[] = new Array(vocabSize).fill(TokenType.NORMAL);
  const place = (text: string, id: number, type: number) => {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw new Error(`${tokenizerPath}: token ${JSON.stringify(text)} has id ${id}, outside the model's vocabulary of ${vocabSize}.`);
    if (tokens[id] !== undefined && tokens[id] !== text) throw new Error(`${tokenizerPath}: id ${id} is both ${JSON.stringify(tokens[id])} and ${JSON.stringify(text)}.`);
    tokens[id] = text;
    types[id] = type;
  };
  for (const [text, id] of Object.entries(model.vocab)) place(text, id, TokenType.NORMAL);
  for (const added of json.added_tokens ?? []) place(added.content, added.id, added.special ? TokenType.CONTROL : TokenType.USER_DEFINED);
  let defined = 0;
  const byText = new Map<string, number>();
  // Array.from, not map: map skips the holes a sparse array has where no token was placed.
  const filled = Array.from(tokens, (text, id) => {
    if (text === undefined) {
      types[id] = TokenType.UNUSED;
      return `[PAD${id}]`;
    }
    defined++;
    byText.set(text, id);
    return text;
  });
  const merges = model.merges.map((m) => (typeof m === 'string' ? m : `${m[0]} ${m[1]}`));
  return { tokens: filled, tokenTypes: types, merges, defined, byText };
}

/** Every key and value the file's metadata holds, in write order. */
export function ggufMetadata(modelDir: string, arch: LlamaArchitecture, vocab: GgufVocabulary, weightType: GgufWeightType, name: string): Array<[string, GgufValue]> {
  const config = readJson<Record<string, unknown>>(join(modelDir, 'config.json'));
  const tokenizerConfigPath = join(modelDir, 'tokenizer_config.json');
  const tokenizerConfig = existsSync(tokenizerConfigPath) ? readJson<Record<string, unknown>>(tokenizerConfigPath) : {};
  const headDim = headDimOf(arch);

  // Special ids: config.json's numbers first (what the engine uses), else the tokenizer_config's token text.
  const specialId = (idKey: string, textKey: string): number | undefined => {
    const raw = config[idKey];
    const id = Array.isArray(raw) ? raw[0] : raw;
    if (typeof id === 'number') {
      if (!Number.isInteger(id) || id < 0 || id >= arch.vocabSize) throw new Error(`${modelDir}/config.json: ${idKey} ${id} is outside the vocabulary (${arch.vocabSize}).`);
      return id;
    }
    const text = tokenizerConfig[textKey];
    const content = typeof text === 'string' ? text : text && typeof text === 'object' && 'content' in text ? String((text as { content: unknown }).content) : undefined;
    return content === undefined ? undefined : vocab.byText.get(content);
  };
  const bos = specialId('bos_token_id', 'bos_token');
  const eos = specialId('eos_token_id', 'eos_token');
  const pad = specialId('pad_token_id', 'pad_token');
  const unk = specialId('unk_token_id', 'unk_token');
  if (eos === undefined) throw new Error(`${modelDir}: no eos token (config.json eos_token_id or tokenizer_config.json eos_token); llama.cpp could not stop a reply.`);

  const entries: Array<[string, GgufValue]> = [
    ['general.architecture', gguf.str('llama')],
    ['general.type', gguf.str('model')],
    ['general.name', gguf.str(name)],
    ['general.file_type', gguf.u32(FILE_TYPE[weightType])],
    ['general.alignment', gguf.u32(GGUF_DEFAULT_ALIGNMENT)],
    ['llama.vocab_size', gguf.u32(arch.vocabSize)],
    ['llama.context_length', gguf.u32(arch.maxPositionEmbeddings)],
    ['llama.embedding_length', gguf.u32(arch.hiddenSize)],
    ['llama.block_count', gguf.u32(arch.numLayers)],
    ['llama.feed_forward_length', gguf.u32(arch.intermediateSize)],
    ['llama.attention.head_count', gguf.u32(arch.numAttentionHeads)],
    ['llama.attention.head_count_kv', gguf.u32(arch.numKeyValueHeads)],
    // Explicit so a head size other than hidden/heads (allowed by the architecture) loads right.
    ['llama.attention.key_length', gguf.u32(headDim)],
    ['llama.attention.value_length', gguf.u32(headDim)],
    ['llama.attention.layer_norm_rms_epsilon', gguf.f32(arch.rmsNormEps)],
    ['llama.rope.freq_base', gguf.f32(arch.ropeTheta)],
    ['llama.rope.dimension_count', gguf.u32(headDim)],
    ['tokenizer.ggml.model', gguf.str('gpt2')],
    ['tokenizer.ggml.pre', gguf.str('gpt-2')],
    ['tokenizer.ggml.tokens', gguf.array(GgufType.STRING, vocab.tokens)],
    ['tokenizer.ggml.token_type', gguf.array(GgufType.INT32, vocab.tokenTypes)],
    ['tokenizer.ggml.merges', gguf.array(GgufType.STRING, vocab.merges)],
  ];
  if (bos !== undefined) entries.push(['tokenizer.ggml.bos_token_id', gguf.u32(bos)]);
  entries.push(['tokenizer.ggml.eos_token_id', gguf.u32(eos)]);
  if (unk !== undefined) entries.push(['tokenizer.ggml.unknown_token_id', gguf.u32(unk)]);
  if (pad !== undefined) entries.push(['tokenizer.ggml.padding_token_id', gguf.u32(pad)]);
  // Our prompts never start with a BOS token (tokenizer_config add_bos_token false); llama.cpp must not add one.
  entries.push(['tokenizer.ggml.add_bos_token', gguf.bool(tokenizerConfig.add_bos_token === true)]);
  entries.push(['tokenizer.ggml.add_eos_token', gguf.bool(tokenizerConfig.add_eos_token === true)]);
  if (typeof tokenizerConfig.chat_template === 'string') entries.push(['tokenizer.chat_template', gguf.str(tokenizerConfig.chat_template)]);
  return entries;
}

/** Exports `modelDir` to `outPath` (see the module comment). Throws one sentence naming what is wrong. */
export function exportGguf(options: ExportGgufOptions): ExportGgufSummary {
  const modelDir = resolve(options.modelDir);
  if (!existsSync(modelDir)) throw new Error(`${options.modelDir} does not exist.`);
  const weightType = options.weightType ?? 'f32';
  const arch = readArchitecture(modelDir);
  const tokenizerPath = join(modelDir, 'tokenizer.json');
  if (!existsSync(tokenizerPath)) throw new Error(`${modelDir} has no tokenizer.json.`);
  const vocab = ggufVocabulary(tokenizerPath, arch.vocabSize);
  const metadata = ggufMetadata(modelDir, arch, vocab, weightType, options.name ?? basename(modelDir));
  const params = readParams(modelDir, arch);

  const tensors: GgufTensor[] = ggufTensorPlan(arch).map((entry) => {
    let data = params.get(entry.source)!;
    if (entry.transposed) data = transpose(data, entry.shape[1]!, entry.shape[0]!); // [in, out] → [out, in]
    if (entry.permuteHeads) data = permuteForLlamaRope(data, entry.permuteHeads, entry.shape[1]!);
    params.delete(entry.source); // each source tensor is used once: let it go as soon as its copy exists
    const type = weightType === 'f16' && entry.shape.length === 2 ? GgmlType.F16 : GgmlType.F32;
    return { name: entry.gguf, shape: entry.shape, type, data };
  });
  const written = writeGguf(options.outPath, metadata, tensors);
  return { ...written, architecture: arch, weightType, tokenizerTokens: vocab.defined, merges: vocab.merges.length };
}

function readJson<T>(path: string): T {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (error) {
    throw new Error(`${path}: ${(error as Error).message}`);
  }
}
