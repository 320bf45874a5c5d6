/**
 * The Llama decoder as a standard-ops ONNX graph (opset 17; no contrib ops, so any onnxruntime, including
 * onnxruntime-web under transformers.js, runs it), with the graph I/O of DESIGN.md "Model format":
 *
 *   input_ids [B,S] int64, attention_mask [B,P+S] int64, position_ids [B,S] int64,
 *   past_key_values.{i}.key|value [B,kvH,P,hd]  →  logits [B,S,V], present.{i}.key|value [B,kvH,P+S,hd]
 *
 * The attention mask is honoured anywhere in a row (left padding, holes) and combined with the causal mask,
 * so a batching scheduler can pad sequences of different lengths into one step.
 */
import { DIM, STANDARD_IO_NAMES as IO } from '../../server/src/inference/model/format.ts';
import { headDimOf, type LlamaArchitecture } from './architecture.ts';
import { ElementType, GraphBuilder, type Graph } from './onnx/graph-builder.ts';
import type { LlamaLayerWeights, LlamaWeights } from './weights.ts';

/** Additive mask value for disallowed slots: finite (torch.finfo(float32).min, as HF uses) so a fully
 *  masked row — a padded query — softmaxes to a uniform row instead of NaN. */
const MASKED = -3.4028234663852886e38;

interface Rotary {
  cos: string; // [B,1,S,hd]
  sin: string; // [B,1,S,hd]
}

export function buildLlamaGraph(arch: LlamaArchitecture, weights: LlamaWeights): Graph {
  const g = new GraphBuilder('worldmind-llama');
  const headDim = headDimOf(arch);
  const kvType = arch.kvDtype === 'float16' ? ElementType.FLOAT16 : ElementType.FLOAT;

  g.input(IO.inputIds, ElementType.INT64, [DIM.batch, DIM.sequence]);
  g.input(IO.attentionMask, ElementType.INT64, [DIM.batch, DIM.total]);
  g.input(IO.positionIds, ElementType.INT64, [DIM.batch, DIM.sequence]);
  for (let layer = 0; layer < arch.numLayers; layer++) {
    for (const name of [IO.pastKey(layer), IO.pastValue(layer)]) {
      g.input(name, kvType, [DIM.batch, arch.numKeyValueHeads, DIM.past, headDim]);
    }
  }
  g.output(IO.logits, ElementType.FLOAT, [DIM.batch, DIM.sequence, arch.vocabSize]);
  for (let layer = 0; layer < arch.numLayers; layer++) {
    for (const name of [IO.presentKey(layer), IO.presentValue(layer)]) {
      g.output(name, kvType, [DIM.batch, arch.numKeyValueHeads, DIM.total, headDim]);
    }
  }

  const embedTokens = g.initializer('model.embed_tokens.weight', ElementType.FLOAT, [arch.vocabSize, arch.hiddenSize], weights.embedTokens);
  let hidden = g.op('Gather', [embedTokens, IO.inputIds], { axis: { int: 0 } });
  const rotary = rotaryTables(g, arch);
  const attentionBias = attentionBiasFromMask(g);
  weights.layers.forEach((layerWeights, layer) => {
    hidden = decoderLayer(g, arch, layer, layerWeights, hidden, rotary, attentionBias);
  });
  hidden = rmsNorm(g, hidden, g.initializer('model.norm.weight', ElementType.FLOAT, [arch.hiddenSize], weights.norm), arch.rmsNormEps);

  // LM head as Gemm(transB=1) over [vocab, hidden]: the tied case reuses the embedding table without a copy.
  const lmHead = weights.lmHead
    ? g.initializer('lm_head.weight', ElementType.FLOAT, [arch.vocabSize, arch.hiddenSize], weights.lmHead)
    : embedTokens;
  const flat = g.op('Reshape', [hidden, g.int64([-1, arch.hiddenSize])]);
  const flatLogits = g.op('Gemm', [flat, lmHead], { transB: { int: 1 } });
  const logitsShape = g.op('Concat', [g.op('Shape', [IO.inputIds]), g.int64([arch.vocabSize])], { axis: { int: 0 } });
  g.op('Reshape', [flatLogits, logitsShape], {}, IO.logits);
  return g.build();
}

/** cos/sin of the rotary angles, computed in-graph from position_ids (HF's non-interleaved RoPE). */
function rotaryTables(g: GraphBuilder, arch: LlamaArchitecture): Rotary {
  const headDim = headDimOf(arch);
  const inverseFrequencies = Array.from({ length: headDim / 2 }, (_, i) => 1 / arch.ropeTheta ** ((2 * i) / headDim));
  const positions = g.op('Unsqueeze', [g.op('Cast', [IO.positionIds], { to: { int: ElementType.FLOAT } }), g.int64([2])]);
  const angles = g.op('Mul', [positions, g.float(inverseFrequencies)]); // [B,S,hd/2]
  const doubled = g.op('Concat', [angles, angles], { axis: { int: -1 } }); // [B,S,hd]
  const perHead = (x: string) => g.op('Unsqueeze', [x, g.int64([1])]); // [B,1,S,hd]
  return { cos: perHead(g.op('Cos', [doubled])), sin: perHead(g.op('Sin', [doubled])) };
}

/**
 * Additive attention bias [B,1,1,S,T] (T = P+S) that lets query i (slot P+i) see key slot j only when
 * j ≤ P+i (causal) and attention_mask[b,j] ≠ 0 (not padding). Built once, shared by every layer.
 */
function attentionBiasFromMask(g: GraphBuilder): string {
  const one = g.int64([1], []);
  const sequence = g.op('Gather', [g.op('Shape', [IO.inputIds]), one], { axis: { int: 0 } });
  const total = g.op('Gather', [g.op('Shape', [IO.attentionMask]), one], { axis: { int: 0 } });
  const past = g.op('Sub', [total, sequence]);
  const keySlots = g.op('Range', [g.int64([0], []), total, one]); // [T]
  const querySlots = g.op('Range', [past, total, one]); // [S]
  const causal = g.op('LessOrEqual', [
    g.op('Unsqueeze', [keySlots, g.int64([0])]), // [1,T]
    g.op('Unsqueeze', [querySlots, g.int64([1])]), // [S,1]
  ]); // [S,T]
  const notPadding = g.op('Unsqueeze', [g.op('Cast', [IO.attentionMask], { to: { int: ElementType.BOOL } }), g.int64([1, 2, 3])]); // [B,1,1,1,T]
  const allowed = g.op('And', [causal, notPadding]); // [B,1,1,S,T]
  return g.op('Where', [allowed, g.float([0], []), g.float([MASKED], [])]);
}

function decoderLayer(
  g: GraphBuilder,
  arch: LlamaArchitecture,
  layer: number,
  w: LlamaLayerWeights,
  hidden: string,
  rotary: Rotary,
  attentionBias: string,
): string {
  const prefix = `model.layers.${layer}`;
  const h = arch.hiddenSize;
  const headDim = headDimOf(arch);
  const heads = arch.numAttentionHeads;
  const kvHeads = arch.numKeyValueHeads;
  const groupSize = heads / kvHeads;
  const linear = (name: string, weight: Float32Array, outFeatures: number, inFeatures: number, x: string) =>
    g.op('MatMul', [x, g.initializer(`${prefix}.${name}.weight_t`, ElementType.FLOAT, [inFeatures, outFeatures], transpose(weight, outFeatures, inFeatures))]);
  const norm = (name: string, weight: Float32Array, x: string) =>
    rmsNorm(g, x, g.initializer(`${prefix}.${name}.weight`, ElementType.FLOAT, [h], weight), arch.rmsNormEps);
  // [B,S,n*hd] → [B,n,S,hd]
  const splitHeads = (x: string, n: number) => g.op('Transpose', [g.op('Reshape', [x, g.int64([0, 0, n, headDim])])], { perm: { ints: [0, 2, 1, 3] } });

  // Self-attention with grouped-query heads and the KV cache.
  const x = norm('input_layernorm', w.inputLayernorm, hidden);
  const q = applyRotary(g, splitHeads(linear('self_attn.q_proj', w.qProj, heads * headDim, h, x), heads), rotary, headDim);
  const k = applyRotary(g, splitHeads(linear('self_attn.k_proj', w.kProj, kvHeads * headDim, h, x), kvHeads), rotary, headDim);
  const v = splitHeads(linear('self_attn.v_proj', w.vProj, kvHeads * headDim, h, x), kvHeads);
  const keys = appendToCache(g, arch, k, IO.pastKey(layer), IO.presentKey(layer)); // [B,kvH,T,hd] fp32
  const values = appendToCache(g, arch, v, IO.pastValue(layer), IO.presentValue(layer));

  // GQA without copying K/V: view queries as [B,kvH,group,S,hd] and broadcast K/V over the group axis.
  const scaledQ = g.op('Mul', [q, g.float([1 / Math.sqrt(headDim)], [])]);
  const groupedQ = g.op('Reshape', [scaledQ, g.int64([0, kvHeads, groupSize, -1, headDim])]);
  const keysT = g.op('Transpose', [g.op('Unsqueeze', [keys, g.int64([2])])], { perm: { ints: [0, 1, 2, 4, 3] } }); // [B,kvH,1,hd,T]
  const scores = g.op('Add', [g.op('MatMul', [groupedQ, keysT]), attentionBias]); // [B,kvH,group,S,T]
  const probabilities = g.op('Softmax', [scores], { axis: { int: -1 } });
  const context = g.op('MatMul', [probabilities, g.op('Unsqueeze', [values, g.int64([2])])]); // [B,kvH,group,S,hd]
  const merged = g.op('Reshape', [
    g.op('Transpose', [g.op('Reshape', [context, g.int64([0, heads, -1, headDim])])], { perm: { ints: [0, 2, 1, 3] } }),
    g.int64([0, 0, heads * headDim]),
  ]); // [B,S,heads*hd]
  hidden = g.op('Add', [hidden, linear('self_attn.o_proj', w.oProj, h, heads * headDim, merged)]);

  // SwiGLU MLP.
  const y = norm('post_attention_layernorm', w.postAttentionLayernorm, hidden);
  const gate = linear('mlp.gate_proj', w.gateProj, arch.intermediateSize, h, y);
  const up = linear('mlp.up_proj', w.upProj, arch.intermediateSize, h, y);
  const activated = g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), up]);
  return g.op('Add', [hidden, linear('mlp.down_proj', w.downProj, h, arch.intermediateSize, activated)]);
}

/**
 * Concatenates the new K or V after the cached slots and exposes the result as the present output. With an
 * fp16 cache the new values are rounded to fp16 *before* use, so this step attends to exactly the values later
 * steps will read back (cached and full-recompute runs then agree).
 */
function appendToCache(g: GraphBuilder, arch: LlamaArchitecture, fresh: string, pastName: string, presentName: string): string {
  if (arch.kvDtype === 'float16') {
    const fresh16 = g.op('Cast', [fresh], { to: { int: ElementType.FLOAT16 } });
    g.op('Concat', [pastName, fresh16], { axis: { int: 2 } }, presentName);
    return g.op('Cast', [presentName], { to: { int: ElementType.FLOAT } });
  }
  return g.op('Concat', [pastName, fresh], { axis: { int: 2 } }, presentName);
}

/** x·cos + rotate_half(x)·sin, with rotate_half(x) = concat(−x₂, x₁) over the two halves of the head. */
function applyRotary(g: GraphBuilder, x: string, rotary: Rotary, headDim: number): string {
  const [first, second] = g.opWithOutputs('Split', [x, g.int64([headDim / 2, headDim / 2])], 2, { axis: { int: -1 } });
  const rotated = g.op('Concat', [g.op('Neg', [second!]), first!], { axis: { int: -1 } });
  return g.op('Add', [g.op('Mul', [x, rotary.cos]), g.op('Mul', [rotated, rotary.sin])]);
}

/** RMSNorm: x / sqrt(mean(x²) + eps) · weight, from primitive ops (onnxruntime fuses them when it can). */
function rmsNorm(g: GraphBuilder, x: string, weight: string, eps: number): string {
  const meanSquare = g.op('ReduceMean', [g.op('Mul', [x, x])], { axes: { ints: [-1] }, keepdims: { int: 1 } });
  const inverseRms = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [meanSquare, g.float([eps], [])])])]);
  return g.op('Mul', [g.op('Mul', [x, inverseRms]), weight]);
}

/** [rows, cols] row-major → [cols, rows]: HF Linear weights are [out, in], MatMul wants [in, out]. */
function transpose(matrix: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(matrix.length);
  for (let r = 0; r < rows; r++) {
    const rowOffset = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = matrix[rowOffset + c]!;
  }
  return out;
}
