/**
 * Llama weights in Hugging Face's layout (each Linear is [out, in], row-major, as in a PyTorch state dict),
 * so a trainer can hand its tensors over unchanged. Seeded random weights follow HF's init: normal(0,
 * initializer_range) for linears and embeddings, ones for RMSNorm scales.
 */
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';
import { headDimOf, type LlamaArchitecture } from './architecture.ts';

export interface LlamaLayerWeights {
  inputLayernorm: Float32Array; // [hidden]
  qProj: Float32Array; // [heads * headDim, hidden]
  kProj: Float32Array; // [kvHeads * headDim, hidden]
  vProj: Float32Array; // [kvHeads * headDim, hidden]
  oProj: Float32Array; // [hidden, heads * headDim]
  postAttentionLayernorm: Float32Array; // [hidden]
  gateProj: Float32Array; // [intermediate, hidden]
  upProj: Float32Array; // [intermediate, hidden]
  downProj: Float32Array; // [hidden, intermediate]
}

export interface LlamaWeights {
  embedTokens: Float32Array; // [vocab, hidden]
  layers: LlamaLayerWeights[];
  norm: Float32Array; // [hidden]
  /** [vocab, hidden]; absent when the architecture ties it to embedTokens. */
  lmHead?: Float32Array;
}

/** Expected [rows, cols] of every tensor, for validation and for writing initializers. */
export function weightShapes(arch: LlamaArchitecture) {
  const headDim = headDimOf(arch);
  const q = arch.numAttentionHeads * headDim;
  const kv = arch.numKeyValueHeads * headDim;
  const h = arch.hiddenSize;
  const i = arch.intermediateSize;
  return {
    embedTokens: [arch.vocabSize, h],
    norm: [h],
    lmHead: [arch.vocabSize, h],
    layer: {
      inputLayernorm: [h],
      qProj: [q, h],
      kProj: [kv, h],
      vProj: [kv, h],
      oProj: [h, q],
      postAttentionLayernorm: [h],
      gateProj: [i, h],
      upProj: [i, h],
      downProj: [h, i],
    } satisfies Record<keyof LlamaLayerWeights, number[]>,
  } as const;
}

export function randomLlamaWeights(arch: LlamaArchitecture, seed: number): LlamaWeights {
  const rng = xoroshiro128plus(seed);
  const shapes = weightShapes(arch);
  const normal = (shape: readonly number[]) => gaussian(rng, product(shape), arch.initializerRange);
  const ones = (shape: readonly number[]) => new Float32Array(product(shape)).fill(1);
  const layers = Array.from({ length: arch.numLayers }, () => ({
    inputLayernorm: ones(shapes.layer.inputLayernorm),
    qProj: normal(shapes.layer.qProj),
    kProj: normal(shapes.layer.kProj),
    vProj: normal(shapes.layer.vProj),
    oProj: normal(shapes.layer.oProj),
    postAttentionLayernorm: ones(shapes.layer.postAttentionLayernorm),
    gateProj: normal(shapes.layer.gateProj),
    upProj: normal(shapes.layer.upProj),
    downProj: normal(shapes.layer.downProj),
  }));
  const embedTokens = normal(shapes.embedTokens);
  const norm = ones(shapes.norm);
  return arch.tieWordEmbeddings ? { embedTokens, layers, norm } : { embedTokens, layers, norm, lmHead: normal(shapes.lmHead) };
}

/** Throws one sentence naming the first tensor whose size does not match the architecture. */
export function validateWeights(arch: LlamaArchitecture, weights: LlamaWeights): void {
  const shapes = weightShapes(arch);
  const check = (name: string, tensor: Float32Array | undefined, shape: readonly number[]) => {
    if (!tensor || tensor.length !== product(shape)) {
      throw new Error(`Weight ${name} must hold ${shape.join('x')} = ${product(shape)} floats, got ${tensor?.length ?? 'none'}.`);
    }
  };
  check('embedTokens', weights.embedTokens, shapes.embedTokens);
  check('norm', weights.norm, shapes.norm);
  if (weights.layers.length !== arch.numLayers) {
    throw new Error(`Weights have ${weights.layers.length} layers, the architecture ${arch.numLayers}.`);
  }
  weights.layers.forEach((layer, index) => {
    for (const [name, shape] of Object.entries(shapes.layer)) {
      check(`layers.${index}.${name}`, layer[name as keyof LlamaLayerWeights], shape);
    }
  });
  if (arch.tieWordEmbeddings && weights.lmHead) throw new Error('Weights include lmHead but the architecture ties it to embedTokens.');
  if (!arch.tieWordEmbeddings) check('lmHead', weights.lmHead, shapes.lmHead);
}

function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Box–Muller over the seeded generator: the same seed always yields the same weights. */
function gaussian(rng: RandomGenerator, count: number, std: number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const u1 = 1 - uniformFloat64(rng); // (0, 1]: log() stays finite
    const u2 = uniformFloat64(rng);
    const radius = std * Math.sqrt(-2 * Math.log(u1));
    out[i] = radius * Math.cos(2 * Math.PI * u2);
    if (i + 1 < count) out[i + 1] = radius * Math.sin(2 * Math.PI * u2);
  }
  return out;
}
