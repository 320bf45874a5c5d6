/**
 * Weights in and out of model directories, in the trainer's layout (the serving graph's initializer names;
 * linears [in, out]).
 *
 * In: the initializers of `<dir>/onnx/model.onnx` (inline or in external data), which is how the project's
 * builder and trainer write models, or `<dir>/model.safetensors` with Hugging Face Llama tensor names
 * (linears [out, in]), which is how a studio's PyTorch checkpoint arrives.
 * Out: a complete model directory through the builder (same graph, same format), the source tokenizer
 * files copied over unchanged, provenance recorded in config.json.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { onnxModelProto } from '../../server/src/inference/model/onnx-proto.ts';
import { buildModelDirectory, parseArchitecture, type LlamaArchitecture, type LlamaWeights } from '../model-builder/index.ts';
import { BYTE_TO_CHAR } from '../model-builder/tokenizer/byte-level.ts';
import { baseParamSpecs, paramNames, PROJECTIONS, type Projection } from './llama-train-graph.ts';

export type Params = Map<string, Float32Array>;

/** Reads the architecture (camelCase) back from an HF config.json. */
export function readArchitecture(modelDir: string): LlamaArchitecture {
  const path = join(modelDir, 'config.json');
  if (!existsSync(path)) throw new Error(`${modelDir} has no config.json: not a model directory.`);
  const c = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  if (c.model_type !== 'llama') throw new Error(`${path}: model_type is ${String(c.model_type)}; the trainer handles llama models.`);
  return parseArchitecture({
    vocabSize: c.vocab_size as number,
    hiddenSize: c.hidden_size as number,
    numLayers: c.num_hidden_layers as number,
    numAttentionHeads: c.num_attention_heads as number,
    numKeyValueHeads: (c.num_key_value_heads as number | undefined) ?? (c.num_attention_heads as number),
    intermediateSize: c.intermediate_size as number,
    ...(c.head_dim ? { headDim: c.head_dim as number } : {}),
    maxPositionEmbeddings: c.max_position_embeddings as number,
    ropeTheta: (c.rope_theta as number | undefined) ?? 10_000,
    rmsNormEps: (c.rms_norm_eps as number | undefined) ?? 1e-5,
    tieWordEmbeddings: (c.tie_word_embeddings as boolean | undefined) ?? true,
    ...(c.initializer_range ? { initializerRange: c.initializer_range as number } : {}),
    ...((c.worldmind as { kv_cache_dtype?: 'float32' | 'float16' } | undefined)?.kv_cache_dtype ? { kvDtype: (c.worldmind as { kv_cache_dtype: 'float32' | 'float16' }).kv_cache_dtype } : {}),
  });
}

/** Every base weight of `arch` from a model directory, in training layout. Throws naming what is missing. */
export function readParams(modelDir: string, arch: LlamaArchitecture): Params {
  const onnxPath = join(modelDir, 'onnx', 'model.onnx');
  const safetensorsPath = join(modelDir, 'model.safetensors');
  const found = existsSync(onnxPath) ? readOnnxInitializers(onnxPath, join(modelDir, 'onnx')) : new Map<string, Float32Array>();
  const params: Params = new Map();
  const missing: string[] = [];
  for (const spec of baseParamSpecs(arch)) {
    const value = found.get(spec.name);
    if (value && value.length === spec.shape.reduce((a, b) => a * b, 1)) params.set(spec.name, value);
    else missing.push(spec.name);
  }
  if (missing.length === 0) return params;
  if (existsSync(safetensorsPath)) return readSafetensorsParams(safetensorsPath, arch);
  throw new Error(
    `${modelDir}: cannot find trainable weights (first missing: ${missing[0]}). The trainer reads models written by the ` +
      'project\'s builder/trainer (onnx/model.onnx) or a Hugging Face model.safetensors beside config.json.',
  );
}

function readOnnxInitializers(onnxPath: string, externalDir: string): Map<string, Float32Array> {
  const ModelProto = onnxModelProto();
  const model = ModelProto.toObject(ModelProto.decode(readFileSync(onnxPath)), { longs: Number, bytes: Uint8Array, defaults: false }) as {
    graph: { initializer: Array<{ name: string; data_type: number; dims?: number[]; raw_data?: Uint8Array; float_data?: number[]; data_location?: number; external_data?: Array<{ key: string; value: string }> }> };
  };
  const externalFiles = new Map<string, Buffer>();
  const out = new Map<string, Float32Array>();
  for (const init of model.graph.initializer) {
    if (init.data_type !== 1) continue; // float32 only: the weights
    if (init.data_location === 1 && init.external_data) {
      const field = (key: string) => init.external_data!.find((e) => e.key === key)?.value;
      const location = field('location')!;
      let file = externalFiles.get(location);
      if (!file) externalFiles.set(location, (file = readFileSync(join(externalDir, location))));
      const offset = Number(field('offset') ?? 0);
      const length = Number(field('length') ?? file.byteLength - offset);
      out.set(init.name, copyFloats(file, offset, length));
    } else if (init.raw_data) {
      out.set(init.name, copyFloats(init.raw_data, 0, init.raw_data.byteLength));
    } else if (init.float_data) {
      out.set(init.name, Float32Array.from(init.float_data));
    }
  }
  return out;
}

function copyFloats(bytes: Uint8Array, offset: number, length: number): Float32Array {
  const out = new Float32Array(length / 4);
  new Uint8Array(out.buffer).set(bytes.subarray(offset, offset + length));
  return out;
}

/** HF tensor names of a Llama checkpoint → training layout (linears transposed to [in, out]). */
function readSafetensorsParams(path: string, arch: LlamaArchitecture): Params {
  const file = readFileSync(path);
  const headerLength = Number(file.readBigUInt64LE(0));
  const header = JSON.parse(file.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const base = 8 + headerLength;
  const tensor = (name: string): Float32Array => {
    const entry = header[name];
    if (!entry) throw new Error(`${path} has no tensor ${name}`);
    if (entry.dtype !== 'F32') throw new Error(`${path}: tensor ${name} is ${entry.dtype}; convert the checkpoint to float32 first.`);
    return copyFloats(file, base + entry.data_offsets[0], entry.data_offsets[1] - entry.data_offsets[0]);
  };
  const params: Params = new Map();
  params.set(paramNames.embed, tensor('model.embed_tokens.weight'));
  params.set(paramNames.norm, tensor('model.norm.weight'));
  if (!arch.tieWordEmbeddings) params.set(paramNames.lmHead, tensor('lm_head.weight'));
  const shapes = new Map(baseParamSpecs(arch).map((s) => [s.name, s.shape]));
  for (let layer = 0; layer < arch.numLayers; layer++) {
    params.set(paramNames.inputNorm(layer), tensor(`model.layers.${layer}.input_layernorm.weight`));
    params.set(paramNames.postNorm(layer), tensor(`model.layers.${layer}.post_attention_layernorm.weight`));
    for (const p of PROJECTIONS) {
      const name = paramNames.linear(layer, p);
      const [inF, outF] = shapes.get(name)!;
      params.set(name, transpose(tensor(name.replace(/_t$/, '')), outF!, inF!));
    }
  }
  return params;
}

/** [rows, cols] → [cols, rows]. */
export function transpose(matrix: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(matrix.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = matrix[r * cols + c]!;
  return out;
}

/** Training layout → the builder's LlamaWeights (HF layout, linears [out, in]). */
export function toLlamaWeights(arch: LlamaArchitecture, params: Params): LlamaWeights {
  const shapes = new Map(baseParamSpecs(arch).map((s) => [s.name, s.shape]));
  const linear = (layer: number, p: Projection) => {
    const name = paramNames.linear(layer, p);
    const [inF, outF] = shapes.get(name)!;
    return transpose(params.get(name)!, inF!, outF!);
  };
  const layers = Array.from({ length: arch.numLayers }, (_, layer) => ({
    inputLayernorm: params.get(paramNames.inputNorm(layer))!,
    qProj: linear(layer, 'q_proj'),
    kProj: linear(layer, 'k_proj'),
    vProj: linear(layer, 'v_proj'),
    oProj: linear(layer, 'o_proj'),
    postAttentionLayernorm: params.get(paramNames.postNorm(layer))!,
    gateProj: linear(layer, 'gate_proj'),
    upProj: linear(layer, 'up_proj'),
    downProj: linear(layer, 'down_proj'),
  }));
  const weights: LlamaWeights = { embedTokens: params.get(paramNames.embed)!, layers, norm: params.get(paramNames.norm)! };
  if (!arch.tieWordEmbeddings) weights.lmHead = params.get(paramNames.lmHead)!;
  return weights;
}

export interface WriteModelOptions {
  outDir: string;
  arch: LlamaArchitecture;
  params: Params;
  /** Directory whose tokenizer.json / tokenizer_config.json / generation_config.json are copied (the model trained on them). */
  tokenizerDir: string;
  /** Recorded under config.json `worldmind.training`. */
  training: Record<string, unknown>;
}

export function writeTrainedModel(options: WriteModelOptions): void {
  // Read the source's text files first: the source may be the output directory itself (refresh in place).
  const keep = new Map<string, Buffer>();
  for (const file of ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) {
    const path = join(options.tokenizerDir, file);
    if (existsSync(path)) keep.set(file, readFileSync(path));
  }
  const sourcePath = join(options.tokenizerDir, 'config.json');
  const source = existsSync(sourcePath) ? (JSON.parse(readFileSync(sourcePath, 'utf8')) as Record<string, unknown> & { worldmind?: Record<string, unknown> }) : {};
  buildModelDirectory({
    outDir: options.outDir,
    architecture: options.arch,
    weights: toLlamaWeights(options.arch, options.params),
    // The bare byte alphabet (no merges) builds instantly; the real tokenizer files are copied over below.
    bpe: { tokens: [...BYTE_TO_CHAR], merges: [] },
    presetName: 'trained',
  });
  for (const [file, bytes] of keep) writeFileSync(join(options.outDir, file), bytes);
  // The source's config (its special-token ids, any fields the builder does not know) with this run's
  // provenance on top; the weights layout fields come from the fresh build.
  const configPath = join(options.outDir, 'config.json');
  const built = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown> & { worldmind: Record<string, unknown> };
  const config = {
    ...built,
    ...pick(source, ['bos_token_id', 'eos_token_id', 'pad_token_id']),
    worldmind: { ...built.worldmind, ...pick(source.worldmind ?? {}, ['tokenizer_vocab_size']), preset: 'trained', seed: null, trained_weights: true, training: options.training },
  };
  writeFileSync(configPath, `${JSON.stringify(config, null, 2)}\n`);
}

function pick(object: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => k in object).map((k) => [k, object[k]]));
}
