/**
 * The int8 variant of a model directory: a new directory with the same config, tokenizer and graph I/O in
 * which every linear layer (a MatMul or Gemm whose weight is a constant fp32 matrix) runs on int8 weights
 * through one of onnxruntime's native contrib kernels. The serving engine loads it like any model directory
 * (MODEL_DIR); config.json → `worldmind.quantization` records that and how its weights were quantised.
 *
 * Two methods, both per-output-channel symmetric int8 weights:
 *  - `dynamic` (default): `com.microsoft.DynamicQuantizeMatMul` (onnxruntime's fusion of DynamicQuantizeLinear +
 *    MatMulInteger + scale multiply): one scale per output column, the activations quantised to uint8 per
 *    tensor at run time.
 *  - `matmul-nbits`: `com.microsoft.MatMulNBits` with bits=8, scales per block of `blockSize` weights
 *    along the input dimension, `accuracy_level` 4 (the activations are quantised to int8 per block as well and
 *    the product runs on int8 dot-product instructions — AVX512-VNNI/AVX-VNNI here). Finer scales, so closer
 *    to fp32 (README: greedy agreement 100 % vs 98 % on the default model), but slower on this CPU.
 * `dynamic` is the default because it decoded faster on the bench machine (AMD EPYC, AVX512-VNNI, 2 threads):
 * a 32-row decode step of the 135M shape, the variants' steps interleaved, took 0.52× fp32's time with it and
 * 0.93× (block 32) / 0.69× (block 128) with MatMulNBits; the engine's 32-conversation burst ran 0.9/1.8/3.8× fp32
 * with it in three rounds against 1.1/1.2/1.5× with MatMulNBits (a machine at load 7–10: only the ranking holds).
 * README, "Inference benchmark", has the bench's figures.
 *
 * Only the weight quantisation itself is written here: onnxruntime-node ships no quantiser (its Python
 * `quantize_dynamic` / `MatMulNBitsQuantizer` are not reachable from Node, and would not know the engine's
 * graph rewrite), and the arithmetic is a few lines — absmax / 127 per block or column, round, clamp —
 * whose exact layout (MatMulNBits: [N, blocks, blockSize] uint8 with the implicit zero point 128) must match
 * the kernel; the kernels themselves are onnxruntime's.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { HF_LAYOUT, externalDataFileName } from '../../server/src/inference/model/format.ts';
import { ElementType, type Graph, type GraphNode, type Initializer } from '../model-builder/onnx/graph-builder.ts';
import { floatValues, readOnnxModel } from '../model-builder/onnx/parse.ts';
import { writeOnnxModel } from '../model-builder/onnx/serialize.ts';

export const QUANTIZATION_METHODS = ['dynamic', 'matmul-nbits'] as const;
export type QuantizationMethod = (typeof QUANTIZATION_METHODS)[number];

export interface QuantizeOptions {
  /** The fp32 model directory (HF/Optimum layout, e.g. written by the model builder or the trainer). */
  modelDir: string;
  /** The directory to write; must not be modelDir. Replaced if it already holds a quantised model. */
  outDir: string;
  /** Default `dynamic`. */
  method?: QuantizationMethod;
  /** Also quantise the LM head (for a tied model: an int8 copy of the embedding; the Gather keeps fp32). Default true. */
  lmHead?: boolean;
  /** MatMulNBits: weights per scale along the input dimension, a power of two ≥ 16. Default 32. */
  blockSize?: number;
  /** MatMulNBits accuracy_level: 4 = int8 activations and int8 dot products; 0 = fp32 compute on dequantised weights. Default 4. */
  accuracyLevel?: 0 | 1 | 2 | 3 | 4;
}

/** What config.json records under `worldmind.quantization`. */
export interface QuantizationRecord {
  weights: 'int8';
  method: QuantizationMethod;
  op: 'com.microsoft.MatMulNBits' | 'com.microsoft.DynamicQuantizeMatMul';
  scheme: string;
  block_size?: number;
  accuracy_level?: number;
  lm_head: 'int8' | 'fp32';
  quantized_matmuls: number;
  source: string;
}

export interface QuantizedModel {
  dir: string;
  record: QuantizationRecord;
  /** Weight bytes of the source graph and of the quantised one. */
  sourceBytes: number;
  bytes: number;
}

export class QuantizeError extends Error {
  override readonly name = 'QuantizeError';
}

const MICROSOFT = 'com.microsoft';

export function quantizeModelDirectory(options: QuantizeOptions): QuantizedModel {
  const method = options.method ?? 'dynamic';
  if (!(QUANTIZATION_METHODS as readonly string[]).includes(method)) {
    throw new QuantizeError(`unknown quantisation method "${method}" (known: ${QUANTIZATION_METHODS.join(', ')})`);
  }
  const blockSize = options.blockSize ?? 32;
  if (!Number.isInteger(blockSize) || blockSize < 16 || (blockSize & (blockSize - 1)) !== 0) {
    throw new QuantizeError(`block size must be a power of two ≥ 16, got ${blockSize}`);
  }
  const accuracyLevel = options.accuracyLevel ?? 4;
  if (![0, 1, 2, 3, 4].includes(accuracyLevel)) throw new QuantizeError(`accuracy level must be 0–4, got ${accuracyLevel}`);
  const lmHead = options.lmHead ?? true;

  const configPath = join(options.modelDir, HF_LAYOUT.config);
  const onnxPath = join(options.modelDir, HF_LAYOUT.onnxCandidates[0]);
  if (!existsSync(configPath) || !existsSync(onnxPath)) {
    throw new QuantizeError(`${options.modelDir} is not a model directory in the Hugging Face/Optimum layout (config.json and onnx/model.onnx)`);
  }
  if (existsSync(options.outDir) && realpathSync(options.outDir) === realpathSync(options.modelDir)) {
    throw new QuantizeError('the output directory must not be the model directory (the fp32 model stays as it is)');
  }
  const config = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown> & { worldmind?: Record<string, unknown> };
  if (config.worldmind?.quantization) {
    throw new QuantizeError(`${options.modelDir} is already quantised (config.json worldmind.quantization); quantise its fp32 source instead`);
  }

  const parsed = readOnnxModel(onnxPath);
  const graph = parsed.graph;
  const sourceBytes = weightBytes(graph);
  const count = rewriteLinears(graph, { method, blockSize, accuracyLevel, lmHead });
  if (count === 0) throw new QuantizeError(`${onnxPath} has no MatMul or Gemm with a constant fp32 weight to quantise`);
  dropUnused(graph);

  const record: QuantizationRecord = {
    weights: 'int8',
    method,
    op: method === 'matmul-nbits' ? 'com.microsoft.MatMulNBits' : 'com.microsoft.DynamicQuantizeMatMul',
    scheme:
      method === 'matmul-nbits'
        ? `symmetric int8 per output channel and block of ${blockSize} inputs (zero point 128)`
        : 'symmetric int8 per output channel; activations uint8 per tensor at run time',
    ...(method === 'matmul-nbits' ? { block_size: blockSize, accuracy_level: accuracyLevel } : {}),
    lm_head: lmHead ? 'int8' : 'fp32',
    quantized_matmuls: count,
    source: basename(resolve(options.modelDir)),
  };

  const externalData = existsSync(join(options.modelDir, HF_LAYOUT.onnxDir, externalDataFileName('model.onnx')));
  rmSync(options.outDir, { recursive: true, force: true });
  mkdirSync(join(options.outDir, HF_LAYOUT.onnxDir), { recursive: true });
  writeOnnxModel(graph, {
    path: join(options.outDir, HF_LAYOUT.onnxCandidates[0]),
    ...(externalData ? { externalDataPath: join(options.outDir, HF_LAYOUT.onnxDir, externalDataFileName('model.onnx')) } : {}),
    producerName: 'worldmind-quantize',
    metadata: { ...parsed.metadata, quantization: `${record.op} int8` },
  });
  const quantizedConfig = {
    ...config,
    worldmind: { ...config.worldmind, quantization: record },
  };
  writeFileSync(join(options.outDir, HF_LAYOUT.config), `${JSON.stringify(quantizedConfig, null, 2)}\n`);
  for (const file of [HF_LAYOUT.generationConfig, HF_LAYOUT.tokenizer, HF_LAYOUT.tokenizerConfig, HF_LAYOUT.chatTemplateFile]) {
    if (existsSync(join(options.modelDir, file))) copyFileSync(join(options.modelDir, file), join(options.outDir, file));
  }
  return { dir: options.outDir, record, sourceBytes, bytes: weightBytes(graph) };
}

interface RewriteOptions {
  method: QuantizationMethod;
  blockSize: number;
  accuracyLevel: number;
  lmHead: boolean;
}

/** Replaces each linear layer in place; returns how many. */
function rewriteLinears(graph: Graph, options: RewriteOptions): number {
  const initializers = new Map(graph.initializers.map((init) => [init.name, init]));
  const logits = new Set(graph.outputs.map((o) => o.name));
  let count = 0;
  graph.nodes = graph.nodes.map((node) => {
    const weight = linearWeight(node, initializers);
    if (!weight) return node;
    if (!options.lmHead && isLmHead(graph, node, logits)) return node;
    count++;
    // Rows of `rows` are output channels: [N, K].
    const { rows, n, k } = weight.transposed
      ? { rows: floatValues(weight.init), n: weight.init.dims[0]!, k: weight.init.dims[1]! }
      : { rows: transpose(floatValues(weight.init), weight.init.dims[0]!, weight.init.dims[1]!), n: weight.init.dims[1]!, k: weight.init.dims[0]! };
    const base = weight.init.name.replace(/(\.weight)?(_t)?$/, '');
    return options.method === 'matmul-nbits'
      ? matMulNBits(graph, node, rows, n, k, base, options)
      : dynamicQuantizeMatMul(graph, node, rows, n, k, base);
  });
  return count;
}

/** The weight of a linear layer: MatMul(x, W[K,N]) or Gemm(x, W[N,K], transB=1) with no bias and unit alpha/beta. */
function linearWeight(node: GraphNode, initializers: Map<string, Initializer>): { init: Initializer; transposed: boolean } | undefined {
  const init = initializers.get(node.inputs[1] ?? '');
  if (!init || init.elementType !== ElementType.FLOAT || init.dims.length !== 2 || initializers.has(node.inputs[0] ?? '')) return undefined;
  if (node.opType === 'MatMul' && !node.domain) return { init, transposed: false };
  if (node.opType === 'Gemm' && !node.domain) {
    const attr = (name: string) => node.attributes[name];
    const intOf = (name: string, fallback: number) => { const a = attr(name); return a && 'int' in a ? a.int : fallback; };
    const floatOf = (name: string, fallback: number) => { const a = attr(name); return a && 'float' in a ? a.float : fallback; };
    if (intOf('transA', 0) !== 0 || floatOf('alpha', 1) !== 1 || (node.inputs[2] ?? '') !== '') return undefined;
    return { init, transposed: intOf('transB', 0) === 1 };
  }
  return undefined;
}

/** The LM head: the linear layer whose output reaches the logits through reshapes only. */
function isLmHead(graph: Graph, node: GraphNode, outputs: Set<string>): boolean {
  let value = node.outputs[0]!;
  for (;;) {
    if (outputs.has(value)) return true;
    const next = graph.nodes.find((n) => n.inputs[0] === value && (n.opType === 'Reshape' || n.opType === 'Identity'));
    if (!next) return false;
    value = next.outputs[0]!;
  }
}

function matMulNBits(graph: Graph, node: GraphNode, rows: Float32Array, n: number, k: number, base: string, options: RewriteOptions): GraphNode {
  const blockSize = options.blockSize;
  const blocks = Math.ceil(k / blockSize);
  const codes = new Uint8Array(n * blocks * blockSize).fill(128); // padding past K dequantises to 0
  const scales = new Float32Array(n * blocks);
  for (let row = 0; row < n; row++) {
    for (let block = 0; block < blocks; block++) {
      const start = row * k + block * blockSize;
      const end = row * k + Math.min(k, (block + 1) * blockSize);
      let absMax = 0;
      for (let i = start; i < end; i++) absMax = Math.max(absMax, Math.abs(rows[i]!));
      const scale = absMax / 127;
      scales[row * blocks + block] = scale;
      const out = (row * blocks + block) * blockSize;
      if (scale === 0) continue;
      for (let i = start; i < end; i++) codes[out + (i - start)] = 128 + clampInt8(Math.round(rows[i]! / scale));
    }
  }
  const weightName = `${base}.MatMulNBits.qweight`;
  const scaleName = `${base}.MatMulNBits.scales`;
  graph.initializers.push(
    { name: weightName, elementType: ElementType.UINT8, dims: [n, blocks, blockSize], data: codes },
    { name: scaleName, elementType: ElementType.FLOAT, dims: [n, blocks], data: scales },
  );
  return {
    opType: 'MatMulNBits',
    domain: MICROSOFT,
    name: `${node.name}_MatMulNBits`,
    inputs: [node.inputs[0]!, weightName, scaleName],
    outputs: node.outputs,
    attributes: {
      K: { int: k },
      N: { int: n },
      bits: { int: 8 },
      block_size: { int: blockSize },
      accuracy_level: { int: options.accuracyLevel },
    },
  };
}

function dynamicQuantizeMatMul(graph: Graph, node: GraphNode, rows: Float32Array, n: number, k: number, base: string): GraphNode {
  const codes = new Int8Array(k * n); // [K, N], as MatMulInteger reads it
  const scales = new Float32Array(n);
  for (let row = 0; row < n; row++) {
    let absMax = 0;
    for (let i = 0; i < k; i++) absMax = Math.max(absMax, Math.abs(rows[row * k + i]!));
    const scale = absMax / 127;
    scales[row] = scale;
    if (scale === 0) continue;
    for (let i = 0; i < k; i++) codes[i * n + row] = clampInt8(Math.round(rows[row * k + i]! / scale));
  }
  const weightName = `${base}.DynamicQuantizeMatMul.qweight`;
  const scaleName = `${base}.DynamicQuantizeMatMul.scales`;
  graph.initializers.push(
    { name: weightName, elementType: ElementType.INT8, dims: [k, n], data: codes },
    { name: scaleName, elementType: ElementType.FLOAT, dims: [n], data: scales },
  );
  return {
    opType: 'DynamicQuantizeMatMul',
    domain: MICROSOFT,
    name: `${node.name}_DynamicQuantizeMatMul`,
    inputs: [node.inputs[0]!, weightName, scaleName],
    outputs: node.outputs,
    attributes: {},
  };
}

function clampInt8(value: number): number {
  return Math.max(-127, Math.min(127, value));
}

/** Drops initializers no node reads any more (the fp32 weights replaced; a tied embedding stays for its Gather). */
function dropUnused(graph: Graph): void {
  const read = new Set(graph.nodes.flatMap((n) => n.inputs));
  graph.initializers = graph.initializers.filter((init) => read.has(init.name));
}

function weightBytes(graph: Graph): number {
  return graph.initializers.reduce((sum, init) => sum + init.data.byteLength, 0);
}

/** [rows, cols] row-major → [cols, rows]. */
function transpose(matrix: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(matrix.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = matrix[r * cols + c]!;
  }
  return out;
}
