/**
 * The machine's forward+backward MatMul limit for one training step: an ONNX graph holding only the step's
 * matrix multiplies at their exact shapes, run by onnxruntime with the trainer's thread count.
 *
 * Per linear (X[N,in]·W[in,out]): the forward X·W, and the backward dX = dY·Wᵀ and dW = Xᵀ·dY; the LM head
 * likewise (tied: the embedding table is W). Per layer, attention's batched matmuls over B·H heads: forward
 * scores Q·Kᵀ and context P·V; backward dP = dC·Vᵀ, dV = Pᵀ·dC, dQ = dS·K, dK = dSᵀ·Q. Every operand is
 * already in the layout its multiply wants (the transposes are free here), every tensor is its own input
 * (no cache reuse a real step would not get) and outputs go to buffers allocated once. Norms, RoPE,
 * softmax, the loss, gathers and the optimizer are absent, so its tokens/s bounds any trainer's.
 */
import ort from 'onnxruntime-node';
import { headDimOf } from '../../model-builder/architecture.ts';
import { ElementType, GraphBuilder } from '../../model-builder/onnx/graph-builder.ts';
import { encodeOnnxModel } from '../../model-builder/onnx/serialize.ts';
import type { TrainWorkload } from './workload.ts';

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

export function buildRooflineGraph(work: TrainWorkload): RooflineGraph {
  const { arch, batch: B, sequence: S } = work;
  const N = B * S;
  const h = arch.hiddenSize;
  const hd = headDimOf(arch);
  const H = arch.numAttentionHeads;
  const q = H * hd;
  const kv = arch.numKeyValueHeads * hd;
  const g = new GraphBuilder('worldmind-train-roofline');
  const inputs: Operand[] = [];
  const outputs: Operand[] = [];
  let flops = 0;
  let matmuls = 0;
  const input = (name: string, shape: number[]) => {
    g.input(name, ElementType.FLOAT, shape);
    inputs.push({ name, shape });
    return name;
  };
  const matmul = (label: string, a: string, aShape: number[], b: string, bShape: number[]) => {
    const outShape = [...aShape.slice(0, -1), bShape.at(-1)!];
    const out = `y.${label}`;
    g.op('MatMul', [a, b], {}, out);
    g.output(out, ElementType.FLOAT, outShape);
    outputs.push({ name: out, shape: outShape });
    flops += 2 * aShape.reduce((x, y) => x * y, 1) * bShape.at(-1)!;
    matmuls++;
  };
  /** Forward and both backward multiplies of X[N,inF]·W[inF,outF]; `x` names the activation (shared by q/k/v, gate/up). */
  const linear = (label: string, x: string, inF: number, outF: number) => {
    const w = input(`w.${label}`, [inF, outF]);
    const wT = input(`wT.${label}`, [outF, inF]);
    const dy = input(`dy.${label}`, [N, outF]);
    matmul(`${label}.fwd`, x, [N, inF], w, [inF, outF]);
    matmul(`${label}.dx`, dy, [N, outF], wT, [outF, inF]);
    matmul(`${label}.dw`, `${x}T`, [inF, N], dy, [N, outF]);
  };
  const activation = (name: string, features: number) => {
    input(name, [N, features]);
    input(`${name}T`, [features, N]);
    return name;
  };

  for (let l = 0; l < arch.numLayers; l++) {
    const x = activation(`x.${l}`, h);
    linear(`${l}.q_proj`, x, h, q);
    linear(`${l}.k_proj`, x, h, kv);
    linear(`${l}.v_proj`, x, h, kv);
    linear(`${l}.o_proj`, activation(`ctx.${l}`, q), q, h);
    const y = activation(`y.${l}`, h);
    linear(`${l}.gate_proj`, y, h, arch.intermediateSize);
    linear(`${l}.up_proj`, y, h, arch.intermediateSize);
    linear(`${l}.down_proj`, activation(`act.${l}`, arch.intermediateSize), arch.intermediateSize, h);

    const heads = [B * H, S, hd];
    const headsT = [B * H, hd, S];
    const square = [B * H, S, S];
    const a = (name: string, shape: number[]) => input(`${name}.${l}`, shape);
    matmul(`${l}.scores`, a('q', heads), heads, a('kT', headsT), headsT);
    matmul(`${l}.context`, a('p', square), square, a('v', heads), heads);
    matmul(`${l}.dp`, a('dc', heads), heads, a('vT', headsT), headsT);
    matmul(`${l}.dv`, a('pT', square), square, a('dc2', heads), heads);
    matmul(`${l}.dq`, a('ds', square), square, a('k', heads), heads);
    matmul(`${l}.dk`, a('dsT', square), square, a('q2', heads), heads);
  }
  const V = arch.vocabSize;
  linear('lm_head', activation('final', h), h, V);
  return { bytes: encodeOnnxModel(g.build(), { producerName: 'worldmind-bench-train-roofline' }), inputs, outputs, flops, matmuls };
}

export class RooflineContender {
  readonly graph: RooflineGraph;
  #session?: ort.InferenceSession;
  #feeds: Record<string, ort.Tensor> = {};
  #fetches: Record<string, ort.Tensor> = {};

  constructor(readonly work: TrainWorkload, readonly threads: number) {
    this.graph = buildRooflineGraph(work);
  }

  async #ready(): Promise<ort.InferenceSession> {
    if (this.#session) return this.#session;
    this.#session = await ort.InferenceSession.create(this.graph.bytes, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      intraOpNumThreads: this.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
    });
    for (const { name, shape } of this.graph.inputs) {
      const data = new Float32Array(shape.reduce((x, y) => x * y, 1));
      for (let i = 0; i < data.length; i++) data[i] = Math.sin(i) * 0.05;
      this.#feeds[name] = new ort.Tensor('float32', data, shape);
    }
    for (const { name, shape } of this.graph.outputs) this.#fetches[name] = new ort.Tensor('float32', new Float32Array(shape.reduce((x, y) => x * y, 1)), shape);
    return this.#session;
  }

  /** Times `count` runs of the graph; each is one step's worth of multiplies. CPU time is the process's (all threads). */
  async steps(count: number): Promise<Array<{ ms: number; cpuMs: number; sysMs: number }>> {
    const session = await this.#ready();
    const out: Array<{ ms: number; cpuMs: number; sysMs: number }> = [];
    for (let i = 0; i < count; i++) {
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      await session.run(this.#feeds, this.#fetches);
      const ms = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      out.push({ ms, cpuMs: (cpu.user + cpu.system) / 1000, sysMs: cpu.system / 1000 });
    }
    return out;
  }

  async release(): Promise<void> {
    await this.#session?.release();
    this.#session = undefined;
  }
}
