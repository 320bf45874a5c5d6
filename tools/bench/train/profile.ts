/**
 * Where our training step's time goes (`--profile`): the trainer's own graph (buildTrainGraph, the same
 * session options as StepRunner) run with onnxruntime's profiler on, summarised by ../ort-profile.ts into op
 * types, nodes and parts of the step.
 */
import { join } from 'node:path';
import { MATMUL_OPS, summarizeProfile, type StepProfile } from '../ort-profile.ts';
import type { StepBatch } from '../../trainer/step-runner.ts';
import { createTrainSession } from './graph-session.ts';
import type { TrainWorkload } from './workload.ts';

export type { StepProfile } from '../ort-profile.ts';

/**
 * Which part of the step a kernel belongs to, from its tensor shapes: the LM head and loss touch [·,V]
 * tensors, attention's core touches [·,S,S] scores; everything else is the linears and the per-token
 * element-wise work (norms, RoPE, SwiGLU, residuals, embedding gather/scatter).
 */
function partOf(op: string, shapes: number[][], work: TrainWorkload): string {
  const { vocabSize: V } = work.arch;
  const S = work.sequence;
  const kind = MATMUL_OPS.has(op) ? 'matmul' : 'other ops';
  if (shapes.some((s) => s.length === 2 && (s[1] === V || s[0] === V))) return `LM head + loss: ${kind}`;
  if (shapes.some((s) => s.length >= 2 && s.at(-1) === S && s.at(-2) === S)) return `attention S×S: ${kind}`;
  return `linears, norms, RoPE, SwiGLU: ${kind}`;
}

export async function profileTrainStep(work: TrainWorkload, params: ReadonlyMap<string, Float32Array>, batch: StepBatch, options: { threads: number; runs: number; scratchDir: string }): Promise<StepProfile> {
  const prefix = join(options.scratchDir, 'ours-profile');
  const { session, feeds: feedsFor } = await createTrainSession(work, batch, { threads: options.threads, profilePrefix: prefix });
  const feeds = feedsFor(params, batch);
  await session.run(feeds); // warm-up, left out below
  for (let i = 0; i < options.runs; i++) await session.run(feeds);
  session.endProfiling();
  await session.release();
  return summarizeProfile(prefix, options.runs, (op, shapes) => partOf(op, shapes, work));
}
