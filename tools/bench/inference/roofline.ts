/**
 * The physical limit of this machine for a model: a graph holding only the model's matrix multiplies (every
 * MatMul/Gemm with a weight initializer, including the LM head), with the *same weights* — the roofline graph
 * points at the model's own external data file — run on N rows of one token each. Attention, norms, RoPE, the
 * KV cache and sampling are absent, so its tokens/s bounds any engine's steps at that shape: decode at N = the
 * decode batch, prefill at N = the tokens one prefill run computes (rows × width; the MatMuls see a
 * [tokens, features] matrix either way). The LM head gets its own row count: a decode step needs logits for
 * every row, a prefill run only for one position per prompt (the engine's graph picks it before the head).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { onnxModelProto } from '../../../server/src/inference/model/onnx-proto.ts';

const ModelProto = onnxModelProto();

const FLOAT = 1;

interface TensorInfo {
  name: string;
  data_type: number;
  dims: Array<number | { toNumber(): number }>;
  raw_data?: Uint8Array;
  external_data?: Array<{ key: string; value: string }>;
  data_location?: number;
}

interface NodeInfo {
  op_type: string;
  input: string[];
  output: string[];
  attribute?: Array<{ name: string; i?: number | { toNumber(): number } }>;
}

interface WeightUse {
  weight: TensorInfo;
  inFeatures: number;
  outFeatures: number;
  transB: boolean;
  /** The LM head (the product that becomes the graph's `logits`). */
  head: boolean;
}

export interface RooflineModel {
  path: string;
  batch: number;
  headRows: number;
  /** Input name → its [rows, features]. */
  inputs: Map<string, [number, number]>;
  /** Output name → its [rows, features]. */
  outputs: Map<string, [number, number]>;
  /** Multiply-adds of one run (batch rows through the body, headRows through the LM head). */
  macsPerStep: number;
  matmuls: number;
}

const toNumber = (v: number | { toNumber(): number }) => (typeof v === 'number' ? v : v.toNumber());

/** The MatMul/Gemm whose result the graph returns as `logits` (through reshapes and the like), if any. */
function lmHead(nodes: readonly NodeInfo[]): NodeInfo | undefined {
  const producer = new Map<string, NodeInfo>();
  for (const n of nodes) for (const o of n.output) producer.set(o, n);
  let node = producer.get('logits');
  for (let hops = 0; node && hops < 8; hops++, node = producer.get(node.input[0]!)) {
    if (node.op_type === 'MatMul' || node.op_type === 'Gemm') return node;
  }
  return undefined;
}

/** Write `onnx/roofline-b<batch>[-h<headRows>].onnx` beside the model's own graph, sharing its external weight data. */
export function writeRooflineModel(modelOnnxPath: string, batch: number, headRows = batch): RooflineModel {
  const model = ModelProto.toObject(ModelProto.decode(readFileSync(modelOnnxPath)), { longs: Number, bytes: Uint8Array }) as {
    graph: { node: NodeInfo[]; initializer: TensorInfo[] };
  };
  const initializers = new Map(model.graph.initializer.map((t) => [t.name, t]));
  const head = lmHead(model.graph.node);
  const uses: WeightUse[] = [];
  for (const node of model.graph.node) {
    if (node.op_type !== 'MatMul' && node.op_type !== 'Gemm') continue;
    const weight = initializers.get(node.input[1]!);
    if (!weight || weight.data_type !== FLOAT || weight.dims.length !== 2) continue;
    const [rows, cols] = weight.dims.map(toNumber) as [number, number];
    const transB = node.op_type === 'Gemm' && node.attribute?.some((a) => a.name === 'transB' && toNumber(a.i ?? 0) === 1) === true;
    uses.push({ weight, inFeatures: transB ? cols : rows, outFeatures: transB ? rows : cols, transB, head: node === head });
  }
  if (uses.length === 0) throw new Error(`${modelOnnxPath} has no MatMul/Gemm with a float weight initializer`);

  const inputs = new Map<string, [number, number]>();
  const outputs = new Map<string, [number, number]>();
  const nodes = uses.map((use, i) => {
    const rows = use.head ? headRows : batch;
    const input = use.head ? `x_head_${use.inFeatures}` : `x_${use.inFeatures}`;
    inputs.set(input, [rows, use.inFeatures]);
    const output = `y_${i}`;
    outputs.set(output, [rows, use.outFeatures]);
    return use.transB
      ? { name: `gemm_${i}`, op_type: 'Gemm', input: [input, use.weight.name], output: [output], attribute: [{ name: 'transB', type: 2, i: 1 }] }
      : { name: `matmul_${i}`, op_type: 'MatMul', input: [input, use.weight.name], output: [output], attribute: [] };
  });
  const valueInfo = (name: string, [rows, features]: [number, number]) => ({
    name,
    type: { tensor_type: { elem_type: FLOAT, shape: { dim: [{ dim_value: rows }, { dim_value: features }] } } },
  });
  const seen = new Set<string>();
  const weights = uses
    .map((u) => u.weight)
    .filter((w) => (seen.has(w.name) ? false : (seen.add(w.name), true)))
    .map((w) => ({ ...w, dims: w.dims.map(toNumber) }));
  const roofline = {
    ir_version: 8,
    opset_import: [{ domain: '', version: 17 }],
    producer_name: 'worldmind-bench-roofline',
    graph: {
      name: 'roofline',
      node: nodes,
      initializer: weights,
      input: [...inputs].map(([n, f]) => valueInfo(n, f)),
      output: [...outputs].map(([n, f]) => valueInfo(n, f)),
    },
  };
  // Same directory as the model graph, so external_data locations resolve to the same weights file.
  const path = join(dirname(modelOnnxPath), `roofline-b${batch}${headRows === batch ? '' : `-h${headRows}`}.onnx`);
  writeFileSync(path, ModelProto.encode(ModelProto.fromObject(roofline)).finish());
  return {
    path,
    batch,
    headRows,
    inputs,
    outputs,
    macsPerStep: uses.reduce((n, u) => n + u.inFeatures * u.outFeatures * (u.head ? headRows : batch), 0),
    matmuls: uses.length,
  };
}

export interface RooflineResult {
  batch: number;
  headRows: number;
  stepMsMedian: number;
  /** Rows (tokens) per second at this shape: batch ÷ median step time. */
  tokS: number;
  /** Achieved multiply-add throughput (GFLOP/s counts 2 per MAC). */
  gflops: number;
  matmuls: number;
}

/** Run the roofline graph `steps` times (after a warm-up) and report the median step. */
export async function measureRoofline(
  modelOnnxPath: string,
  batch: number,
  options: { intraOpThreads: number; steps?: number; headRows?: number },
): Promise<RooflineResult> {
  const roofline = writeRooflineModel(modelOnnxPath, batch, options.headRows ?? batch);
  const session = await InferenceSession.create(roofline.path, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: options.intraOpThreads,
    interOpNumThreads: 1,
  });
  try {
    const feeds: Record<string, Tensor> = {};
    for (const [name, [rows, features]] of roofline.inputs) {
      const data = new Float32Array(rows * features);
      for (let i = 0; i < data.length; i++) data[i] = Math.sin(i) * 0.1;
      feeds[name] = new Tensor('float32', data, [rows, features]);
    }
    // Outputs written into reused buffers, as the engine does with its KV and logits.
    const fetches: Record<string, Tensor> = {};
    for (const [name, [rows, features]] of roofline.outputs) fetches[name] = new Tensor('float32', new Float32Array(rows * features), [rows, features]);
    await session.run(feeds, fetches);
    const times: number[] = [];
    for (let i = 0; i < (options.steps ?? 10); i++) {
      const t0 = performance.now();
      await session.run(feeds, fetches);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const stepMsMedian = times[Math.floor(times.length / 2)]!;
    return {
      batch,
      headRows: roofline.headRows,
      stepMsMedian,
      tokS: (batch * 1000) / stepMsMedian,
      gflops: (2 * roofline.macsPerStep) / (stepMsMedian * 1e6),
      matmuls: roofline.matmuls,
    };
  } finally {
    await session.release();
  }
}
