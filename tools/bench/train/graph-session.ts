/**
 * The trainer's own graph (buildTrainGraph) in a session the benchmark configures itself: for the profiler
 * (`--profile`) and for trying session options StepRunner does not expose (`--ours-nospin`). Session
 * options start from StepRunner's; every graph input is fed by name (weights from the params, the rest from
 * the StepBatch field TRAIN_INPUTS maps to it), so it follows the graph as the trainer grows inputs.
 */
import ort from 'onnxruntime-node';
import { encodeOnnxModel } from '../../model-builder/onnx/serialize.ts';
import { buildTrainGraph, LOSS_OUTPUT, TRAIN_INPUTS, type TrainGraph } from '../../trainer/llama-train-graph.ts';
import type { StepBatch } from '../../trainer/step-runner.ts';
import type { TrainWorkload } from './workload.ts';

export interface GraphSession {
  session: ort.InferenceSession;
  graph: TrainGraph;
  feeds(params: ReadonlyMap<string, Float32Array>, batch: StepBatch): Record<string, ort.Tensor>;
}

export async function createTrainSession(work: TrainWorkload, batch: StepBatch, options: { threads: number; extra?: Record<string, unknown>; profilePrefix?: string }): Promise<GraphSession> {
  const graph = buildTrainGraph(work.arch, batch.shape);
  const session = await ort.InferenceSession.create(encodeOnnxModel(graph.graph, { producerName: 'worldmind-trainer' }), {
    intraOpNumThreads: options.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    executionProviders: ['cpu'],
    ...(options.extra ? { extra: options.extra } : {}),
    ...(options.profilePrefix ? { enableProfiling: true, profileFilePrefix: options.profilePrefix } : {}),
  });
  const feeds = (params: ReadonlyMap<string, Float32Array>, b: StepBatch) => {
    const fromBatch = new Map<string, unknown>(Object.entries(TRAIN_INPUTS).map(([field, name]) => [name, (b as unknown as Record<string, unknown>)[field]]));
    const out: Record<string, ort.Tensor> = {};
    for (const input of graph.graph.inputs) {
      const data = params.get(input.name) ?? fromBatch.get(input.name);
      if (!data) throw new Error(`bench:train: no value for graph input ${input.name}`);
      out[input.name] = new ort.Tensor(data instanceof BigInt64Array ? 'int64' : 'float32', data as Float32Array | BigInt64Array, input.shape as number[]);
    }
    return out;
  };
  return { session, graph, feeds };
}

/** A StepRunner look-alike over such a session (loss and gradients by name). */
export class BenchRunner {
  #session?: Promise<GraphSession>;

  constructor(readonly work: TrainWorkload, readonly options: { threads: number; extra?: Record<string, unknown> }) {}

  async run(params: ReadonlyMap<string, Float32Array>, batch: StepBatch): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
    this.#session ??= createTrainSession(this.work, batch, this.options);
    const s = await this.#session;
    const out = await s.session.run(s.feeds(params, batch));
    const grads = new Map<string, Float32Array>();
    for (const spec of s.graph.trainable) grads.set(spec.name, out[`grad.${spec.name}`]!.data as Float32Array);
    return { loss: Number((out[LOSS_OUTPUT]!.data as Float32Array)[0]), grads };
  }

  async release(): Promise<void> {
    if (this.#session) await (await this.#session).session.release();
    this.#session = undefined;
  }
}
