/**
 * The machine's forward+backward MatMul limit for one training step: an ONNX graph holding only the step's
 * matrix multiplies at their exact shapes, run by onnxruntime with the trainer's thread count.
 *
 * Per linear X[N,in]·W[in,out]: the forward Y = X·W and the backward dX = dY·Wᵀ, dW = Xᵀ·dY; the tied LM
 * head likewise (W = the embedding table, transposed). Per layer, attention's batched multiplies with the
 * trainer's grouped-query broadcast ([B,KV,G,S,hd] queries against [B,KV,1,S,hd] keys): forward scores
 * Q·Kᵀ and context P·V, backward dP = dC·Vᵀ, dV = Pᵀ·dC, dQ = dS·K, dK = dSᵀ·Q.
 *
 * It is a ceiling, so it gets every advantage a real step could have: the multiplies are chained the way
 * the step's data flows (each forward output is its own site's dY, each backward dX feeds the next site
 * down, q/k/v and gate/up gradients accumulate through Gemm's C), so operands come warm from the producer
 * and intermediates live in onnxruntime's arena; transposes are multiply flags (Gemm / FusedMatMul, as
 * onnxruntime's own fusions give the trainer); reshapes are free views. The values are meaningless —
 * only the shapes and the data movement are real. Norms, RoPE, softmax, the loss, gathers, residual adds
 * and the optimizer are absent, so its tokens/s bounds any trainer's on this machine and runtime.
 */
import ort from 'onnxruntime-node';
import { onnxModelProto } from '../../../server/src/inference/model/onnx-proto.ts';
import { headDimOf } from '../../model-builder/architecture.ts';
import type { TrainWorkload } from './workload.ts';

const FLOAT = 1;
const INT64 = 7;
const ATTR_INT = 2;

interface Operand {
  name: string;
  shape: number[];
}

export interface RooflineGraph {
  bytes: Uint8Array;
  inputs: Operand[];
  outputs: Operand[];
  /** Exact FLOPs of one run (2 per multiply-add). */
  flops: number;
  matmuls: number;
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

export function buildRooflineGraph(work: TrainWorkload): RooflineGraph {
  const { arch, batch: B, sequence: S } = work;
  const N = B * S;
  const h = arch.hiddenSize;
  const hd = headDimOf(arch);
  const H = arch.numAttentionHeads;
  const KV = arch.numKeyValueHeads;
  const G = H / KV;
  const q = H * hd;
  const kv = KV * hd;
  const I = arch.intermediateSize;
  const V = arch.vocabSize;

  const nodes: object[] = [];
  const initializers: object[] = [];
  const inputs: Operand[] = [];
  const outputs: Operand[] = [];
  const shapes = new Map<string, number[]>();
  let flops = 0;
  let matmuls = 0;
  let id = 0;

  const input = (name: string, shape: number[]) => {
    inputs.push({ name, shape });
    shapes.set(name, shape);
    return name;
  };
  const output = (name: string) => {
    outputs.push({ name, shape: shapes.get(name)! });
  };
  /** a·b with optional transposes of the last two axes; counts 2·(batch·M·K·N). */
  const mm = (a: string, b: string, options: { transA?: boolean; transB?: boolean; c?: string } = {}) => {
    const sa = shapes.get(a)!;
    const sb = shapes.get(b)!;
    const [m, k] = options.transA ? [sa.at(-1)!, sa.at(-2)!] : [sa.at(-2)!, sa.at(-1)!];
    const [k2, n] = options.transB ? [sb.at(-1)!, sb.at(-2)!] : [sb.at(-2)!, sb.at(-1)!];
    if (k !== k2) throw new Error(`roofline: inner sizes differ for ${a} × ${b}`);
    const lead = sa.length >= sb.length ? sa.slice(0, -2) : sb.slice(0, -2);
    const batch = lead.map((d, i) => Math.max(d, sa.slice(0, -2)[i] ?? 1, sb.slice(0, -2)[i] ?? 1));
    const out = `t${id++}`;
    shapes.set(out, [...batch, m, n]);
    flops += 2 * size(batch) * m * k * n;
    matmuls++;
    const attribute: object[] = [];
    if (options.transA) attribute.push({ name: 'transA', type: ATTR_INT, i: 1 });
    if (options.transB) attribute.push({ name: 'transB', type: ATTR_INT, i: 1 });
    if (sa.length === 2 && sb.length === 2) {
      // Gemm: MLAS takes the transposes as flags and adds C in the same pass.
      nodes.push({ name: out, op_type: 'Gemm', input: options.c ? [a, b, options.c] : [a, b], output: [out], attribute });
    } else if (options.transA || options.transB) {
      nodes.push({ name: out, op_type: 'FusedMatMul', domain: 'com.microsoft', input: [a, b], output: [out], attribute });
    } else {
      nodes.push({ name: out, op_type: 'MatMul', input: [a, b], output: [out], attribute });
    }
    return out;
  };
  const reshape = (x: string, shape: number[]) => {
    if (size(shapes.get(x)!) !== size(shape)) throw new Error(`roofline: cannot view ${x} as [${shape}]`);
    const shapeName = `shape${id++}`;
    initializers.push({ name: shapeName, data_type: INT64, dims: [shape.length], raw_data: new Uint8Array(BigInt64Array.from(shape, BigInt).buffer) });
    const out = `t${id++}`;
    nodes.push({ name: out, op_type: 'Reshape', input: [x, shapeName], output: [out], attribute: [] });
    shapes.set(out, shape);
    return out;
  };

  // ---- forward ----
  interface Saved {
    x: string;
    y: string;
    qY: string;
    kY: string;
    vY: string;
    qh: string;
    kh: string;
    vh: string;
    probs: string;
    ctx: string;
    gate: string;
    up: string;
    w: Record<'q' | 'k' | 'v' | 'o' | 'gate' | 'up' | 'down', string>;
  }
  const saved: Saved[] = [];
  let x = input('x0', [N, h]);
  for (let l = 0; l < arch.numLayers; l++) {
    const w = {
      q: input(`w${l}.q_proj`, [h, q]),
      k: input(`w${l}.k_proj`, [h, kv]),
      v: input(`w${l}.v_proj`, [h, kv]),
      o: input(`w${l}.o_proj`, [q, h]),
      gate: input(`w${l}.gate_proj`, [h, I]),
      up: input(`w${l}.up_proj`, [h, I]),
      down: input(`w${l}.down_proj`, [I, h]),
    };
    const qY = mm(x, w.q);
    const kY = mm(x, w.k);
    const vY = mm(x, w.v);
    const qh = reshape(qY, [B, KV, G, S, hd]);
    const kh = reshape(kY, [B, KV, 1, S, hd]);
    const vh = reshape(vY, [B, KV, 1, S, hd]);
    const probs = mm(qh, kh, { transB: true }); // [B,KV,G,S,S]
    const ctx = reshape(mm(probs, vh), [N, q]);
    const y = mm(ctx, w.o);
    const gate = mm(y, w.gate);
    const up = mm(y, w.up);
    saved.push({ x, y, qY, kY, vY, qh, kh, vh, probs, ctx, gate, up, w });
    x = mm(gate, w.down); // the activation stands in for silu(gate)·up
  }
  const embed = input('embed', [V, h]);
  const logits = mm(x, embed, { transB: true }); // [N,V]

  // ---- backward ----
  output(mm(logits, x, { transA: true })); // d(embed) from the head: dlogitsᵀ·x
  let grad = mm(logits, embed); // dx [N,h]
  for (let l = arch.numLayers - 1; l >= 0; l--) {
    const s = saved[l]!;
    const dAct = mm(grad, s.w.down, { transB: true }); // [N,I]
    output(mm(s.gate, grad, { transA: true })); // d(down)
    output(mm(s.y, dAct, { transA: true })); // d(gate)
    output(mm(s.y, s.up, { transA: true })); // d(up), with up's own output as its dY
    const dy = mm(s.up, s.w.up, { transB: true, c: mm(dAct, s.w.gate, { transB: true }) }); // [N,h]
    const dCtx = mm(dy, s.w.o, { transB: true }); // [N,q]
    output(mm(s.ctx, dy, { transA: true })); // d(o)
    const dC = reshape(dCtx, [B, KV, G, S, hd]);
    const dP = mm(dC, s.vh, { transB: true }); // [B,KV,G,S,S]; dS stands in as dP
    output(mm(s.probs, dC, { transA: true })); // dV per query head
    const dQ = reshape(mm(dP, s.kh), [N, q]);
    output(mm(dP, s.qh, { transA: true })); // dK per query head
    output(mm(s.x, dQ, { transA: true })); // d(q)
    output(mm(s.x, s.kY, { transA: true })); // d(k), k's output as its dY
    output(mm(s.x, s.vY, { transA: true })); // d(v)
    grad = mm(s.vY, s.w.v, { transB: true, c: mm(s.kY, s.w.k, { transB: true, c: mm(dQ, s.w.q, { transB: true }) }) }); // dx [N,h]
  }
  output(grad);

  const valueInfo = ({ name, shape }: Operand) => ({ name, type: { tensor_type: { elem_type: FLOAT, shape: { dim: shape.map((d) => ({ dim_value: d })) } } } });
  const ModelProto = onnxModelProto();
  const model = {
    ir_version: 8,
    opset_import: [{ domain: '', version: 17 }, { domain: 'com.microsoft', version: 1 }],
    producer_name: 'worldmind-bench-train-roofline',
    graph: { name: 'train-roofline', node: nodes, initializer: initializers, input: inputs.map(valueInfo), output: outputs.map(valueInfo) },
  };
  return { bytes: ModelProto.encode(ModelProto.fromObject(model)).finish(), inputs, outputs, flops, matmuls };
}

export interface RooflineSample {
  ms: number;
  cpuMs: number;
  sysMs: number;
}

/**
 * Runs the roofline graph in two sessions, onnxruntime's intra-op threads spin-waiting between kernels
 * (its default, and StepRunner's) and blocking instead: which is faster depends on whether the machine
 * has idle cores, and a ceiling should take the better.
 */
export class RooflineContender {
  readonly graph: RooflineGraph;
  #sessions?: Record<'spin' | 'block', ort.InferenceSession>;
  #feeds: Record<string, ort.Tensor> = {};
  #fetches: Record<string, ort.Tensor> = {};

  constructor(readonly work: TrainWorkload, readonly threads: number) {
    this.graph = buildRooflineGraph(work);
  }

  async #ready(): Promise<Record<'spin' | 'block', ort.InferenceSession>> {
    if (this.#sessions) return this.#sessions;
    const create = (spin: boolean) =>
      ort.InferenceSession.create(this.graph.bytes, {
        executionProviders: ['cpu'],
        graphOptimizationLevel: 'all',
        intraOpNumThreads: this.threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        // A chain of bare multiplies (no norms) drifts towards underflow; flushing denormals to zero keeps
        // every kernel on its fast path whatever the values do.
        extra: { session: { set_denormal_as_zero: '1', 'intra_op.allow_spinning': spin ? '1' : '0' } },
      });
    this.#sessions = { spin: await create(true), block: await create(false) };
    for (const { name, shape } of this.graph.inputs) {
      const data = new Float32Array(size(shape));
      for (let i = 0; i < data.length; i++) data[i] = Math.sin(i) * 0.05;
      this.#feeds[name] = new ort.Tensor('float32', data, shape);
    }
    // Outputs (the weight gradients, as the trainer returns them) go to buffers allocated once.
    for (const { name, shape } of this.graph.outputs) this.#fetches[name] = new ort.Tensor('float32', new Float32Array(size(shape)), shape);
    return this.#sessions;
  }

  /** Times `count` runs of the graph in each session; each run is one step's multiplies. CPU time is the process's (all threads). */
  async steps(count: number): Promise<Record<'spin' | 'block', RooflineSample[]>> {
    const sessions = await this.#ready();
    const out: Record<'spin' | 'block', RooflineSample[]> = { spin: [], block: [] };
    for (const mode of ['spin', 'block'] as const) {
      for (let i = 0; i < count; i++) {
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        await sessions[mode].run(this.#feeds, this.#fetches);
        const ms = performance.now() - t0;
        const cpu = process.cpuUsage(cpu0);
        out[mode].push({ ms, cpuMs: (cpu.user + cpu.system) / 1000, sysMs: cpu.system / 1000 });
      }
    }
    return out;
  }

  async release(): Promise<void> {
    if (this.#sessions) for (const s of Object.values(this.#sessions)) await s.release();
    this.#sessions = undefined;
  }
}
