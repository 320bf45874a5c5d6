/**
 * The training loop: micro-batches through the step runner, gradients summed over accumulation slots,
 * AdamW with warmup + cosine, periodic validation and checkpoints, progress reports. It knows nothing
 * about where data or weights come from (cli.ts wires those).
 */
import type { LlamaArchitecture } from '../model-builder/architecture.ts';
import type { BatchSource } from './batches.ts';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.ts';
import type { LoraConfig } from './llama-train-graph.ts';
import { AdamW, learningRate, type AdamWOptions } from './optimizer.ts';
import { StepRunner, type FloatArray, type StepBatch } from './step-runner.ts';

export interface LoopConfig {
  steps: number;
  accumulate: number;
  lr: { peak: number; floor: number; warmup: number };
  adamw: AdamWOptions;
  threads: number;
  lora?: LoraConfig;
  /** Validate every N steps (0 = only at the end). */
  evalEvery: number;
  /** Checkpoint every N steps (0 = never; the final weights are always returned). */
  checkpointEvery: number;
  /** Stop after this many seconds even if steps remain (the schedule still assumes `steps`). */
  maxSeconds?: number;
  /** Stop after this step (a checkpoint is written there when checkpointing is on); the schedule still assumes `steps`. */
  stopAtStep?: number;
  providers?: string[];
  /** onnxruntime intra-op threads spin between kernels (default off: see StepRunnerOptions.spinWait). */
  spinWait?: boolean;
}

export interface ProgressEvent {
  step: number;
  steps: number;
  loss: number;
  lr: number;
  gradNorm: number;
  tokensPerSecond: number;
  elapsedSeconds: number;
  etaSeconds: number;
  validLoss?: number;
}

export interface LoopResult {
  steps: number;
  /** Loss-carrying tokens processed. */
  tokens: number;
  seconds: number;
  finalLoss: number;
  validLoss?: number;
  history: Array<Record<string, number>>;
  stoppedEarly: boolean;
}

export interface LoopInput<Config> {
  arch: LlamaArchitecture;
  config: LoopConfig;
  /** Everything recorded in checkpoints (CLI options), checked on resume. */
  runConfig: Config;
  /** All float inputs: trainable tensors and, under LoRA, the frozen base. Updated in place. */
  params: Map<string, Float32Array>;
  /** Names of the tensors the optimizer updates. */
  trainable: string[];
  source: BatchSource;
  valid?: StepBatch[];
  checkpointDir?: string;
  resumeFrom?: string;
  onProgress?: (event: ProgressEvent) => void;
  onCheckpoint?: (dir: string, step: number) => void;
}

const NO_DECAY = /(layernorm|norm)\.weight$/;

export async function trainLoop<Config>(input: LoopInput<Config>): Promise<LoopResult> {
  const { arch, config, params, trainable, source } = input;
  const common = { threads: config.threads, ...(config.lora ? { lora: config.lora } : {}), ...(config.providers ? { providers: config.providers } : {}), ...(config.spinWait ? { spinWait: true } : {}) };
  const runner = new StepRunner(arch, common);
  const validRunner = input.valid?.length ? new StepRunner(arch, { ...common, forwardOnly: true }) : undefined;
  const tensors = trainable.map((name) => ({ name, size: params.get(name)!.length, decay: !NO_DECAY.test(name) && !name.includes('lora_') }));
  let optimizer = new AdamW(config.adamw, tensors);
  let startStep = 0;
  let history: Array<Record<string, number>> = [];

  if (input.resumeFrom) {
    const checkpoint = loadCheckpoint<Config>(input.resumeFrom);
    if (JSON.stringify(checkpoint.config) !== JSON.stringify(input.runConfig)) {
      throw new Error(`${input.resumeFrom} was written by a run with other settings; resume with the same options (saved: ${JSON.stringify(checkpoint.config)})`);
    }
    for (const [name, value] of checkpoint.params) {
      const target = params.get(name);
      if (!target || target.length !== value.length) throw new Error(`checkpoint tensor ${name} does not fit this model`);
      target.set(value);
    }
    optimizer = new AdamW(config.adamw, tensors, checkpoint.optimizer);
    startStep = checkpoint.step;
    history = checkpoint.history;
  }

  const started = performance.now();
  let tokens = 0;
  let lastLoss = Number.NaN;
  let validLoss: number | undefined;
  let stoppedEarly = false;
  const summed = new Map(trainable.map((name) => [name, new Float32Array(params.get(name)!.length)]));
  const schedule = { ...config.lr, total: config.steps };

  let step = startStep;
  for (; step < config.steps; step++) {
    for (const sum of summed.values()) sum.fill(0);
    let loss = 0;
    let stepTokens = 0;
    for (let micro = 0; micro < config.accumulate; micro++) {
      const batch = source.batch(step, micro);
      const result = await runner.run(params, batch);
      if (!Number.isFinite(result.loss)) throw new Error(`loss became ${result.loss} at step ${step}: lower --lr or check the data`);
      loss += result.loss / config.accumulate;
      for (const name of trainable) addScaled(summed.get(name)!, result.grads.get(name)!, 1 / config.accumulate);
      stepTokens += countTargets(batch);
    }
    const lr = learningRate(step, schedule);
    const gradNorm = optimizer.update(params, summed, lr);
    tokens += stepTokens;
    lastLoss = loss;
    const elapsed = (performance.now() - started) / 1000;
    const record: Record<string, number> = { step: step + 1, loss, lr, gradNorm, tokens: stepTokens, seconds: elapsed };

    const last = step + 1 === config.steps;
    if (validRunner && input.valid && ((config.evalEvery > 0 && (step + 1) % config.evalEvery === 0) || last)) {
      validLoss = await meanLoss(validRunner, params, input.valid);
      record.validLoss = validLoss;
    }
    history.push(record);
    const done = step + 1 - startStep;
    input.onProgress?.({
      step: step + 1,
      steps: config.steps,
      loss,
      lr,
      gradNorm,
      tokensPerSecond: tokens / Math.max(elapsed, 1e-9),
      elapsedSeconds: elapsed,
      etaSeconds: (elapsed / done) * (config.steps - step - 1),
      ...(record.validLoss !== undefined ? { validLoss: record.validLoss } : {}),
    });
    if (input.checkpointDir && config.checkpointEvery > 0 && (step + 1) % config.checkpointEvery === 0) {
      saveCheckpoint(input.checkpointDir, { config: input.runConfig, step: step + 1, params, optimizer: optimizer.state, history });
      input.onCheckpoint?.(input.checkpointDir, step + 1);
    }
    const stopHere = config.stopAtStep !== undefined && step + 1 >= config.stopAtStep;
    if (stopHere && input.checkpointDir && !(config.checkpointEvery > 0 && (step + 1) % config.checkpointEvery === 0)) {
      saveCheckpoint(input.checkpointDir, { config: input.runConfig, step: step + 1, params, optimizer: optimizer.state, history });
      input.onCheckpoint?.(input.checkpointDir, step + 1);
    }
    if (((config.maxSeconds !== undefined && elapsed > config.maxSeconds) || stopHere) && !last) {
      stoppedEarly = true;
      step++;
      break;
    }
  }
  if (stoppedEarly && validRunner && input.valid) {
    validLoss = await meanLoss(validRunner, params, input.valid);
    history.at(-1)!.validLoss = validLoss;
  }
  await runner.release();
  await validRunner?.release();
  return {
    steps: step,
    tokens,
    seconds: (performance.now() - started) / 1000,
    finalLoss: lastLoss,
    ...(validLoss !== undefined ? { validLoss } : {}),
    history,
    stoppedEarly,
  };
}

/** Mean loss over validation batches, each weighted by its loss-carrying token count. */
export async function meanLoss(runner: StepRunner, params: ReadonlyMap<string, FloatArray>, batches: readonly StepBatch[]): Promise<number> {
  let sum = 0;
  let count = 0;
  for (const batch of batches) {
    const n = countTargets(batch);
    sum += (await runner.run(params, batch)).loss * n;
    count += n;
  }
  return sum / Math.max(1, count);
}

function countTargets(batch: StepBatch): number {
  let n = 0;
  for (const w of batch.lossWeights) if (w > 0) n++;
  return n;
}

function addScaled(into: Float32Array, from: ArrayLike<number>, scale: number): void {
  for (let i = 0; i < into.length; i++) into[i] = into[i]! + from[i]! * scale;
}
