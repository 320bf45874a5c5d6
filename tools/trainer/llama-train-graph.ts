/**
 * The Llama block as a training graph: the forward pass of tools/model-builder/llama-graph.ts (the same
 * embeddings, RMSNorm, RoPE, grouped-query attention, SwiGLU and tied head, with the same parameter names)
 * written against the differentiating tape, so one onnxruntime run returns the loss and every gradient.
 *
 * Differences from the serving graph, all because training shapes are fixed per graph: no KV cache, right
 * padding (padded positions carry zero loss weight), logits only at the rows that carry loss (`loss_rows`),
 * so fine-tuning on replies skips the LM head for prompt tokens, and *prefix sharing*: a row may hold one
 * shared prefix (segment 0, e.g. an NPC's persona) followed by several independent continuations
 * (segments 1, 2, …), each attending to the prefix and to itself with positions continuing after the
 * prefix — exactly the sequences it would see alone, for a fraction of the compute (the persona is ~90 %
 * of a dialogue prompt). Plain rows are one segment 0 with positions 0..S−1. A test checks the logits
 * equal the serving graph's on the same weights.
 */
import { headDimOf, type LlamaArchitecture } from '../model-builder/architecture.ts';
import type { Graph } from '../model-builder/onnx/graph-builder.ts';
import { Tape, type FloatType, type Tensor } from './autodiff/tape.ts';

export const PROJECTIONS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type Projection = (typeof PROJECTIONS)[number];
const MLP_PROJECTIONS: ReadonlySet<Projection> = new Set(['gate_proj', 'up_proj', 'down_proj']);

export interface LoraConfig {
  rank: number;
  alpha: number;
  targets: readonly Projection[];
}

export interface TrainShape {
  /** Rows per step. */
  batch: number;
  /** Tokens per row. */
  sequence: number;
  /** Positions (flat row·S + column) whose next token carries loss; padded with weight 0. */
  lossRows: number;
}

export const TRAIN_INPUTS = {
  inputIds: 'input_ids',
  /** [B,S] RoPE position of each token. */
  positionIds: 'position_ids',
  /** [B,S] 0 = shared prefix (visible to every later token of the row); k ≥ 1 = segment k (visible only to itself). */
  segmentIds: 'segment_ids',
  lossRows: 'loss_rows',
  targets: 'targets',
  lossWeights: 'loss_weights',
} as const;
export const LOSS_OUTPUT = 'loss';
/** Optional output: the logits at the loss rows [M,V] (parity tests). */
export const LOGITS_OUTPUT = 'logits';

export interface TrainGraph {
  graph: Graph;
  shape: TrainShape;
  /** Trainable tensors in graph-input order, each with a `grad.<name>` output. */
  trainable: ParamSpec[];
  /** Frozen float inputs (base weights under LoRA). */
  frozen: ParamSpec[];
}

export interface ParamSpec {
  name: string;
  shape: number[];
}

/** Serving-graph initializer names: linears are stored [in, out] (`.weight_t`), as MatMul wants them. */
export const paramNames = {
  embed: 'model.embed_tokens.weight',
  norm: 'model.norm.weight',
  lmHead: 'lm_head.weight',
  inputNorm: (layer: number) => `model.layers.${layer}.input_layernorm.weight`,
  postNorm: (layer: number) => `model.layers.${layer}.post_attention_layernorm.weight`,
  linear: (layer: number, projection: Projection) => `model.layers.${layer}.${MLP_PROJECTIONS.has(projection) ? 'mlp' : 'self_attn'}.${projection}.weight_t`,
  loraA: (layer: number, projection: Projection) => paramNames.linear(layer, projection).replace(/\.weight_t$/, '.lora_A'),
  loraB: (layer: number, projection: Projection) => paramNames.linear(layer, projection).replace(/\.weight_t$/, '.lora_B'),
};

/** Every base weight of the architecture with its training-layout shape, in a fixed order. */
export function baseParamSpecs(arch: LlamaArchitecture): ParamSpec[] {
  const h = arch.hiddenSize;
  const headDim = headDimOf(arch);
  const q = arch.numAttentionHeads * headDim;
  const kv = arch.numKeyValueHeads * headDim;
  const i = arch.intermediateSize;
  const linearShape: Record<Projection, number[]> = {
    q_proj: [h, q], k_proj: [h, kv], v_proj: [h, kv], o_proj: [q, h], gate_proj: [h, i], up_proj: [h, i], down_proj: [i, h],
  };
  const specs: ParamSpec[] = [{ name: paramNames.embed, shape: [arch.vocabSize, h] }];
  for (let layer = 0; layer < arch.numLayers; layer++) {
    specs.push({ name: paramNames.inputNorm(layer), shape: [h] });
    for (const p of PROJECTIONS) specs.push({ name: paramNames.linear(layer, p), shape: linearShape[p] });
    specs.push({ name: paramNames.postNorm(layer), shape: [h] });
  }
  specs.push({ name: paramNames.norm, shape: [h] });
  if (!arch.tieWordEmbeddings) specs.push({ name: paramNames.lmHead, shape: [arch.vocabSize, h] });
  return specs;
}

/** LoRA adapter tensors for the targeted projections: A [in, r] and B [r, out]. */
export function loraParamSpecs(arch: LlamaArchitecture, lora: LoraConfig): ParamSpec[] {
  const base = new Map(baseParamSpecs(arch).map((s) => [s.name, s.shape]));
  const specs: ParamSpec[] = [];
  for (let layer = 0; layer < arch.numLayers; layer++) {
    for (const p of lora.targets) {
      const [inF, outF] = base.get(paramNames.linear(layer, p))!;
      specs.push({ name: paramNames.loraA(layer, p), shape: [inF!, lora.rank] });
      specs.push({ name: paramNames.loraB(layer, p), shape: [lora.rank, outF!] });
    }
  }
  return specs;
}

export function buildTrainGraph(arch: LlamaArchitecture, shape: TrainShape, options: { floatType?: FloatType; lora?: LoraConfig; outputLogits?: boolean; forwardOnly?: boolean } = {}): TrainGraph {
  const tape = new Tape('worldmind-llama-train', options.floatType ?? 'float32');
  const { batch: B, sequence: S, lossRows: M } = shape;
  const N = B * S;
  const h = arch.hiddenSize;
  const hd = headDimOf(arch);
  const H = arch.numAttentionHeads;
  const KV = arch.numKeyValueHeads;
  const G = H / KV;

  // Base weights are trainable, or frozen inputs under LoRA.
  const base = baseParamSpecs(arch);
  const weights = new Map<string, Tensor>();
  const frozen: ParamSpec[] = [];
  for (const spec of base) {
    if (options.lora) {
      weights.set(spec.name, tape.floatInput(spec.name, spec.shape));
      frozen.push(spec);
    } else {
      weights.set(spec.name, tape.param(spec.name, spec.shape));
    }
  }
  const lora = new Map<string, Tensor>();
  if (options.lora) for (const spec of loraParamSpecs(arch, options.lora)) lora.set(spec.name, tape.param(spec.name, spec.shape));
  const loraScale = options.lora ? tape.scalar(options.lora.alpha / options.lora.rank) : undefined;

  const ids = tape.intInput(TRAIN_INPUTS.inputIds, [B, S]);
  const positions = tape.intInput(TRAIN_INPUTS.positionIds, [B, S]);
  const segments = tape.intInput(TRAIN_INPUTS.segmentIds, [B, S]);
  const lossRows = tape.intInput(TRAIN_INPUTS.lossRows, [M]);
  const targets = tape.intInput(TRAIN_INPUTS.targets, [M]);
  const lossWeights = tape.floatInput(TRAIN_INPUTS.lossWeights, [M]);

  const w = (name: string) => weights.get(name)!;
  const rmsNorm = (x: Tensor, scale: Tensor) => {
    const inverseRms = tape.reciprocal(tape.sqrt(tape.add(tape.meanLast(tape.mul(x, x)), tape.scalar(arch.rmsNormEps))));
    return tape.mul(tape.mul(x, inverseRms), scale);
  };
  const linear = (layer: number, projection: Projection, x: Tensor) => {
    const y = tape.matmul(x, w(paramNames.linear(layer, projection)));
    const a = lora.get(paramNames.loraA(layer, projection));
    if (!a || !loraScale) return y;
    const b = lora.get(paramNames.loraB(layer, projection))!;
    return tape.add(y, tape.mul(tape.matmul(tape.matmul(x, a), b), loraScale));
  };

  // Rotary tables for every position (HF's non-interleaved RoPE), gathered per token; rotate_half as a
  // fixed matrix: x·R = concat(−x₂, x₁), so the backward is a MatMul too.
  const P = arch.maxPositionEmbeddings;
  const cos = new Float64Array(P * hd);
  const sin = new Float64Array(P * hd);
  for (let pos = 0; pos < P; pos++) {
    for (let j = 0; j < hd; j++) {
      const angle = pos / arch.ropeTheta ** ((2 * (j % (hd / 2))) / hd);
      cos[pos * hd + j] = Math.cos(angle);
      sin[pos * hd + j] = Math.sin(angle);
    }
  }
  const perToken = (table: Float64Array) => tape.reshape(tape.gatherRows(tape.constant(table, [P, hd]), positions), [B, 1, S, hd]);
  const cosT = perToken(cos);
  const sinT = perToken(sin);
  const rotate = new Float64Array(hd * hd);
  for (let j = 0; j < hd / 2; j++) {
    rotate[(j + hd / 2) * hd + j] = -1;
    rotate[j * hd + (j + hd / 2)] = 1;
  }
  const rotateT = tape.constant(rotate, [hd, hd]);
  const rope = (x: Tensor) => tape.add(tape.mul(x, cosT), tape.mul(tape.matmul(x, rotateT), sinT));

  // Additive attention bias [B,1,1,S,S]: query i sees key j ≤ i when j is in the shared prefix (segment 0)
  // or in i's own segment.
  const g = tape.g;
  const slots = g.op('Range', [g.int64([0], []), g.int64([S], []), g.int64([1], [])]);
  const causal = g.op('LessOrEqual', [g.op('Unsqueeze', [slots, g.int64([0])]), g.op('Unsqueeze', [slots, g.int64([1])])]); // [S,S]
  const querySegment = g.op('Unsqueeze', [segments.name, g.int64([2])]); // [B,S,1]
  const keySegment = g.op('Unsqueeze', [segments.name, g.int64([1])]); // [B,1,S]
  const sameSegment = g.op('Equal', [querySegment, keySegment]);
  const keyInPrefix = g.op('Equal', [keySegment, g.int64([0], [])]);
  const visible = g.op('And', [g.op('Or', [sameSegment, keyInPrefix]), causal]); // [B,S,S]
  const zero = tape.scalar(0);
  const blocked = tape.scalar(-1e9);
  const bias = tape.plain('Unsqueeze', [tape.plain('Where', [visible, zero.name, blocked.name], [B, S, S]), g.int64([1, 2])], [B, 1, 1, S, S]);
  const attentionScale = tape.scalar(1 / Math.sqrt(hd));

  let hidden = tape.reshape(tape.gatherRows(w(paramNames.embed), ids), [N, h]);
  for (let layer = 0; layer < arch.numLayers; layer++) {
    const x = rmsNorm(hidden, w(paramNames.inputNorm(layer)));
    const heads = (t: Tensor, n: number) => tape.transpose(tape.reshape(t, [B, S, n, hd]), [0, 2, 1, 3]); // [B,n,S,hd]
    const q = rope(heads(linear(layer, 'q_proj', x), H));
    const k = rope(heads(linear(layer, 'k_proj', x), KV));
    const v = heads(linear(layer, 'v_proj', x), KV);
    const groupedQ = tape.reshape(tape.mul(q, attentionScale), [B, KV, G, S, hd]);
    const keysT = tape.transpose(tape.reshape(k, [B, KV, 1, S, hd]), [0, 1, 2, 4, 3]);
    const probabilities = tape.softmax(tape.add(tape.matmul(groupedQ, keysT), bias)); // [B,KV,G,S,S]
    const context = tape.matmul(probabilities, tape.reshape(v, [B, KV, 1, S, hd])); // [B,KV,G,S,hd]
    const merged = tape.reshape(tape.transpose(tape.reshape(context, [B, H, S, hd]), [0, 2, 1, 3]), [N, H * hd]);
    hidden = tape.add(hidden, linear(layer, 'o_proj', merged));

    const y = rmsNorm(hidden, w(paramNames.postNorm(layer)));
    const activated = tape.mul(tape.silu(linear(layer, 'gate_proj', y)), linear(layer, 'up_proj', y));
    hidden = tape.add(hidden, linear(layer, 'down_proj', activated));
  }
  hidden = rmsNorm(hidden, w(paramNames.norm));
  const rows = tape.gatherRows(hidden, lossRows); // [M,h]
  const head = arch.tieWordEmbeddings ? w(paramNames.embed) : w(paramNames.lmHead);
  const logits = tape.matmul(rows, tape.transposeLast(head)); // [M,V]
  const loss = tape.crossEntropy(logits, targets, lossWeights);
  tape.output(loss, LOSS_OUTPUT);
  if (options.outputLogits) tape.output(logits, LOGITS_OUTPUT);
  if (!options.forwardOnly) tape.backward(loss);
  return { graph: tape.build(), shape, trainable: options.forwardOnly ? [] : tape.params.map((p) => ({ name: p.name, shape: [...p.shape] })), frozen: options.forwardOnly ? [...frozen, ...tape.params.map((p) => ({ name: p.name, shape: [...p.shape] }))] : frozen };
}
