/**
 * Where one engine decode step's time goes (`bench:inference --profile`): the engine's own graph (the
 * engine-shaped variant the in-place runner serves, opened by the engine's own loader) run with onnxruntime's
 * profiler on, at a decode shape of `rows` sequences over `columns` cached tokens each, every column valid.
 * Its kernels are grouped by what they compute, so the profile says what stands between the engine's decode
 * steps and the MatMul roofline (which holds only the linears and the LM head).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor } from 'onnxruntime-node';
import { FRESH_KEY, FRESH_VALUE, LOGITS_INDEX } from '../../../server/src/inference/engine/engine-graph.ts';
import { openEngineModel } from '../../../server/src/inference/engine/engine-model.ts';
import { MATMUL_OPS, summarizeProfile, type StepProfile } from '../ort-profile.ts';

export interface DecodeShape {
  rows: number;
  /** Cached tokens per row (the `past` columns); the step adds one. */
  columns: number;
}

/** What a decode step's kernel computes, from its shapes (`columns` must differ from the model's other dims). */
export function decodePart(op: string, shapes: number[][], dims: { columns: number; vocab: number }): string {
  const { columns: C, vocab: V } = dims;
  const matmul = MATMUL_OPS.has(op);
  if (shapes.some((s) => s.at(-1) === V)) return matmul ? 'LM head (matmul)' : 'LM head: other ops';
  // The cached keys/values are [B, kvH, 1, C, hd]; the scores and probabilities over them [.., C] or [.., C + 1].
  const overCache = shapes.some((s) => s.length >= 4 && (s.at(-2) === C || s.at(-1) === C || s.at(-1) === C + 1));
  if (matmul && overCache) return 'attention over the cached KV (matmul)';
  if (overCache) return 'attention: mask, softmax, concat, slice';
  if (matmul && shapes.some((s) => s.length >= 4)) return 'attention on the new token (matmul)';
  if (matmul) return 'linears (matmul)';
  return 'norms, RoPE, SwiGLU, residuals, reshapes';
}

/** Profile `runs` decode steps of the model in `modelDir` (after two warm-up runs the summary leaves out). */
export async function profileDecodeStep(modelDir: string, shape: DecodeShape, options: { threads: number; runs?: number }): Promise<StepProfile & DecodeShape> {
  const runs = options.runs ?? 5;
  const scratch = mkdtempSync(join(tmpdir(), 'wm-decode-profile-'));
  const prefix = join(scratch, 'decode');
  try {
    const { model, kvStrategy, fallbackReason } = await openEngineModel(
      modelDir,
      { intraOpNumThreads: options.threads, interOpNumThreads: 1, sessionOptions: { enableProfiling: true, profileFilePrefix: prefix } },
      'inplace',
    );
    if (kvStrategy !== 'inplace') {
      await model.session.release();
      throw new Error(`the engine graph is not available for ${modelDir}: ${fallbackReason}`);
    }
    const { io, vocabSize: V } = model;
    const { rows: B, columns: C } = shape;
    const dims = [io.kvHeads, io.headDim, V, B];
    if (dims.includes(C) || dims.includes(C + 1)) throw new Error(`profileDecodeStep: ${C} columns collide with a model dimension (${dims.join(', ')}); pick another`);
    const kvElements = B * io.kvHeads * C * io.headDim;
    const freshElements = B * io.kvHeads * io.headDim;
    // Small deterministic values: the kernels' cost does not depend on them, but NaNs could.
    const kvData = () => (io.kvDtype === 'float16' ? new Uint16Array(kvElements).map((_, i) => 0x2000 + (i % 997)) : new Float32Array(kvElements).map((_, i) => Math.sin(i) * 0.1));
    const freshData = () => (io.kvDtype === 'float16' ? new Uint16Array(freshElements) : new Float32Array(freshElements));
    const feeds: Record<string, Tensor> = {
      [io.inputIds]: new Tensor('int64', new BigInt64Array(B).fill(1n), [B, 1]),
      [io.attentionMask]: new Tensor('int64', new BigInt64Array(B * (C + 1)).fill(1n), [B, C + 1]),
      [LOGITS_INDEX]: new Tensor('int64', new BigInt64Array(B), [B]),
    };
    if (io.positionIds) feeds[io.positionIds] = new Tensor('int64', new BigInt64Array(B).fill(BigInt(C)), [B, 1]);
    // Outputs into preallocated buffers, as the in-place runner does.
    const fetches: Record<string, Tensor> = { [io.logits]: new Tensor('float32', new Float32Array(B * V), [B, 1, V]) };
    io.layers.forEach((layer, l) => {
      feeds[layer.pastKey] = new Tensor(io.kvDtype, kvData(), [B, io.kvHeads, C, io.headDim]);
      feeds[layer.pastValue] = new Tensor(io.kvDtype, kvData(), [B, io.kvHeads, C, io.headDim]);
      fetches[FRESH_KEY(l)] = new Tensor(io.kvDtype, freshData(), [B, io.kvHeads, 1, io.headDim]);
      fetches[FRESH_VALUE(l)] = new Tensor(io.kvDtype, freshData(), [B, io.kvHeads, 1, io.headDim]);
    });
    try {
      for (let i = 0; i < 2 + runs; i++) await model.session.run(feeds, fetches);
      model.session.endProfiling();
    } finally {
      await model.session.release();
    }
    return { ...summarizeProfile(prefix, runs, (op, shapes) => decodePart(op, shapes, { columns: C, vocab: V })), rows: B, columns: C };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
