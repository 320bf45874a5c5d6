/**
 * Gradients of the training graph against central finite differences, in float64, on a tiny model: every
 * parameter of every layer type (embedding with repeated ids, RMSNorm scales, each attention and MLP
 * projection, the tied head through the embedding, LoRA A and B) is probed at random coordinates.
 */
import { describe, expect, it } from 'vitest';
import { parseArchitecture } from '../model-builder/index.ts';
import { baseParamSpecs, loraParamSpecs, type LoraConfig } from './llama-train-graph.ts';
import { StepRunner, type FloatArray, type StepBatch } from './step-runner.ts';

const arch = parseArchitecture({
  vocabSize: 13,
  hiddenSize: 8,
  numLayers: 2,
  numAttentionHeads: 4,
  numKeyValueHeads: 2,
  intermediateSize: 12,
  maxPositionEmbeddings: 16,
  tieWordEmbeddings: true,
});

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function randomParams(specs: { name: string; shape: number[] }[], seed: number): Map<string, FloatArray> {
  const next = rng(seed);
  const out = new Map<string, FloatArray>();
  for (const spec of specs) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const isNorm = spec.shape.length === 1;
    out.set(spec.name, Float64Array.from({ length: n }, () => (isNorm ? 1 + (next() - 0.5) * 0.4 : (next() - 0.5) * 0.8)));
  }
  return out;
}

function batch(): StepBatch {
  const B = 2;
  const S = 5;
  // Repeated ids exercise the scatter-add of the embedding gradient.
  const ids = [3, 7, 3, 1, 12, 5, 5, 0, 9, 3];
  const rows = [0, 1, 2, 3, 5, 6, 7, 8];
  const targets = rows.map((r) => ids[r + 1]!);
  const weights = [0.1, 0.2, 0.05, 0.15, 0.1, 0.1, 0.2, 0.1];
  // Row 0 is packed: a shared prefix (segment 0) and two continuations with their own positions; row 1 is plain.
  const positions = [0, 1, 2, 3, 2, 0, 1, 2, 3, 4];
  const segments = [0, 0, 1, 1, 2, 0, 0, 0, 0, 0];
  return {
    shape: { batch: B, sequence: S, lossRows: rows.length },
    inputIds: BigInt64Array.from(ids, BigInt),
    positionIds: BigInt64Array.from(positions, BigInt),
    segmentIds: BigInt64Array.from(segments, BigInt),
    lossRows: BigInt64Array.from(rows, BigInt),
    targets: BigInt64Array.from(targets, BigInt),
    lossWeights: Float32Array.from(weights),
  };
}

async function check(runner: StepRunner, params: Map<string, FloatArray>, trainable: string[], probesPerTensor: number) {
  const data = batch();
  const { grads } = await runner.run(params, data);
  const next = rng(42);
  const eps = 1e-6;
  let worst = 0;
  for (const name of trainable) {
    const values = params.get(name)!;
    const grad = grads.get(name)!;
    // A vanishing gradient would make the comparison vacuous.
    expect(Array.from(grad).reduce((a, g) => a + Math.abs(g), 0), `${name} has an all-zero gradient`).toBeGreaterThan(1e-8);
    for (let p = 0; p < probesPerTensor; p++) {
      const i = Math.floor(next() * values.length);
      const original = values[i]!;
      values[i] = original + eps;
      const up = (await runner.run(params, data)).loss;
      values[i] = original - eps;
      const down = (await runner.run(params, data)).loss;
      values[i] = original;
      const numeric = (up - down) / (2 * eps);
      const error = Math.abs(numeric - grad[i]!) / Math.max(1e-6, Math.abs(numeric) + Math.abs(grad[i]!));
      worst = Math.max(worst, error);
      expect(error, `${name}[${i}]: analytic ${grad[i]} vs numeric ${numeric}`).toBeLessThan(1e-5);
    }
  }
  return worst;
}

describe('training graph gradients (float64, finite differences)', () => {
  it('match for every weight of a full-parameter model', async () => {
    const runner = new StepRunner(arch, { threads: 1, floatType: 'float64' });
    const specs = baseParamSpecs(arch);
    const params = randomParams(specs, 1);
    const worst = await check(runner, params, specs.map((s) => s.name), 3);
    expect(worst).toBeLessThan(1e-5);
    await runner.release();
  });

  it('match for LoRA adapters on every projection', async () => {
    const lora: LoraConfig = { rank: 2, alpha: 4, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] };
    const runner = new StepRunner(arch, { threads: 1, floatType: 'float64', lora });
    const adapters = loraParamSpecs(arch, lora);
    // B non-zero so A's gradient is not trivially zero.
    const params = randomParams([...baseParamSpecs(arch), ...adapters], 2);
    await check(runner, params, adapters.map((s) => s.name), 2);
    await runner.release();
  });
});
