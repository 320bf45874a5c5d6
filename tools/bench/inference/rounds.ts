/**
 * One round of bench:inference: every contender serves the same workload once, back to back, so a slow
 * spell of the shared machine lands inside one round and hits its neighbours too. Order within a round:
 * engine (burst, the warm second burst, steady state, one at a time), the engine on the int8 weights (burst), the engine with other
 * scheduling settings (burst), the engine with the standard graph's KV handling, the peers
 * (transformers.js, node-llama-cpp), then the MatMul rooflines at the decode and the prefill shape.
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { InferenceEngine } from '../../../server/src/inference/engine/engine-client.ts';
import type { SchedulerSettings } from '../../../server/src/inference/engine/protocol.ts';
import type { KvStrategy } from '../../../server/src/inference/engine/step-runner.ts';
import { runClosedLoop, runOpenLoop, warmPrefixes } from './engine-phases.ts';
import { runLlamaCpp } from './llamacpp-phase.ts';
import { engineSteps, stepRates, summarize, type EngineSteps, type PhaseSummary } from './phase-stats.ts';
import { measureRoofline, type RooflineResult } from './roofline.ts';
import { runTransformersJs } from './transformers-phase.ts';
import type { BenchRequest } from './workload.ts';
import type { NodeLlamaCppModule } from '../../gguf/node-llama-cpp.ts';

export interface RoundConfig {
  modelDir: string;
  /** The int8 variant of modelDir (tools/quantize): the same burst on it, right after the fp32 engine's. */
  int8ModelDir?: string;
  concurrency: number;
  maxTokens: number;
  threads: number;
  /** The one-wave burst: every request submitted at once, `concurrency` in flight. */
  burst: readonly BenchRequest[];
  /**
   * A second burst (other player lines) on the same engine right after the first (empty: none): what a
   * running server does, its decode buffers still warm from the first burst (see INFERENCE_KV_KEEP_WARM_MS).
   */
  warmBurst: readonly BenchRequest[];
  /** Decode KV tokens per row each Worldmind engine reserves at start (INFERENCE_KV_RESERVE_TOKENS; 0: none). */
  kvReserveTokens: number;
  /** The steady-state workload (empty: none); its arrival times come from `steadyArrivals`. */
  steady: readonly BenchRequest[];
  /** Arrival offsets for the steady workload, given the (warm, if run) burst's measured rate (fixed after the first call). */
  steadyArrivals: (burst: PhaseSummary) => number[];
  sequentialCount: number;
  /** The burst again on engines with these scheduler settings (what each scheduling lever does). */
  schedulingCompare: readonly SchedulingVariant[];
  kvCompare: readonly KvStrategy[];
  transformersjs: boolean;
  llamacpp?: { module: NodeLlamaCppModule; gguf: string; banned: readonly number[] };
  /** Tokens per prefill run for the prefill roofline, given the round's burst's measured mean per run. */
  prefillShape: (meanPrefillTokens: number) => number;
  log: (line: string) => void;
}

export interface SchedulingVariant {
  name: string;
  scheduler: Partial<SchedulerSettings>;
}

export interface EnginePhase {
  summary: PhaseSummary;
  steps: EngineSteps;
}

export interface RoundResult {
  /** 1-minute load average when the round started. */
  load1: number;
  batched: EnginePhase;
  /** The second burst on the same engine, its buffers warm. */
  warm?: EnginePhase;
  steady?: EnginePhase;
  sequential: PhaseSummary;
  /** The burst on the int8 weights (in-place KV, like `batched`). */
  int8?: EnginePhase;
  /** The burst with each scheduling variant, by name. */
  scheduling: Record<string, EnginePhase>;
  kv: Partial<Record<KvStrategy, EnginePhase>>;
  transformersjs?: PhaseSummary;
  llamacpp?: PhaseSummary & { batchSize: number; contextSize: number };
  rooflineDecode: RooflineResult;
  rooflinePrefill: RooflineResult;
  /** The decode roofline at the steady state's own mean decode batch (with a steady state only). */
  rooflineSteadyDecode?: RooflineResult;
}

async function startEngine(config: RoundConfig, kvStrategy: KvStrategy, modelDir = config.modelDir, scheduler: Partial<SchedulerSettings> = {}): Promise<InferenceEngine> {
  const queue = Math.max(256, config.burst.length, config.steady.length);
  return InferenceEngine.start({
    modelDir,
    intraOpThreads: config.threads,
    interOpThreads: 1,
    scheduler: { maxBatchSize: config.concurrency, maxQueue: queue, kvStrategy, kvBudgetBytes: 4 * 1024 ** 3, kvReserveTokens: config.kvReserveTokens, ...scheduler },
  });
}

/** A burst (personas prefilled first, outside the measurement); its step counters are this phase's alone. */
async function burstPhase(engine: InferenceEngine, config: RoundConfig, requests = config.burst): Promise<EnginePhase> {
  const before = (await engine.metrics()).engine;
  const samples = await runClosedLoop(engine, requests, config.maxTokens, config.concurrency);
  return { summary: summarize(samples), steps: engineSteps(before, (await engine.metrics()).engine) };
}

export async function runRound(config: RoundConfig, round: number, rounds: number): Promise<RoundResult> {
  const tag = `round ${round}/${rounds}`;
  const load1 = loadavg()[0]!;
  const { log } = config;

  const engine = await startEngine(config, 'inplace');
  let batched: EnginePhase;
  let warm: EnginePhase | undefined;
  let steady: EnginePhase | undefined;
  let sequential: PhaseSummary;
  try {
    await warmPrefixes(engine, [...config.burst, ...config.warmBurst, ...config.steady]);
    log(`${tag}: engine batched, burst of ${config.burst.length} at concurrency ${config.concurrency}...`);
    batched = await burstPhase(engine, config);
    if (config.warmBurst.length > 0) {
      log(`${tag}: engine batched, a second burst of ${config.warmBurst.length} on the same engine (buffers warm)...`);
      warm = await burstPhase(engine, config, config.warmBurst);
    }
    if (config.steady.length > 0) {
      // The engine is warm by now: its capacity is the warm burst's rate (the cold one's when there is none).
      const arrivals = config.steadyArrivals((warm ?? batched).summary);
      log(`${tag}: engine steady state, ${config.steady.length} requests over ${(arrivals[arrivals.length - 1]! / 1000).toFixed(1)} s...`);
      const before = (await engine.metrics()).engine;
      const samples = await runOpenLoop(engine, config.steady, config.maxTokens, arrivals);
      steady = { summary: summarize(samples), steps: engineSteps(before, (await engine.metrics()).engine) };
    }
    log(`${tag}: engine one at a time, ${config.sequentialCount} requests...`);
    sequential = summarize(await runClosedLoop(engine, config.burst.slice(0, config.sequentialCount), config.maxTokens, 1));
  } finally {
    await engine.close();
  }

  // The same burst on the int8 weights: what quantisation buys in decode throughput.
  let int8: EnginePhase | undefined;
  if (config.int8ModelDir) {
    log(`${tag}: engine batched on int8 weights, burst of ${config.burst.length}...`);
    const quantized = await startEngine(config, 'inplace', config.int8ModelDir);
    try {
      await warmPrefixes(quantized, config.burst);
      int8 = await burstPhase(quantized, config);
    } finally {
      await quantized.close();
    }
  }

  // The same burst scheduled otherwise: what each lever (prefill order, decode share) does to first tokens.
  const scheduling: RoundResult['scheduling'] = {};
  for (const variant of config.schedulingCompare) {
    log(`${tag}: engine batched, ${variant.name}...`);
    const other = await startEngine(config, 'inplace', config.modelDir, variant.scheduler);
    try {
      await warmPrefixes(other, config.burst);
      scheduling[variant.name] = await burstPhase(other, config);
    } finally {
      await other.close();
    }
  }

  // The same burst with the standard graph's KV handling, to show what the in-place KV buys.
  const kv: RoundResult['kv'] = {};
  for (const strategy of config.kvCompare) {
    log(`${tag}: engine batched with ${strategy} KV...`);
    const other = await startEngine(config, strategy);
    try {
      await warmPrefixes(other, config.burst);
      kv[strategy] = await burstPhase(other, config);
    } finally {
      await other.close();
    }
  }

  let transformersjs: PhaseSummary | undefined;
  if (config.transformersjs) {
    log(`${tag}: transformers.js, ${config.burst.length} concurrent generate() calls...`);
    transformersjs = summarize(await runTransformersJs(config.modelDir, config.burst, config.maxTokens, config.concurrency, config.threads));
  }

  let llamacpp: RoundResult['llamacpp'];
  if (config.llamacpp) {
    log(`${tag}: node-llama-cpp, ${config.burst.length} requests on ${config.concurrency} sequences...`);
    const run = await runLlamaCpp(config.llamacpp.module, config.llamacpp.gguf, config.burst, config.maxTokens, config.concurrency, config.threads, config.llamacpp.banned);
    llamacpp = { ...summarize(run), batchSize: run.batchSize, contextSize: run.contextSize };
  }

  const onnx = join(config.modelDir, 'onnx', 'model.onnx');
  const runs = Math.max(1, batched.steps.prefillSteps);
  const prefillTokens = config.prefillShape(batched.steps.prefillTokens / runs);
  // Logits for one position per prompt in a run: about the burst's prompts ÷ its prefill runs (a prompt split
  // over two runs adds a row; at ~0.2 of a token's MACs per head row, that error is well under 1 %).
  const headRows = Math.min(prefillTokens, Math.max(1, Math.round(config.burst.length / runs)));
  log(`${tag}: roofline, MatMuls alone at the decode shape (${config.concurrency} rows) and the prefill shape (${prefillTokens} tokens, LM head on ${headRows})...`);
  // Medians of 20 (decode) and 6 (prefill, several times longer) steps: a few seconds each, long enough that
  // one busy moment of the machine does not set the limit.
  const rooflineDecode = await measureRoofline(onnx, config.concurrency, { intraOpThreads: config.threads, steps: 20 });
  const rooflinePrefill = await measureRoofline(onnx, prefillTokens, { intraOpThreads: config.threads, steps: 6, headRows });
  // The steady state decodes fewer rows per step than the burst (arrivals spread out): its steps are read against
  // the MatMuls at its own mean decode batch, the shape it ran (fewer rows per weight read: a lower tokens/s).
  let rooflineSteadyDecode: RooflineResult | undefined;
  if (steady && steady.steps.decodeSteps > 0) {
    const rows = Math.max(1, Math.round(stepRates(steady.steps).mean_decode_batch));
    if (rows === config.concurrency) rooflineSteadyDecode = rooflineDecode;
    else {
      log(`${tag}: roofline, MatMuls alone at the steady state's decode shape (${rows} rows)...`);
      rooflineSteadyDecode = await measureRoofline(onnx, rows, { intraOpThreads: config.threads, steps: 20 });
    }
  }

  return {
    load1,
    batched,
    ...(warm ? { warm } : {}),
    ...(steady ? { steady } : {}),
    sequential,
    ...(int8 ? { int8 } : {}),
    scheduling,
    kv,
    ...(transformersjs ? { transformersjs } : {}),
    ...(llamacpp ? { llamacpp } : {}),
    rooflineDecode,
    rooflinePrefill,
    ...(rooflineSteadyDecode ? { rooflineSteadyDecode } : {}),
  };
}
