/**
 * Derives the engine-shaped variant of a decoder graph: two changes to the standard I/O (1, 2) and two fused
 * kernels (3, 4), and the new tokens' attention products with each group's queries as one matrix (rewriteAttention).
 *
 * 1. In-place KV, so a decode step no longer copies the whole KV cache.
 *
 * Why: the standard graph I/O returns `present = Concat(past, new)`, so every step onnxruntime reads and
 * writes every running sequence's entire KV (and the batch's KV is far larger than the weights at realistic
 * prompt lengths: 32 sequences × 300 tokens of a 135M Llama is ~450 MB in fp32). The variant instead
 *  - takes `past` as the engine's persistent, fixed-capacity slot buffers [B, kvH, C, hd] (unused columns
 *    masked by attention_mask),
 *  - computes attention in two parts — scores against the past columns and against the new tokens,
 *    concatenated only as scores [.., S, C+S], softmaxed, split again and applied to past and new values —
 *    which is mathematically the same attention without materialising Concat(past, new),
 *  - outputs only the new tokens' keys/values `fresh.{i}.key|value` [B, kvH, S, hd], which the engine
 *    writes into the slot buffers itself (S columns per row).
 *
 * 2. Logits for one position per row: a `logits_index [B]` input picks the position whose logits are needed
 *    (the last real prompt token of a prefill chunk, 0 for a decode step) before the LM head, so a prefill
 *    chunk of S tokens costs no S × vocab matrix product and no [B, S, vocab] output.
 *
 * 3. Each RMSNorm as one kernel: the builder writes RMSNorm from primitive ops (x·x → ReduceMean → Add ε →
 *    Sqrt → Reciprocal → Mul x → Mul weight, standard ONNX any runtime runs), which onnxruntime does not fuse
 *    in that form; the variant has one `SimplifiedLayerNormalization` (onnxruntime's RMSNorm kernel) instead.
 *    At the 135M shape's decode step that is 366 fewer kernels of ~2,000 (61 norms × 6).
 * 4. Each RoPE as one kernel: the builder's x·cos + concat(−x₂, x₁)·sin (Split, Neg, Concat, two Muls, Add on
 *    queries and keys, from cos/sin computed in-graph from position_ids) becomes onnxruntime's
 *    `com.microsoft.RotaryEmbedding` over cos/sin tables for every position up to the context length,
 *    computed here from the graph's own inverse frequencies (12 fewer kernels per layer).
 *
 * The rewrite pattern-matches the blocks written by Worldmind's model builder (Concat → Unsqueeze →
 * Transpose → MatMul → Add → Softmax → MatMul for attention; Reshape → Gemm → Reshape for the LM head); any
 * other graph is left alone and the engine keeps the standard path. The variant is derived in memory at
 * start-up (a fraction of a second: only the graph is rewritten, weights stay in the external data file)
 * and loaded from bytes with its external weights resolved in the original model directory — nothing is
 * written anywhere, and the weights exist once on disk.
 */
import { readFileSync } from 'node:fs';
import { onnxModelProto } from '../model/onnx-proto.ts';


export const FRESH_KEY = (layer: number) => `fresh.${layer}.key`;
export const FRESH_VALUE = (layer: number) => `fresh.${layer}.value`;
export const LOGITS_INDEX = 'logits_index';

interface Node {
  name?: string;
  op_type: string;
  domain?: string;
  input: string[];
  output: string[];
  attribute?: Array<Record<string, unknown>>;
}

interface ValueInfo {
  name: string;
  type: { tensor_type: { elem_type: number; shape: { dim: Array<{ dim_value?: number; dim_param?: string }> } } };
}

interface Model {
  graph: { node: Node[]; initializer: Array<Record<string, unknown>>; input: ValueInfo[]; output: ValueInfo[] } & Record<string, unknown>;
  producer_name?: string;
  opset_import?: Array<{ domain?: string; version: number }>;
  metadata_props?: Array<{ key: string; value: string }>;
}

export interface EngineGraphNames {
  pastKey: (layer: number) => string;
  pastValue: (layer: number) => string;
  presentKey: (layer: number) => string;
  presentValue: (layer: number) => string;
  logits: string;
}

export class UnsupportedGraphError extends Error {
  override readonly name = 'UnsupportedGraphError';
}

/**
 * The engine variant of the graph in `onnxPath`, as ONNX bytes (external data locations unchanged: load it
 * with the original model directory as the external-initializers folder).
 * Throws UnsupportedGraphError when the graph doesn't have the expected patterns.
 */
export function deriveEngineGraph(onnxPath: string, names: EngineGraphNames, layers: number, options: { maxPositions?: number } = {}): Uint8Array {
  const ModelProto = onnxModelProto();
  const model = ModelProto.toObject(ModelProto.decode(readFileSync(onnxPath)), { longs: Number, bytes: Uint8Array, defaults: false }) as Model;
  const edit = new GraphEdit(model);
  for (let layer = 0; layer < layers; layer++) rewriteAttention(edit, names, layer);
  rewriteLogits(edit, names.logits);
  fuseRmsNorms(edit);
  const rotary = options.maxPositions ? fuseRotaryEmbeddings(edit, options.maxPositions) : 0;
  edit.commit();
  if (rotary > 0 && !model.opset_import?.some((o) => o.domain === 'com.microsoft')) model.opset_import = [...(model.opset_import ?? []), { domain: 'com.microsoft', version: 1 }];
  model.metadata_props = [...(model.metadata_props ?? []), { key: 'worldmind.engine_io', value: `inplace-kv,logits-index,fused-rms-norm${rotary > 0 ? ',fused-rotary' : ''}` }];
  return ModelProto.encode(ModelProto.fromObject(model)).finish();
}

/** Node lookups and edits on a decoded graph; `commit` swaps in the edited node list in topological order. */
class GraphEdit {
  readonly graph: Model['graph'];
  private readonly added: Node[] = [];
  private readonly removed = new Set<Node>();
  private counter = 0;
  private scoresShapeName: string | undefined;

  constructor(model: Model) {
    this.graph = model.graph;
  }

  consumers(value: string): Node[] {
    return this.graph.node.filter((n) => n.input.includes(value));
  }

  only(value: string, opType: string, what: string): Node {
    const found = this.consumers(value).filter((n) => n.op_type === opType);
    if (found.length !== 1) throw new UnsupportedGraphError(`expected one ${opType} reading ${value} (${what}), found ${found.length}`);
    return found[0]!;
  }

  producerOrUndefined(value: string): Node | undefined {
    return this.graph.node.find((n) => n.output.includes(value));
  }

  /** The one node reading `value`, if there is exactly one and it is an `opType`. */
  soleConsumer(value: string, opType: string): Node | undefined {
    const readers = this.consumers(value);
    return readers.length === 1 && readers[0]!.op_type === opType ? readers[0] : undefined;
  }

  producer(value: string): Node {
    const found = this.producerOrUndefined(value);
    if (!found) throw new UnsupportedGraphError(`nothing produces ${value}`);
    return found;
  }

  int64(values: number[]): string {
    const name = this.fresh('const');
    const raw = new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer);
    this.graph.initializer.push({ name, data_type: 7, dims: [values.length], raw_data: raw });
    return name;
  }

  op(opType: string, input: string[], attribute: Array<Record<string, unknown>> = [], output = this.fresh(opType.toLowerCase()), domain?: string): string {
    this.added.push({ name: this.fresh(opType), op_type: opType, input, output: [output], attribute, ...(domain ? { domain } : {}) });
    return output;
  }

  float32(values: Float32Array, dims: number[]): string {
    const name = this.fresh('const');
    this.graph.initializer.push({ name, data_type: 1, dims, raw_data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) });
    return name;
  }

  remove(...nodes: Array<Node | undefined>): void {
    for (const n of nodes) if (n) this.removed.add(n);
  }

  /** Query heads per KV head, from the grouping Reshape's constant shape [0, kvH, group, -1, hd]. */
  headGroups(groupReshape: Node): number {
    return this.groupingShape(groupReshape)[2]!;
  }

  /** Head size, from the same shape. */
  headDim(groupReshape: Node): number {
    return this.groupingShape(groupReshape)[4]!;
  }

  /** [B, kvH, group, S, S], computed once from input_ids' shape [B, S] (every layer's new-token scores have it). */
  scoresShape(groups: number): string {
    if (this.scoresShapeName) return this.scoresShapeName;
    const ids = this.graph.input.find((i) => i.name === 'input_ids')?.name;
    if (!ids) throw new UnsupportedGraphError('the graph has no input_ids input');
    const dims = this.op('Shape', [ids]);
    const batch = this.op('Gather', [dims, this.int64([0])], [INT_ATTR('axis', 0)]);
    const tokens = this.op('Gather', [dims, this.int64([1])], [INT_ATTR('axis', 0)]);
    this.scoresShapeName = this.op('Concat', [batch, this.int64([0]), this.int64([groups]), tokens, tokens], [INT_ATTR('axis', 0)]);
    return this.scoresShapeName;
  }

  private groupingShape(groupReshape: Node): number[] {
    const shape = this.graph.initializer.find((i) => i.name === groupReshape.input[1]);
    const raw = shape?.raw_data as Uint8Array | undefined;
    if (!raw || raw.byteLength !== 5 * 8) throw new UnsupportedGraphError('the query grouping Reshape has no constant 5-D shape');
    const values = new BigInt64Array(new Uint8Array(raw).buffer); // copy: protobuf bytes may be an unaligned view
    return [...values].map(Number);
  }

  output(name: string): ValueInfo {
    const info = this.graph.output.find((o) => o.name === name);
    if (!info) throw new UnsupportedGraphError(`${name} is not a graph output`);
    return info;
  }

  commit(): void {
    const nodes = pruneDead([...this.graph.node.filter((n) => !this.removed.has(n)), ...this.added], this.graph);
    this.graph.node = topologicalOrder(nodes, this.graph);
    // Constants only the replaced nodes used would make onnxruntime warn at every load.
    const used = new Set(nodes.flatMap((n) => n.input));
    this.graph.initializer = this.graph.initializer.filter((i) => used.has(String(i.name)));
  }

  private fresh(hint: string): string {
    return `/worldmind_engine/${hint}_${this.counter++}`;
  }
}

const INT_ATTR = (name: string, i: number) => ({ name, type: 2, i });

/**
 * Attention without Concat(past, new), in the builder's own grouped layout: queries [B, kvH, group, S, hd]
 * against keys/values [B, kvH, 1, C, hd] broadcast over the group axis. onnxruntime then runs one small
 * product per (row, query head) — at decode a single query row, which MLAS computes without packing the
 * cached keys/values (and it fuses the keys' transpose into the product) — so the cache is read where it lies.
 * Measured at the 135M shape's decode step (32 rows, 384 columns, 30 layers): 25 ms of attention products
 * against 36 ms for merging each group's queries into one matrix (K·Qᵀ then transposing the scores), and
 * faster at prefill shapes too (4 × 32 and 2 × 128 tokens).
 */
function rewriteAttention(g: GraphEdit, names: EngineGraphNames, layer: number): void {
  const pastK = names.pastKey(layer);
  const pastV = names.pastValue(layer);
  const presentK = names.presentKey(layer);
  const presentV = names.presentValue(layer);
  // present = Concat(past, new) (fp16 caches cast the new part first and the present back to fp32).
  const concatK = g.producer(presentK);
  const concatV = g.producer(presentV);
  if (concatK.op_type !== 'Concat' || concatK.input[0] !== pastK) throw new UnsupportedGraphError(`${presentK} is not Concat(${pastK}, new)`);
  if (concatV.op_type !== 'Concat' || concatV.input[0] !== pastV) throw new UnsupportedGraphError(`${presentV} is not Concat(${pastV}, new)`);
  const freshK = concatK.input[1]!;
  const freshV = concatV.input[1]!;
  const castK = g.consumers(presentK).find((n) => n.op_type === 'Cast');
  const castV = g.consumers(presentV).find((n) => n.op_type === 'Cast');
  const toAttention = (x: string, cast: Node | undefined) => (cast ? g.op('Cast', [x], cast.attribute) : x);

  const unsqueezeK = g.only(castK ? castK.output[0]! : presentK, 'Unsqueeze', 'keys');
  const transposeK = g.only(unsqueezeK.output[0]!, 'Transpose', 'keys');
  const scoresMatMul = g.only(transposeK.output[0]!, 'MatMul', 'scores');
  const groupQ = g.producer(scoresMatMul.input[0]!);
  if (groupQ.op_type !== 'Reshape') throw new UnsupportedGraphError(`layer ${layer}: queries are not grouped by a Reshape`);
  const addBias = g.only(scoresMatMul.output[0]!, 'Add', 'attention bias');
  const bias = addBias.input.find((x) => x !== scoresMatMul.output[0])!;
  const softmax = g.only(addBias.output[0]!, 'Softmax', 'attention');
  const unsqueezeV = g.only(castV ? castV.output[0]! : presentV, 'Unsqueeze', 'values');
  const contextMatMul = g.only(unsqueezeV.output[0]!, 'MatMul', 'context');
  if (contextMatMul.input[0] !== softmax.output[0]) throw new UnsupportedGraphError(`layer ${layer}: context does not use the softmax`);
  const groupAxis = g.int64([2]);
  const keysLast = [{ name: 'perm', type: 7, ints: [0, 1, 2, 4, 3] }];
  // [B, kvH, C, hd] → [B, kvH, 1, C, hd] (a view) → transposed for Q·Kᵀ (fused into the product by onnxruntime).
  const keys = (k: string) => g.op('Transpose', [g.op('Unsqueeze', [toAttention(k, castK), groupAxis])], keysLast);
  const values = (v: string) => g.op('Unsqueeze', [toAttention(v, castV), groupAxis]);

  const q = groupQ.output[0]!; // [B, kvH, group, S, hd]
  const scoresPast = g.op('MatMul', [q, keys(pastK)]);
  // The new tokens' part with each group's queries as one matrix ([B, kvH, group·S, hd] · [B, kvH, hd, S]): a
  // third as many products as one per query head, which at decode are 1×hd·hd×1 and cost their call, not their math.
  const headDim = g.headDim(groupQ);
  const groups = g.headGroups(groupQ);
  const scoresNew = g.op('Reshape', [
    g.op('MatMul', [g.op('Reshape', [q, g.int64([0, 0, -1, headDim])]), g.op('Transpose', [toAttention(freshK, castK)], [{ name: 'perm', type: 7, ints: [0, 1, 3, 2] }])]),
    g.scoresShape(groups),
  ]); // [B, kvH, group, S, S]
  const scores = g.op('Concat', [scoresPast, scoresNew], [INT_ATTR('axis', -1)]); // [B, kvH, group, S, C+S]
  const probs = g.op('Softmax', [g.op('Add', [scores, bias])], [INT_ATTR('axis', -1)]); // the bias [B,1,1,S,C+S] broadcasts
  // Split the probabilities at C (the past capacity) and apply each part to its values.
  const capacity = g.op('Gather', [g.op('Shape', [pastK]), g.int64([2])], [INT_ATTR('axis', 0)]);
  const lastAxis = g.int64([-1]);
  const probsPast = g.op('Slice', [probs, g.int64([0]), capacity, lastAxis]);
  const probsNew = g.op('Slice', [probs, capacity, g.int64([Number.MAX_SAFE_INTEGER]), lastAxis]);
  const contextPast = g.op('MatMul', [probsPast, values(pastV)]);
  const contextNew = g.op('Reshape', [
    g.op('MatMul', [g.op('Reshape', [probsNew, g.int64([0, 0, -1, 0])]), toAttention(freshV, castV)]), // [B, kvH, group·S, hd]
    g.int64([0, 0, groups, -1, headDim]),
  ]);
  // [B, kvH, group, S, hd], as the builder's context product was: its next Reshape reads it unchanged.
  g.op('Add', [contextPast, contextNew], [], contextMatMul.output[0]!);
  // Only the new tokens' K/V leave the graph.
  g.op('Identity', [freshK], [], FRESH_KEY(layer));
  g.op('Identity', [freshV], [], FRESH_VALUE(layer));
  g.remove(concatK, concatV, castK, castV, unsqueezeK, transposeK, scoresMatMul, addBias, softmax, unsqueezeV, contextMatMul);
  for (const [present, freshName] of [
    [presentK, FRESH_KEY(layer)],
    [presentV, FRESH_VALUE(layer)],
  ] as const) {
    const info = g.output(present);
    info.name = freshName;
    info.type.tensor_type.shape.dim[2] = { dim_param: 'sequence_length' }; // [batch, kvH, new tokens, hd]
  }
}

/** The LM head's op: fp32 (Gemm/MatMul) or int8 (tools/quantize: com.microsoft MatMulNBits/DynamicQuantizeMatMul, both reading a 2-D input). */
const LM_HEAD_OPS = new Set(['Gemm', 'MatMul', 'MatMulNBits', 'DynamicQuantizeMatMul']);

/** logits = LMHead(hidden[b, logits_index[b]]) → [B, 1, V] instead of LMHead(hidden) → [B, S, V]. */
function rewriteLogits(g: GraphEdit, logitsName: string): void {
  const finalReshape = g.producer(logitsName);
  if (finalReshape.op_type !== 'Reshape') throw new UnsupportedGraphError(`${logitsName} is not produced by Reshape`);
  const lmHead = g.producer(finalReshape.input[0]!);
  if (!LM_HEAD_OPS.has(lmHead.op_type)) throw new UnsupportedGraphError(`the LM head is a ${lmHead.op_type}, not one of ${[...LM_HEAD_OPS].join('/')}`);
  const flatten = g.producer(lmHead.input[0]!);
  if (flatten.op_type !== 'Reshape') throw new UnsupportedGraphError('the LM head input is not a flattening Reshape');
  const hidden = flatten.input[0]!;
  const info = g.output(logitsName);
  const vocab = info.type.tensor_type.shape.dim[2]?.dim_value;
  if (!vocab) throw new UnsupportedGraphError(`${logitsName} has no static vocabulary size`);
  g.graph.input.push({
    name: LOGITS_INDEX,
    type: { tensor_type: { elem_type: 7, shape: { dim: [{ dim_param: 'batch_size' }] } } },
  });
  // hidden [B,S,H], indices [B,1] → [B,H]: one row per sequence, no flattening needed.
  const indices = g.op('Unsqueeze', [LOGITS_INDEX, g.int64([1])]);
  g.op('GatherND', [hidden, indices], [INT_ATTR('batch_dims', 1)], flatten.output[0]!);
  g.remove(flatten);
  finalReshape.input[1] = g.int64([-1, 1, vocab]);
  info.type.tensor_type.shape.dim[1] = { dim_value: 1 };
}

/** A one-element float initializer's value, or undefined when `name` is not one. */
function floatConstant(g: GraphEdit, name: string): number | undefined {
  const values = floatArrayConstant(g, name);
  return values?.length === 1 ? values[0] : undefined;
}

/**
 * x·x → ReduceMean(last axis) → Add ε → Sqrt → Reciprocal → Mul x → Mul weight  ⇒  SimplifiedLayerNormalization(x, weight)
 * (onnxruntime's RMSNorm kernel: x / sqrt(mean(x²) + ε) · weight over the last axis, float accumulation).
 * A norm written any other way is left as it is.
 */
function fuseRmsNorms(g: GraphEdit): void {
  for (const reduce of g.graph.node.filter((n) => n.op_type === 'ReduceMean')) {
    const square = g.producerOrUndefined(reduce.input[0]!);
    const x = square?.input[0];
    if (!square || square.op_type !== 'Mul' || square.input[1] !== x || !x) continue;
    const [add, ...others] = g.consumers(reduce.output[0]!);
    if (!add || others.length > 0 || add.op_type !== 'Add') continue;
    const epsilon = floatConstant(g, add.input[1] === reduce.output[0] ? add.input[0]! : add.input[1]!);
    const sqrt = g.soleConsumer(add.output[0]!, 'Sqrt');
    const reciprocal = sqrt && g.soleConsumer(sqrt.output[0]!, 'Reciprocal');
    const scale = reciprocal && g.soleConsumer(reciprocal.output[0]!, 'Mul');
    const weigh = scale && g.soleConsumer(scale.output[0]!, 'Mul');
    if (epsilon === undefined || !scale || !weigh || !scale.input.includes(x)) continue;
    const weight = weigh.input.find((i) => i !== scale.output[0]);
    if (!weight || !g.graph.initializer.some((i) => i.name === weight)) continue;
    g.op('SimplifiedLayerNormalization', [x, weight], [INT_ATTR('axis', -1), { name: 'epsilon', type: 1, f: epsilon }, INT_ATTR('stash_type', 1)], weigh.output[0]!);
    // The square may feed other nodes (it never does in the builder's graphs); dead nodes are pruned at commit.
    g.remove(reduce, add, sqrt, reciprocal, scale, weigh);
  }
}

/**
 * x·cos + concat(−x₂, x₁)·sin over [B, H, S, hd], with cos = Cos(concat(a, a)) and sin = Sin(concat(a, a)) for
 * a = Cast(position_ids) · inverse frequencies  ⇒  com.microsoft.RotaryEmbedding(x, position_ids, cos, sin)
 * with the tables [maxPositions, hd/2] computed here (float32 angles, as the graph computes them).
 * Returns how many were replaced; a RoPE written any other way is left as it is.
 */
function fuseRotaryEmbeddings(g: GraphEdit, maxPositions: number): number {
  let replaced = 0;
  const tables = new Map<string, { positions: string; cos: string; sin: string }>();
  /** The rotary source behind a per-head cos or sin table: Unsqueeze(Cos|Sin(Concat(a, a))), a = Mul(Unsqueeze(Cast(position_ids)), f). */
  const source = (table: string, op: 'Cos' | 'Sin') => {
    const unsqueeze = g.producerOrUndefined(table);
    const trig = unsqueeze?.op_type === 'Unsqueeze' ? g.producerOrUndefined(unsqueeze.input[0]!) : undefined;
    const doubled = trig?.op_type === op ? g.producerOrUndefined(trig.input[0]!) : undefined;
    if (doubled?.op_type !== 'Concat' || doubled.input.length !== 2 || doubled.input[0] !== doubled.input[1]) return undefined;
    const angles = g.producerOrUndefined(doubled.input[0]!);
    if (angles?.op_type !== 'Mul') return undefined;
    const constants = angles.input.map((i) => floatArrayConstant(g, i));
    const frequencies = constants.find((f) => f !== undefined);
    const positionsUnsqueeze = g.producerOrUndefined(angles.input[constants.findIndex((f) => f === undefined)] ?? '');
    const cast = positionsUnsqueeze?.op_type === 'Unsqueeze' ? g.producerOrUndefined(positionsUnsqueeze.input[0]!) : undefined;
    if (!frequencies || cast?.op_type !== 'Cast' || !g.graph.input.some((i) => i.name === cast.input[0])) return undefined;
    return { key: doubled.input[0]!, positions: cast.input[0]!, frequencies };
  };
  for (const split of g.graph.node.filter((n) => n.op_type === 'Split' && n.output.length === 2)) {
    const x = split.input[0]!;
    const neg = g.soleConsumer(split.output[1]!, 'Neg');
    const rotated = neg && g.soleConsumer(neg.output[0]!, 'Concat');
    if (!rotated || rotated.input[0] !== neg.output[0] || rotated.input[1] !== split.output[0]) continue;
    const timesSin = g.soleConsumer(rotated.output[0]!, 'Mul');
    const sum = timesSin && g.soleConsumer(timesSin.output[0]!, 'Add');
    const timesCos = sum && g.producerOrUndefined(sum.input.find((i) => i !== timesSin.output[0]) ?? '');
    if (!timesSin || !sum || timesCos?.op_type !== 'Mul' || !timesCos.input.includes(x)) continue;
    const sinTable = timesSin.input.find((i) => i !== rotated.output[0])!;
    const cosTable = timesCos.input.find((i) => i !== x)!;
    const cos = source(cosTable, 'Cos');
    const sin = source(sinTable, 'Sin');
    if (!cos || !sin || cos.key !== sin.key) continue;
    let cache = tables.get(cos.key);
    if (!cache) {
      const half = cos.frequencies.length;
      const cosData = new Float32Array(maxPositions * half);
      const sinData = new Float32Array(maxPositions * half);
      for (let p = 0; p < maxPositions; p++) {
        for (let i = 0; i < half; i++) {
          const angle = Math.fround(p * cos.frequencies[i]!); // the graph multiplies in float32
          cosData[p * half + i] = Math.cos(angle);
          sinData[p * half + i] = Math.sin(angle);
        }
      }
      cache = { positions: cos.positions, cos: g.float32(cosData, [maxPositions, half]), sin: g.float32(sinData, [maxPositions, half]) };
      tables.set(cos.key, cache);
    }
    g.op('RotaryEmbedding', [x, cache.positions, cache.cos, cache.sin], [INT_ATTR('interleaved', 0)], sum.output[0]!, 'com.microsoft');
    g.remove(split, neg, rotated, timesSin, timesCos, sum);
    replaced++;
  }
  return replaced;
}

/** A float initializer's values (raw bytes or float_data), or undefined when `name` is not one. */
function floatArrayConstant(g: GraphEdit, name: string): Float32Array | undefined {
  const init = g.graph.initializer.find((i) => i.name === name) as { data_type?: number; raw_data?: Uint8Array; float_data?: number[] } | undefined;
  if (!init || init.data_type !== 1) return undefined;
  if (init.float_data && init.float_data.length > 0) return Float32Array.from(init.float_data);
  if (init.raw_data && init.raw_data.byteLength > 0) return new Float32Array(new Uint8Array(init.raw_data).buffer); // copy: may be an unaligned view
  return undefined;
}

/** Drop nodes none of whose outputs is read (e.g. the old logits shape computation). */
function pruneDead(nodes: Node[], graph: Model['graph']): Node[] {
  const outputs = new Set(graph.output.map((o) => o.name));
  let live = nodes;
  for (;;) {
    const read = new Set(live.flatMap((n) => n.input));
    const next = live.filter((n) => n.output.some((o) => read.has(o) || outputs.has(o)));
    if (next.length === live.length) return live;
    live = next;
  }
}

function topologicalOrder(nodes: Node[], graph: Model['graph']): Node[] {
  const available = new Set<string>([...graph.input.map((i) => i.name), ...graph.initializer.map((i) => String(i.name)), '']);
  const pending = [...nodes];
  const ordered: Node[] = [];
  while (pending.length > 0) {
    const before = pending.length;
    for (let i = 0; i < pending.length; ) {
      const node = pending[i]!;
      if (node.input.every((x) => available.has(x))) {
        ordered.push(node);
        for (const o of node.output) available.add(o);
        pending.splice(i, 1);
      } else i++;
    }
    if (pending.length === before) throw new UnsupportedGraphError(`rewritten graph has a cycle or a missing input near ${pending[0]!.op_type}`);
  }
  return ordered;
}
