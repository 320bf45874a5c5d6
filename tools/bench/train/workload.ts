/**
 * What every contender trains on: one architecture, one batch shape, the same seeded initial weights and
 * the same token rows (all positions carry loss: the pre-training shape), so tokens/s and losses compare.
 */
import { headDimOf, type LlamaArchitecture } from '../../model-builder/architecture.ts';
import { parseArchitecture, PRESETS, randomLlamaWeights, type PresetName } from '../../model-builder/index.ts';
import { baseParamSpecs, paramNames, PROJECTIONS, type Projection } from '../../trainer/llama-train-graph.ts';
import type { StepBatch } from '../../trainer/step-runner.ts';

export interface TrainWorkload {
  arch: LlamaArchitecture;
  batch: number;
  sequence: number;
  /** Loss-carrying tokens per step (= batch × sequence). */
  tokensPerStep: number;
}

export function makeArchitecture(preset: PresetName, overrides: { vocab?: number; hidden?: number; layers?: number; heads?: number; kvHeads?: number; intermediate?: number }): LlamaArchitecture {
  const base = PRESETS[preset];
  return parseArchitecture({
    ...base,
    ...(overrides.vocab ? { vocabSize: overrides.vocab } : {}),
    ...(overrides.hidden ? { hiddenSize: overrides.hidden } : {}),
    ...(overrides.layers ? { numLayers: overrides.layers } : {}),
    ...(overrides.heads ? { numAttentionHeads: overrides.heads } : {}),
    ...(overrides.kvHeads ? { numKeyValueHeads: overrides.kvHeads } : {}),
    ...(overrides.intermediate ? { intermediateSize: overrides.intermediate } : {}),
  });
}

/** Seeded HF-style initial weights (normal(0, initializer_range), norms 1) in the trainer's layout (linears [in, out]). */
export function initialParams(arch: LlamaArchitecture, seed: number): Map<string, Float32Array> {
  const w = randomLlamaWeights(arch, seed);
  const key: Record<Projection, 'qProj' | 'kProj' | 'vProj' | 'oProj' | 'gateProj' | 'upProj' | 'downProj'> = {
    q_proj: 'qProj', k_proj: 'kProj', v_proj: 'vProj', o_proj: 'oProj', gate_proj: 'gateProj', up_proj: 'upProj', down_proj: 'downProj',
  };
  const shapes = new Map(baseParamSpecs(arch).map((s) => [s.name, s.shape]));
  const params = new Map<string, Float32Array>();
  params.set(paramNames.embed, w.embedTokens);
  params.set(paramNames.norm, w.norm);
  if (w.lmHead) params.set(paramNames.lmHead, w.lmHead);
  w.layers.forEach((layer, l) => {
    params.set(paramNames.inputNorm(l), layer.inputLayernorm);
    params.set(paramNames.postNorm(l), layer.postAttentionLayernorm);
    for (const p of PROJECTIONS) {
      const name = paramNames.linear(l, p);
      const [inF, outF] = shapes.get(name)!;
      params.set(name, transposeMatrix(layer[key[p]], outF!, inF!)); // HF [out, in] → [in, out]
    }
  });
  return params;
}

function transposeMatrix(m: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = m[r * cols + c]!;
  return out;
}

/** Deterministic token rows (a cheap LCG over the vocabulary) and their next tokens; the step index varies the rows. */
export function makeBatch(work: TrainWorkload, step: number): StepBatch {
  const { batch: B, sequence: S } = work;
  const V = work.arch.vocabSize;
  const N = B * S;
  const stream = new Uint32Array(B * (S + 1));
  let state = (0x9e3779b9 ^ (step * 0x85ebca6b)) >>> 0;
  for (let i = 0; i < stream.length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    stream[i] = (state >>> 8) % V;
  }
  const inputIds = new BigInt64Array(N);
  const targets = new BigInt64Array(N);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < S; i++) {
      inputIds[b * S + i] = BigInt(stream[b * (S + 1) + i]!);
      targets[b * S + i] = BigInt(stream[b * (S + 1) + i + 1]!);
    }
  }
  return plainRowsBatch(B, S, inputIds, targets);
}

/** A step batch of plain rows: positions 0..S−1, one segment (0) per row, every position carrying loss. */
export function plainRowsBatch(B: number, S: number, inputIds: BigInt64Array, targets: BigInt64Array): StepBatch {
  const N = B * S;
  return {
    shape: { batch: B, sequence: S, lossRows: N },
    inputIds,
    positionIds: BigInt64Array.from({ length: N }, (_, i) => BigInt(i % S)),
    segmentIds: new BigInt64Array(N),
    lossRows: BigInt64Array.from({ length: N }, (_, i) => BigInt(i)),
    targets,
    lossWeights: new Float32Array(N).fill(1 / N),
  };
}

/** Weights inside matrix multiplies, per token: every linear and the LM head (the embedding gather is not one). */
export function matmulParams(arch: LlamaArchitecture): number {
  const hd = headDimOf(arch);
  const h = arch.hiddenSize;
  const q = arch.numAttentionHeads * hd;
  const kv = arch.numKeyValueHeads * hd;
  const perLayer = h * q + 2 * h * kv + q * h + 3 * h * arch.intermediateSize;
  return arch.numLayers * perLayer + arch.vocabSize * h;
}

export function totalParams(arch: LlamaArchitecture): number {
  return baseParamSpecs(arch).reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
}

/**
 * Forward + backward FLOPs of one step as the model defines them (not as any implementation happens to
 * spend them): 6·tokens·matmul-params (2 forward, 4 backward) plus attention's scores and weighted sum,
 * dense S×S (both our graph and the PyTorch peer compute the full square and mask it): forward 2 batched
 * matmuls of 2·B·H·S²·hd FLOPs each, backward 4.
 */
export function stepFlops(work: TrainWorkload): { total: number; linear: number; attention: number } {
  const { arch, batch: B, sequence: S } = work;
  const linear = 6 * B * S * matmulParams(arch);
  const attention = arch.numLayers * 6 * 2 * B * arch.numAttentionHeads * S * S * headDimOf(arch);
  return { total: linear + attention, linear, attention };
}
