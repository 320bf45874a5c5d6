/**
 * The engine-shaped graph variant (engine-graph.ts) derived from a real builder model: what it rewrites.
 * That it computes the same tokens is batching.test.ts's job (engine vs the model layer alone).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deriveEngineGraph } from '../../server/src/inference/engine/engine-graph.ts';
import { onnxModelProto } from '../../server/src/inference/model/onnx-proto.ts';
import { buildTestModel } from './support.ts';

interface DecodedModel {
  graph: { node: Array<{ op_type: string; input: string[]; output: string[] }>; output: Array<{ name: string }> };
  metadata_props?: Array<{ key: string; value: string }>;
}

const decode = (bytes: Uint8Array): DecodedModel => {
  const ModelProto = onnxModelProto();
  return ModelProto.toObject(ModelProto.decode(bytes), { longs: Number, bytes: Uint8Array }) as DecodedModel;
};
/** The builder's I/O names (what the engine reads from the model's session I/O). */
const names = {
  pastKey: (l: number) => `past_key_values.${l}.key`,
  pastValue: (l: number) => `past_key_values.${l}.value`,
  presentKey: (l: number) => `present.${l}.key`,
  presentValue: (l: number) => `present.${l}.value`,
  logits: 'logits',
};
const opCounts = (m: DecodedModel) => m.graph.node.reduce((n, node) => n.set(node.op_type, (n.get(node.op_type) ?? 0) + 1), new Map<string, number>());

describe('engine graph variant', () => {
  let built: ReturnType<typeof buildTestModel>;
  beforeAll(() => {
    built = buildTestModel(); // tiny: 2 layers
  });
  afterAll(() => built.cleanup());

  it('fuses every RMSNorm and every RoPE into one kernel each, splits attention and outputs only the new K/V', () => {
    const layers = 2;
    const onnxPath = join(built.dir, 'onnx', 'model.onnx');
    const standard = decode(readFileSync(onnxPath));
    const variant = decode(deriveEngineGraph(onnxPath, names, layers, { maxPositions: 256 }));
    const before = opCounts(standard);
    const after = opCounts(variant);
    // Two norms per layer and the final one; the builder writes each from ReduceMean, Sqrt, Reciprocal and three Muls.
    expect(before.get('ReduceMean')).toBe(2 * layers + 1);
    expect(after.get('SimplifiedLayerNormalization')).toBe(2 * layers + 1);
    // Queries and keys of every layer; what computed cos/sin in-graph is gone with the rotations.
    expect(before.get('Neg')).toBe(2 * layers);
    expect(after.get('RotaryEmbedding')).toBe(2 * layers);
    for (const op of ['ReduceMean', 'Sqrt', 'Reciprocal', 'Split', 'Neg', 'Cos', 'Sin']) expect(after.get(op) ?? 0, op).toBe(0);
    expect(variant.graph.node.length).toBeLessThan(standard.graph.node.length);
    expect(variant.graph.output.map((o) => o.name)).toEqual(['logits', ...Array.from({ length: layers }, (_, l) => [`fresh.${l}.key`, `fresh.${l}.value`]).flat()]);
    expect(variant.metadata_props?.find((p) => p.key === 'worldmind.engine_io')?.value).toBe('inplace-kv,logits-index,fused-rms-norm,fused-rotary');
  });

  it('keeps the in-graph RoPE when it is not told the context length its tables must cover', () => {
    const onnxPath = join(built.dir, 'onnx', 'model.onnx');
    const variant = decode(deriveEngineGraph(onnxPath, names, 2));
    expect(opCounts(variant).get('RotaryEmbedding') ?? 0).toBe(0);
    expect(opCounts(variant).get('Neg')).toBe(4);
  });
});
