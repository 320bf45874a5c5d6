/**
 * Runs training graphs in onnxruntime: one session per batch shape (shapes are fixed per graph), built on
 * first use and kept. Weights go in as zero-copy tensors over the trainer's own arrays; the loss and the
 * gradients come back as arrays the optimizer reads.
 */
import ort from 'onnxruntime-node';
import type { LlamaArchitecture } from '../model-builder/architecture.ts';
import { encodeOnnxModel } from '../model-builder/onnx/serialize.ts';
import type { FloatType } from './autodiff/tape.ts';
import { buildTrainGraph, LOGITS_OUTPUT, LOSS_OUTPUT, TRAIN_INPUTS, type LoraConfig, type TrainGraph, type TrainShape } from './llama-train-graph.ts';

export type FloatArray = Float32Array | Float64Array;

/** Sessions kept per runner; a new batch shape beyond this releases the least recently used one. */
const MAX_SESSIONS = 3;

/** One step's data, already laid out for the graph (see batches.ts). */
export interface StepBatch {
  shape: TrainShape;
  inputIds: BigInt64Array; // [B*S]
  /** [B*S]; default: 0..S−1 in every row. */
  positionIds?: BigInt64Array;
  /** [B*S]: 0 shared prefix, k ≥ 1 segment k (see llama-train-graph.ts); default: all 0 (plain causal rows). */
  segmentIds?: BigInt64Array;
  lossRows: BigInt64Array; // [M]
  targets: BigInt64Array; // [M]
  lossWeights: Float32Array; // [M]; sums to 1 over a step's real targets
}

export interface StepResult {
  loss: number;
  grads: Map<string, FloatArray>;
  logits?: FloatArray;
}

export interface StepRunnerOptions {
  threads: number;
  floatType?: FloatType;
  lora?: LoraConfig;
  /** Also output logits at the loss rows (tests). */
  outputLogits?: boolean;
  /** Loss only, no gradients (validation). */
  forwardOnly?: boolean;
  /**
   * Let onnxruntime's intra-op threads spin between kernels (its default). Off here by default: on a shared
   * machine spinning burned ~1.4× the CPU per step and lost to blocking (bench:train --ours-nospin: 0.86× →
   * 1.22× PyTorch in the same run); a dedicated machine may prefer it on.
   */
  spinWait?: boolean;
  /** onnxruntime execution providers, e.g. ['cuda', 'cpu']; default cpu. */
  providers?: string[];
}

export class StepRunner {
  readonly #sessions = new Map<string, Promise<{ session: ort.InferenceSession; graph: TrainGraph }>>();

  constructor(readonly arch: LlamaArchitecture, readonly options: StepRunnerOptions) {}

  async run(params: ReadonlyMap<string, FloatArray>, batch: StepBatch): Promise<StepResult> {
    const { session, graph } = await this.#session(batch.shape);
    const floatType = this.options.floatType ?? 'float32';
    const feeds: Record<string, ort.Tensor> = {};
    for (const spec of [...graph.trainable, ...graph.frozen]) {
      const data = params.get(spec.name);
      if (!data) throw new Error(`trainer: no value for weight ${spec.name}`);
      feeds[spec.name] = new ort.Tensor(floatType, data, spec.shape);
    }
    const { batch: B, sequence: S, lossRows: M } = batch.shape;
    feeds[TRAIN_INPUTS.inputIds] = new ort.Tensor('int64', batch.inputIds, [B, S]);
    feeds[TRAIN_INPUTS.positionIds] = new ort.Tensor('int64', batch.positionIds ?? plainPositions(B, S), [B, S]);
    feeds[TRAIN_INPUTS.segmentIds] = new ort.Tensor('int64', batch.segmentIds ?? new BigInt64Array(B * S), [B, S]);
    feeds[TRAIN_INPUTS.lossRows] = new ort.Tensor('int64', batch.lossRows, [M]);
    feeds[TRAIN_INPUTS.targets] = new ort.Tensor('int64', batch.targets, [M]);
    feeds[TRAIN_INPUTS.lossWeights] = new ort.Tensor(floatType, floatType === 'float64' ? Float64Array.from(batch.lossWeights) : batch.lossWeights, [M]);
    const out = await session.run(feeds);
    const grads = new Map<string, FloatArray>();
    for (const spec of graph.trainable) grads.set(spec.name, out[`grad.${spec.name}`]!.data as FloatArray);
    const result: StepResult = { loss: Number((out[LOSS_OUTPUT]!.data as FloatArray)[0]), grads };
    if (this.options.outputLogits) result.logits = out[LOGITS_OUTPUT]!.data as FloatArray;
    return result;
  }

  /** Names and shapes of the trainable tensors (the same for every batch shape). */
  trainableSpecs(shape: TrainShape): Promise<TrainGraph['trainable']> {
    return this.#session(shape).then((s) => s.graph.trainable);
  }

  async release(): Promise<void> {
    const sessions = [...this.#sessions.values()];
    this.#sessions.clear();
    for (const s of sessions) await (await s).session.release();
  }

  #session(shape: TrainShape) {
    const key = `${shape.batch}x${shape.sequence}x${shape.lossRows}`;
    let entry = this.#sessions.get(key);
    if (entry) {
      // Most recently used last.
      this.#sessions.delete(key);
      this.#sessions.set(key, entry);
    } else {
      // Each session keeps its own arena sized for its shape: keep only a few (least recently used out).
      while (this.#sessions.size >= MAX_SESSIONS) {
        const oldestKey = this.#sessions.keys().next().value as string;
        const oldest = this.#sessions.get(oldestKey)!;
        this.#sessions.delete(oldestKey);
        void oldest.then((s) => s.session.release()).catch(() => {});
      }
      entry = (async () => {
        const graph = buildTrainGraph(this.arch, shape, {
          ...(this.options.floatType ? { floatType: this.options.floatType } : {}),
          ...(this.options.lora ? { lora: this.options.lora } : {}),
          ...(this.options.outputLogits ? { outputLogits: true } : {}),
          ...(this.options.forwardOnly ? { forwardOnly: true } : {}),
        });
        const bytes = encodeOnnxModel(graph.graph, { producerName: 'worldmind-trainer' });
        const session = await ort.InferenceSession.create(bytes, {
          intraOpNumThreads: this.options.threads,
          interOpNumThreads: 1,
          executionMode: 'sequential',
          graphOptimizationLevel: 'all',
          executionProviders: this.options.providers ?? ['cpu'],
          extra: { session: { 'intra_op.allow_spinning': this.options.spinWait ? '1' : '0' } },
        });
        return { session, graph };
      })();
      this.#sessions.set(key, entry);
    }
    return entry;
  }
}

function plainPositions(rows: number, sequence: number): BigInt64Array {
  const out = new BigInt64Array(rows * sequence);
  for (let i = 0; i < out.length; i++) out[i] = BigInt(i % sequence);
  return out;
}
