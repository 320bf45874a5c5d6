/**
 * Where one onnxruntime run's time goes, from onnxruntime's own profiler (session option `enableProfiling`):
 * the node events of the last few runs summed by op type, by node (with shapes) and by part of the model
 * (the caller says which part a kernel belongs to, from its op and tensor shapes), plus the time between
 * kernels (the executor: run time − kernel time). Shared by `bench:train --profile` and
 * `bench:inference --profile`, which print it with `renderProfile` and put `profileJson` in their JSON line.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { table } from './stats.ts';

interface TraceEvent {
  cat: string;
  name: string;
  ts: number;
  dur: number;
  args?: { op_name?: string; input_type_shape?: Array<Record<string, number[]>>; output_type_shape?: Array<Record<string, number[]>> };
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
  /** Kernel time by part of the model (see `PartOf`). */
  byPart: OpCost[];
  topNodes: NodeCost[];
}

/** Which part of the model a kernel belongs to, from its op type and its input and output shapes. */
export type PartOf = (op: string, tensorShapes: number[][]) => string;

/** Matrix products, fp32 and int8 (tools/quantize's DynamicQuantizeMatMul and MatMulNBits). */
export const MATMUL_OPS: ReadonlySet<string> = new Set(['MatMul', 'FusedMatMul', 'Gemm', 'DynamicQuantizeMatMul', 'MatMulNBits', 'MatMulInteger']);

/**
 * Read the profile onnxruntime wrote for `profilePrefix` (after `session.endProfiling()`; the newest file with
 * that prefix), summarise its last `runs` model runs, and delete the file.
 */
export function summarizeProfile(profilePrefix: string, runs: number, partOf: PartOf): StepProfile {
  const dir = dirname(profilePrefix);
  const file = readdirSync(dir).filter((f) => f.startsWith(basename(profilePrefix)) && f.endsWith('.json')).sort().at(-1);
  if (!file) throw new Error(`onnxruntime wrote no profile for ${profilePrefix}`);
  const path = join(dir, file);
  const events = JSON.parse(readFileSync(path, 'utf8')) as TraceEvent[];
  if (existsSync(path)) rmSync(path);

  const runEvents = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').sort((a, b) => a.ts - b.ts).slice(-runs);
  if (runEvents.length === 0) throw new Error(`the profile ${file} holds no model run`);
  const start = runEvents[0]!.ts;
  const kernels = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time') && e.ts >= start);
  const perRun = (us: number) => us / 1000 / runEvents.length;
  const total = kernels.reduce((n, e) => n + e.dur, 0);
  const byOp = new Map<string, { us: number; count: number }>();
  const byNode = new Map<string, { us: number; op: string; shapes: string }>();
  const byPart = new Map<string, { us: number; count: number }>();
  const add = (map: Map<string, { us: number; count: number }>, key: string, us: number) => {
    const o = map.get(key) ?? { us: 0, count: 0 };
    o.us += us;
    o.count++;
    map.set(key, o);
  };
  for (const e of kernels) {
    const op = e.args?.op_name ?? '?';
    add(byOp, op, e.dur);
    const node = e.name.replace(/_kernel_time$/, '');
    const shapes = (e.args?.input_type_shape ?? []).map((s) => `[${Object.values(s)[0]?.join(',') ?? ''}]`).join('×');
    const n = byNode.get(node) ?? { us: 0, op, shapes };
    n.us += e.dur;
    byNode.set(node, n);
    const tensors = [...(e.args?.input_type_shape ?? []), ...(e.args?.output_type_shape ?? [])].map((t) => Object.values(t)[0] ?? []);
    add(byPart, partOf(op, tensors), e.dur);
  }
  const costs = (map: Map<string, { us: number; count: number }>): OpCost[] =>
    [...map].map(([op, o]) => ({ op, ms: perRun(o.us), share: o.us / total, count: Math.round(o.count / runEvents.length) })).sort((a, b) => b.ms - a.ms);
  return {
    runMs: perRun(runEvents.reduce((n, e) => n + e.dur, 0)),
    kernelMs: perRun(total),
    nodes: byNode.size,
    byOp: costs(byOp),
    byPart: costs(byPart),
    topNodes: [...byNode].map(([node, n]) => ({ node, op: n.op, ms: perRun(n.us), share: n.us / total, shapes: n.shapes })).sort((a, b) => b.ms - a.ms).slice(0, 15),
  };
}

const pct = (share: number) => `${(share * 100).toFixed(1)}%`;

/** The profile as text: parts, then the costliest op types, then the costliest nodes. */
export function renderProfile(title: string, profile: StepProfile): string {
  const executorMs = Math.max(0, profile.runMs - profile.kernelMs);
  return [
    `${title}: ${profile.runMs.toFixed(1)} ms per run, ${profile.kernelMs.toFixed(1)} ms in ${profile.nodes} kernels, ${executorMs.toFixed(1)} ms between them (executor, inputs and outputs)`,
    table(['part of the step', 'ms/run', 'share of kernels', 'nodes'], profile.byPart.map((o) => [o.op, o.ms.toFixed(1), pct(o.share), o.count])),
    '',
    table(['op', 'ms/run', 'share of kernels', 'nodes'], profile.byOp.slice(0, 12).map((o) => [o.op, o.ms.toFixed(1), pct(o.share), o.count])),
    '',
    'top nodes:',
    table(['node', 'op', 'ms/run', 'share of kernels', 'input shapes'], profile.topNodes.map((n) => [n.node, n.op, n.ms.toFixed(1), pct(n.share), n.shapes])),
  ].join('\n');
}

const r1 = (x: number) => Math.round(x * 10) / 10;

/** The profile's JSON form in the benches' one-line reports (parts and the top 12 op types). */
export function profileJson(profile: StepProfile) {
  return {
    run_ms: r1(profile.runMs),
    kernel_ms: r1(profile.kernelMs),
    by_part: profile.byPart.map((o) => ({ ...o, ms: r1(o.ms), share: Math.round(o.share * 1000) / 1000 })),
    by_op: profile.byOp.slice(0, 12).map((o) => ({ ...o, ms: r1(o.ms), share: Math.round(o.share * 1000) / 1000 })),
  };
}
