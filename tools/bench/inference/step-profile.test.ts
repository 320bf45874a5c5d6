/** bench:inference --profile: onnxruntime's profiler on the engine's real graph (a tiny model built on the spot). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestModel } from '../../../test/engine/support.ts';
import { decodePart, profileDecodeStep } from './step-profile.ts';

describe('decode step profile', () => {
  let model: { dir: string; cleanup: () => void };
  beforeAll(() => {
    model = buildTestModel(); // tiny: 2 layers, 2 KV heads of 16, vocab 320
  });
  afterAll(() => model.cleanup());

  it('splits a real decode step of the engine graph into its parts, and the parts add up to the kernels', async () => {
    const profile = await profileDecodeStep(model.dir, { rows: 3, columns: 23 }, { threads: 1, runs: 3 });
    expect(profile).toMatchObject({ rows: 3, columns: 23 });
    const parts = new Map(profile.byPart.map((p) => [p.op, p]));
    // Two layers: q, k, v, o, gate, up, down per layer; one LM head; two products over the cache per layer.
    expect(parts.get('linears (matmul)')?.count).toBe(14);
    expect(parts.get('LM head (matmul)')?.count).toBe(1);
    expect(parts.get('attention over the cached KV (matmul)')?.count).toBe(4);
    expect(parts.get('attention on the new token (matmul)')?.count).toBe(4);
    expect(parts.get('norms, RoPE, SwiGLU, residuals, reshapes')?.count).toBeGreaterThan(10);
    const partsMs = profile.byPart.reduce((n, p) => n + p.ms, 0);
    expect(partsMs).toBeCloseTo(profile.kernelMs, 6);
    expect(profile.byPart.reduce((n, p) => n + p.share, 0)).toBeCloseTo(1, 6);
    expect(profile.byOp.reduce((n, p) => n + p.ms, 0)).toBeCloseTo(profile.kernelMs, 6);
    expect(profile.runMs).toBeGreaterThan(0);
    expect(profile.topNodes.length).toBeGreaterThan(0);
  });

  it('refuses a context length that would make its parts ambiguous', async () => {
    await expect(profileDecodeStep(model.dir, { rows: 3, columns: 16 }, { threads: 1, runs: 1 })).rejects.toThrow(/16 columns collide with a model dimension/);
  });

  it('classifies kernels by their shapes', () => {
    const dims = { columns: 317, vocab: 49152 };
    expect(decodePart('Gemm', [[32, 576], [49152, 576], [32, 49152]], dims)).toBe('LM head (matmul)');
    expect(decodePart('FusedMatMul', [[32, 3, 3, 1, 64], [32, 3, 1, 317, 64], [32, 3, 3, 1, 317]], dims)).toBe('attention over the cached KV (matmul)');
    expect(decodePart('MatMul', [[32, 3, 3, 1, 317], [32, 3, 1, 317, 64], [32, 3, 3, 1, 64]], dims)).toBe('attention over the cached KV (matmul)');
    expect(decodePart('Softmax', [[32, 3, 3, 1, 318], [32, 3, 3, 1, 318]], dims)).toBe('attention: mask, softmax, concat, slice');
    expect(decodePart('MatMul', [[32, 3, 3, 1, 64], [32, 3, 1, 64, 1], [32, 3, 3, 1, 1]], dims)).toBe('attention on the new token (matmul)');
    expect(decodePart('FusedMatMul', [[32, 3, 3, 64], [32, 3, 1, 64], [32, 3, 3, 1]], dims)).toBe('attention on the new token (matmul)');
    expect(decodePart('MatMul', [[32, 1, 576], [576, 1536], [32, 1, 1536]], dims)).toBe('linears (matmul)');
    expect(decodePart('DynamicQuantizeMatMul', [[32, 1, 576], [576, 1536], [1536], [32, 1, 1536]], dims)).toBe('linears (matmul)');
    expect(decodePart('Mul', [[32, 1, 576], [576], [32, 1, 576]], dims)).toBe('norms, RoPE, SwiGLU, residuals, reshapes');
  });
});
