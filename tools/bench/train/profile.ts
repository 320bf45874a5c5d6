/**
 * Where our training step's time goes (`--profile`): the trainer's own graph (buildTrainGraph, the same
 * session options as StepRunner) run with onnxruntime's profiler on, the node events of the last few runs
 * summed by op type and by node (with shapes), so the report can name the top costs.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { StepBatch } from '../../trainer/step-runner.ts';
import { createTrainSession } from './graph-session.ts';
import type { TrainWorkload } from './workload.ts';

interface TraceEvent {
  cat: string;
  name: string;
  ts: number;
  dur: number;
  args?: { op_name?: string; input_type_shape?: Array<Record<string, number[]>>; output_type_shape?: Array<Record<string, number[]>>; thread_scheduling_stats?: unknown };
}

export interface OpCost {
  op: string;
  ms: number;
  share: number;
  count: number;
}

export interface NodeCost {
  node: string;
  op: string;
  ms: number;
  share: number;
  shapes: string;
}

export interface StepProfile {
  /** Mean wall time of a profiled run, ms. */
  runMs: number;
  /** Sum of node kernel times per run, ms (the rest is the executor and input/output handling). */
  kernelMs: number;
  nodes: number;
  byOp: OpCost[];
  /** Kernel time by where in the model and whether it is a matrix multiply. */
  byPart: OpCost[];
  topNodes: NodeCost[];
}

const MATMULS = new Set(['MatMul', 'FusedMatMul', 'Gemm']);

/**
 * Which part of the step a kernel belongs to, from its tensor shapes: the LM head and loss touch [·,V]
 * tensors, attention's core touches [·,S,S] scores; everything else is the linears and the per-token
 * element-wise work (norms, RoPE, SwiGLU, residuals, embedding gather/scatter).
 */
function partOf(op: string, shapes: number[][], work: TrainWorkload): string {
  const { vocabSize: V } = work.arch;
  const S = work.sequence;
  const kind = MATMULS.has(op) ? 'matmul' : 'other ops';
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

  const dir = dirname(prefix);
  const file = readdirSync(dir).filter((f) => f.startsWith(basename(prefix)) && f.endsWith('.json')).sort().at(-1);
  if (!file) throw new Error('onnxruntime wrote no profile');
  const path = join(dir, file);
  const events = JSON.parse(readFileSync(path, 'utf8')) as TraceEvent[];
  if (existsSync(path)) rmSync(path);

  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').sort((a, b) => a.ts - b.ts).slice(-options.runs);
  const start = runs[0]?.ts ?? 0;
  const kernels = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time') && e.ts >= start);
  const perRun = (us: number) => us / 1000 / Math.max(1, runs.length);
  const total = kernels.reduce((n, e) => n + e.dur, 0);
  const byOp = new Map<string, { us: number; count: number }>();
  const byNode = new Map<string, { us: number; op: string; shapes: string }>();
  const byPart = new Map<string, { us: number; count: number }>();
  for (const e of kernels) {
    const op = e.args?.op_name ?? '?';
    const o = byOp.get(op) ?? { us: 0, count: 0 };
    o.us += e.dur;
    o.count++;
    byOp.set(op, o);
    const node = e.name.replace(/_kernel_time$/, '');
    const shapes = (e.args?.input_type_shape ?? []).map((s) => `[${Object.values(s)[0]?.join(',') ?? ''}]`).join('×');
    const n = byNode.get(node) ?? { us: 0, op, shapes };
    n.us += e.dur;
    byNode.set(node, n);
    const tensors = [...(e.args?.input_type_shape ?? []), ...(e.args?.output_type_shape ?? [])].map((t) => Object.values(t)[0] ?? []);
    const part = partOf(op, tensors, work);
    const p = byPart.get(part) ?? { us: 0, count: 0 };
    p.us += e.dur;
    p.count++;
    byPart.set(part, p);
  }
  return {
    runMs: perRun(runs.reduce((n, e) => n + e.dur, 0)),
    kernelMs: perRun(total),
    nodes: byNode.size,
    byOp: [...byOp].map(([op, o]) => ({ op, ms: perRun(o.us), share: o.us / total, count: Math.round(o.count / Math.max(1, runs.length)) })).sort((a, b) => b.ms - a.ms),
    byPart: [...byPart].map(([op, o]) => ({ op, ms: perRun(o.us), share: o.us / total, count: Math.round(o.count / Math.max(1, runs.length)) })).sort((a, b) => b.ms - a.ms),
    topNodes: [...byNode].map(([node, n]) => ({ node, op: n.op, ms: perRun(n.us), share: n.us / total, shapes: n.shapes })).sort((a, b) => b.ms - a.ms).slice(0, 15),
  };
}
