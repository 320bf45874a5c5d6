/**
 * The physical limit of this machine for a model: a graph holding only the model's matrix multiplies (every
 * MatMul/Gemm with a weight initializer, including the LM head), with the *same weights* — the roofline graph
 * points at the model's own external data file — run at the benchmark's batch size, one token per row.
 * Attention, norms, RoPE, the KV cache and sampling are absent, so its tokens/s bounds any engine's decode.
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
  attribute?: Array<{ name: string; i?: number | { toNumber(): number } }>;
}

interface WeightUse {
  weight: TensorInfo;
  inFeatures: number;
  outFeatures: number;
  transB: boolean;
}

export interface RooflineModel {
  path: string;
  batch: number;
  /** Input name → feature count. */
  inputs: Map<string, number>;
  /** Output name → feature count. */
  outputs: Map<string, number>;
  /** Multiply-adds per row (one token). */
  macsPerToken: number;
  matmuls: number;
}

const toNumber = (v: number | { toNumber(): number }) => (typeof v === 'number' ? v : v.toNumber());

/** Write `onnx/roofline-b<batch>.onnx` beside the model's own graph, sharing its external weight data. */
export function writeRooflineModel(modelOnnxPath: string, batch: number): RooflineModel {
  const model = ModelProto.toObject(ModelProto.decode(readFileSync(modelOnnxPath)), { longs: Number, bytes: Uint8Array }) as {
    graph: { node: NodeInfo[]; initializer: TensorInfo[] };
  };
  const initializers = new Map(model.graph.initializer.map((t) => [t.name, t]));
  const uses: WeightUse[] = [];
  for (const node of model.graph.node) {
    if (node.op_type !== 'MatMul' && node.op_type !== 'Gemm') continue;
    const weight = initializers.get(node.input[1]!);
    if (!weight || weight.data_type !== FLOAT || weight.dims.length !== 2) continue;
    const [rows, cols] = weight.dims.map(toNumber) as [number, number];
    const transB = node.op_type === 'Gemm' && node.attribute?.some((a) => a.name === 'transB' && toNumber(a.i ?? 0) === 1) === true;
    uses.push({ weight, inFeatures: transB ? cols : rows, outFeatures: transB ? rows : cols, transB });
  }
  if (uses.length === 0) throw new Error(`${modelOnnxPath} has no MatMul/Gemm with a float weight initializer`);

  const inputs = new Map<string, number>();
  const outputs = new Map<string, number>();
  const nodes = uses.map((use, i) => {
    const input = `x_${use.inFeatures}`;
    inputs.set(input, use.inFeatures);
    const output = `y_${i}`;
    outputs.set(output, use.outFeatures);
    return use.transB
      ? { name: `gemm_${i}`, op_type: 'Gemm', input: [input, use.weight.name], output: [output], attribute: [{ name: 'transB', type: 2, i: 1 }] }
      : { name: `matmul_${i}`, op_type: 'MatMul', input: [input, use.weight.name], output: [output], attribute: [] };
  });
  const valueInfo = (name: string, features: number) => ({
    name,
    type: { tensor_type: { elem_type: FLOAT, shape: { dim: [{ dim_value: batch }, { dim_value: features }] } } },
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
  const path = join(dirname(modelOnnxPath), `roofline-b${batch}.onnx`);
  writeFileSync(path, ModelProto.encode(ModelProto.fromObject(roofline)).finish());
  return {
    path,
    batch,
    inputs,
    outputs,
    macsPerToken: uses.reduce((n, u) => n + u.inFeatures * u.outFeatures, 0),
    matmuls: uses.length,
  };
}

export interface RooflineResult {
  batch: number;
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
  options: { intraOpThreads: number; steps?: number },
): Promise<RooflineResult> {
  const roofline = writeRooflineModel(modelOnnxPath, batch);
  const session = await InferenceSession.create(roofline.path, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: options.intraOpThreads,
    interOpNumThreads: 1,
  });
  try {
    const feeds: Record<string, Tensor> = {};
    for (const [name, features] of roofline.inputs) {
      const data = new Float32Array(batch * features);
      for (let i = 0; i < data.length; i++) data[i] = Math.sin(i) * 0.1;
      feeds[name] = new Tensor('float32', data, [batch, features]);
    }
    // Outputs written into reused buffers, as the engine does with its KV and logits.
    const fetches: Record<string, Tensor> = {};
    for (const [name, features] of roofline.outputs) fetches[name] = new Tensor('float32', new Float32Array(batch * features), [batch, features]);
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
      stepMsMedian,
      tokS: (batch * 1000) / stepMsMedian,
      gflops: (2 * roofline.macsPerToken * batch) / (stepMsMedian * 1e6),
      matmuls: roofline.matmuls,
    };
  } finally {
    await session.release();
  }
}
