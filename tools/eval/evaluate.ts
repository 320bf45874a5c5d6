/**
 * `evaluateModel`: scores a model directory on one split of the world corpus — reply loss / perplexity
 * (teacher-forced on the model's ONNX graph), lore accuracy, action accuracy, refusal rate (replies generated
 * by the server's inference engine under the server's action grammar) — beside a baseline (by default an
 * untrained twin: same architecture and tokenizer, random weights) evaluated on the same samples in the
 * same run. See README.md for the metric definitions.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigSchema } from '../../server/src/config.ts';
import { InferenceEngine } from '../../server/src/inference/engine/engine-client.ts';
import { loadModelText } from '../../server/src/inference/model/index.ts';
import { worldFacts, type WorldFacts } from '../../server/src/npc/prompt.ts';
import { formatProblem, loadNpcScripts } from '../../server/src/npc/script-loader.ts';
import type { NpcScript } from '../../server/src/npc/script-schema.ts';
import { loadWorldMap, type WorldMap } from '../../server/src/world/world-map.ts';
import { GENERAL_DIR, WORLD_DIR, type Split, type WorldSample } from '../corpus/sample.ts';
import { architectureOf, buildUntrainedTwin, parameterCount } from './baseline.ts';
import { dialogueCompiler, generateReplies, type Decoding, type GeneratedReply } from './generation.ts';
import type { CopyProbe, SampleLoss } from './loss.ts';
import { runLossPass } from './loss-runner.ts';
import { EvalError, pickSubset, readSplit, trainedFacts } from './samples.ts';
import { DEFAULT_LORE_GROUNDING } from '../../server/src/npc/lore-grounding.ts';
import { ActionMemory, DEFAULT_ACTION_MEMORY } from '../../server/src/npc/action-memory.ts';
import { DEFAULT_CALL_GROUNDING } from '../../server/src/npc/call-grounding.ts';
import {
  aggregateScores,
  isActionSample,
  isLoreSample,
  isRefusalSample,
  LORE_RULE,
  needsGeneration,
  REFUSAL_RULE,
  sampleSource,
  scoreReply,
  type ReplyMetrics,
  type ReplyScore,
} from './scoring.ts';

export interface EvalOptions {
  /** The model directory to evaluate. */
  model: string;
  /** 'untrained' (default): build a random-weight twin; a directory: evaluate that one; null: no baseline. */
  baseline?: 'untrained' | string | null;
  /** Seed of the untrained twin's weights (default 0). */
  baselineSeed?: number;
  /** Directory with `<split>.jsonl` (default data/corpus/world, relative to the working directory). */
  corpusDir?: string;
  split?: Split;
  /** Evaluate these samples instead of reading the corpus. */
  samples?: readonly WorldSample[];
  /** Evaluate a stable subset of this many samples. */
  limit?: number;
  /** Seeds the subset and each request's sampling seed (default 0). */
  seed?: number;
  /** 'greedy' (default, temperature 0: repeatable) or 'script' (each NPC's sampling settings, seeded). */
  decoding?: Decoding;
  /** NPC_LORE_GROUNDING for the generated replies (default: the server's default; 0 = off). */
  loreGrounding?: number;
  /** NPC_ACTION_MEMORY for the generated replies (default: the server's default; 0 = off), for models with an action memory. */
  actionMemory?: number;
  /** NPC_CALL_GROUNDING for the generated replies (default: on, as the server). */
  callGrounding?: boolean;
  /** NPC scripts (default: loaded from npcDir, checked against the world map). */
  scripts?: ReadonlyMap<string, NpcScript>;
  /** Default: the server's NPC_DIR default (assets/npcs). */
  npcDir?: string;
  /** Default: the server's WORLD_MAP default (assets/world/town.json). */
  worldMap?: string;
  /** Plain text to report perplexity on; default data/corpus/general/valid.txt when it exists; null: off. */
  generalText?: string | null;
  /** Tokens of the general text scored (from its start; default 32768). */
  generalMaxTokens?: number;
  /** onnxruntime threads of the engine worker (default cores − 1, at least 1; the loss pass takes one more). */
  threads?: number;
  /** Generation requests in flight at once (default 64; the engine batches up to 32). */
  maxInFlight?: number;
  /** Per-request bound from submission to result (default 180 s). */
  requestTimeoutMs?: number;
  /** The loss pass fails when it reports no progress for this long (default 600 s). */
  lossIdleTimeoutMs?: number;
  /** Bound on starting an engine (default 120 s). */
  startTimeoutMs?: number;
  /** Keep every scored reply in the report (`models[].replies`). */
  keepReplies?: boolean;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
  signal?: AbortSignal;
}

export interface LossSummary {
  /** Mean cross-entropy per scored token, nats. */
  loss: number | null;
  perplexity: number | null;
  tokens: number;
}

export interface GroupMetrics {
  samples: number;
  loss: number | null;
  perplexity: number | null;
  loreAccuracy: number | null;
  actionAccuracy: number | null;
  refusalActionNone: number | null;
  legalActions: number | null;
}

export interface ModelReport {
  /** 'model', 'untrained' (the built twin) or 'baseline' (a given directory). */
  label: string;
  dir: string;
  /** For the untrained twin: the model it mirrors (its own directory is a deleted temp dir). */
  twinOf?: string;
  parameters: number | null;
  /** Player lines in the model's action memory (action-memory.json; 0: it has none). */
  actionMemoryLines: number;
  replyLoss: LossSummary & { samples: number; skipped: number; skippedExamples: string[] };
  general: (LossSummary & { chunks: number; file: string }) | null;
  /** Loss on a block of random tokens, first seen and repeated (loss.ts `copyProbe`): can it copy from context? */
  copy: CopyProbe;
  /** The same on tokens at corpus frequency (null without a general text): copying the words facts are made of. */
  copyCommon: CopyProbe | null;
  metrics: ReplyMetrics;
  generation: {
    requests: number;
    errors: number;
    errorExamples: string[];
    tokens: number;
    seconds: number;
    tokensPerSecond: number;
    finishReasons: Record<string, number>;
  };
  byKind: Record<string, GroupMetrics>;
  bySource: Record<string, GroupMetrics>;
  /** Lore samples by whether the fact was retrieved into the prompt. */
  byLoreRetrieval: Record<string, GroupMetrics>;
  /** Samples with an expected action, by the request family of their template ("walk", "give"…) or "handwritten". */
  byActionFamily: Record<string, GroupMetrics>;
  /** Lore samples by whether their fact appears in the corpus's train split (empty without one). */
  byLoreFact: Record<string, GroupMetrics>;
  seconds: number;
  replies?: ReplyScore[];
}

export interface EvalReport {
  split: string;
  corpus: string | null;
  samples: {
    total: number;
    /** Samples a reply was generated for (lore, action or refusal). */
    generated: number;
    lore: number;
    action: number;
    refusal: number;
    byKind: Record<string, number>;
    bySource: Record<string, number>;
  };
  settings: {
    decoding: Decoding;
    /** Nats of lore grounding the replies were generated with (NPC_LORE_GROUNDING). */
    loreGrounding: number;
    /** Strength of the action memory's call prior (NPC_ACTION_MEMORY), for models that have one. */
    actionMemory: number;
    /** Whether the call prior's places and items were grounded on the line's names (NPC_CALL_GROUNDING). */
    callGrounding: boolean;
    seed: number;
    limit: number | null;
    loreRule: string;
    refusalRule: string;
    loss: string;
    engineThreads: number;
  };
  /** The corpus's own expected replies scored by the same functions: the ceiling (should be 1.0). */
  reference: ReplyMetrics;
  models: ModelReport[];
  seconds: number;
}

const LOSS_DEFINITION = 'mean cross-entropy (nats) over the assistant reply tokens incl. end-of-turn, teacher-forced; perplexity = exp(loss)';

function loadWorld(options: EvalOptions): { world: WorldFacts; scripts: ReadonlyMap<string, NpcScript> } {
  const mapPath = options.worldMap ?? ConfigSchema.shape.WORLD_MAP.parse(undefined);
  let map: WorldMap;
  try {
    map = loadWorldMap(mapPath, 0.5);
  } catch (error) {
    throw new EvalError(`cannot load the world map ${mapPath}: ${(error as Error).message}`);
  }
  const world = worldFacts(map);
  if (options.scripts) return { world, scripts: options.scripts };
  const npcDir = options.npcDir ?? ConfigSchema.shape.NPC_DIR.parse(undefined);
  if (!existsSync(npcDir)) throw new EvalError(`NPC script folder ${npcDir} does not exist`);
  const loaded = loadNpcScripts(npcDir, { map });
  for (const p of loaded.problems) options.log?.(`warning: ${formatProblem(p)}`);
  return { world, scripts: loaded.byId };
}

/** The text side of a model directory (no ONNX session): fails fast with one sentence. */
function checkModelDir(dir: string): void {
  if (!existsSync(dir)) throw new EvalError(`model directory ${dir} does not exist`);
  try {
    loadModelText(dir);
  } catch (error) {
    throw new EvalError(`${dir} is not a usable model directory: ${(error as Error).message}`);
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new EvalError(`${what} took longer than ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

function lossSummary(nll: number, tokens: number): LossSummary {
  const loss = tokens > 0 ? nll / tokens : null;
  return { loss, perplexity: loss === null ? null : Math.exp(loss), tokens };
}

function groupMetrics(samples: readonly WorldSample[], losses: ReadonlyMap<string, SampleLoss>, scores: readonly ReplyScore[]): GroupMetrics {
  let nll = 0;
  let tokens = 0;
  for (const s of samples) {
    const l = losses.get(s.id);
    if (l && 'nll' in l) {
      nll += l.nll;
      tokens += l.tokens;
    }
  }
  const m = aggregateScores(scores);
  const { loss, perplexity } = lossSummary(nll, tokens);
  return {
    samples: samples.length,
    loss,
    perplexity,
    loreAccuracy: m.loreAccuracy.rate,
    actionAccuracy: m.actionAccuracy.rate,
    refusalActionNone: m.refusalActionNone.rate,
    legalActions: m.legalActions.rate,
  };
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = out.get(k);
    if (list) list.push(item);
    else out.set(k, [item]);
  }
  return out;
}

/** Metrics per group of samples; `key` returns undefined for samples outside every group. */
function breakdown(samples: readonly WorldSample[], losses: ReadonlyMap<string, SampleLoss>, scores: readonly ReplyScore[], key: (s: WorldSample) => string | undefined): Record<string, GroupMetrics> {
  const keyById = new Map(samples.map((s) => [s.id, key(s)]));
  const scoresBy = groupBy(scores.filter((r) => keyById.get(r.id) !== undefined), (r) => keyById.get(r.id)!);
  const groups = groupBy(samples.filter((s) => keyById.get(s.id) !== undefined), (s) => keyById.get(s.id)!);
  return Object.fromEntries([...groups].sort(([a], [b]) => a.localeCompare(b)).map(([k, group]) => [k, groupMetrics(group, losses, scoresBy.get(k) ?? [])]));
}

/**
 * Samples with fact keywords and a fact, by whether the fact was in the prompt (retrieved into a system message): the sample's
 * `factInPrompt` when it says, else whether a system message contains the fact's text.
 */
export function loreRetrievalKey(sample: WorldSample & { factInPrompt?: boolean }): 'fact in prompt' | 'fact not in prompt' | undefined {
  if (!isLoreSample(sample) || sample.fact === undefined) return undefined;
  const inPrompt = sample.factInPrompt ?? sample.messages.some((m) => m.role === 'system' && m.content.includes(sample.fact!));
  return inPrompt ? 'fact in prompt' : 'fact not in prompt';
}

/** Samples scored on their action, by request family: the template's first part for generated lines, else the source. */
export function actionFamilyKey(sample: WorldSample): string | undefined {
  if (!isActionSample(sample)) return undefined;
  return sample.template ? sample.template.split('.')[0]! : sampleSource(sample);
}

/** Lore samples with a fact, by whether the train split answers with that fact (seen) or never does (held out). */
export function loreFactKey(sample: WorldSample, trained: ReadonlySet<string>): 'fact trained on' | 'fact held out' | undefined {
  if (!isLoreSample(sample) || sample.fact === undefined) return undefined;
  return trained.has(sample.fact) ? 'fact trained on' : 'fact held out';
}

interface RunContext {
  samples: readonly WorldSample[];
  /** Facts of the corpus's train split; null without one (or when evaluating the train split itself). */
  trainedFacts: Set<string> | null;
  toGenerate: readonly WorldSample[];
  world: WorldFacts;
  scripts: ReadonlyMap<string, NpcScript>;
  decoding: Decoding;
  seed: number;
  threads: number;
  general: { file: string; content: string; maxTokens: number } | null;
  options: EvalOptions;
}

async function evaluateDirectory(label: string, dir: string, parameters: number | null, ctx: RunContext, twinOf?: string): Promise<ModelReport> {
  const { options } = ctx;
  const log = (line: string) => options.log?.(`[${label}] ${line}`);
  const started = performance.now();
  checkModelDir(dir);
  const text = loadModelText(dir);
  let memory: ActionMemory | undefined;
  try {
    memory = ActionMemory.load(dir);
  } catch (error) {
    throw new EvalError(`${dir}: ${(error as Error).message}`);
  }
  let engine: InferenceEngine | undefined;
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  try {
    // Fail early and clearly when this tokenizer cannot express the action calls.
    const compiler = dialogueCompiler(text, ctx.world);
    for (const npcId of new Set(ctx.toGenerate.map((s) => s.npcId))) {
      try {
        compiler.compiled(ctx.scripts.get(npcId)!);
      } catch (error) {
        throw new EvalError(`${dir}: cannot compile the action grammar of ${npcId}: ${(error as Error).message}`);
      }
    }
    const engineStart = InferenceEngine.start({ modelDir: dir, intraOpThreads: ctx.threads });
    engine = await withTimeout(engineStart, options.startTimeoutMs ?? 120_000, `starting the inference engine on ${dir}`).catch(async (error: unknown) => {
      void engineStart.then((e) => e.close(), () => {});
      throw error instanceof EvalError ? error : new EvalError(`${dir}: the inference engine did not start: ${(error as Error).message}`);
    });

    let lastLog = 0;
    const every = (what: string) => (done: number, total: number) => {
      const now = performance.now();
      if (done === total || now - lastLog > 5_000) {
        lastLog = now;
        log(`${what} ${done}/${total}`);
      }
    };
    const genStarted = performance.now();
    let genSeconds = 0;
    const generation = generateReplies(ctx.toGenerate, {
      engine,
      text,
      world: ctx.world,
      scripts: ctx.scripts,
      decoding: ctx.decoding,
      loreGrounding: options.loreGrounding ?? DEFAULT_LORE_GROUNDING,
      ...(memory ? { memory } : {}),
      actionMemory: options.actionMemory ?? DEFAULT_ACTION_MEMORY,
      callGrounding: options.callGrounding ?? DEFAULT_CALL_GROUNDING,
      seed: ctx.seed,
      maxInFlight: options.maxInFlight ?? 64,
      requestTimeoutMs: options.requestTimeoutMs ?? 180_000,
      signal,
      onProgress: every('generated'),
    }).finally(() => {
      genSeconds = (performance.now() - genStarted) / 1000;
    });
    generation.catch(() => {});
    // The loss pass runs in its own worker (onnxruntime blocks the thread it runs on) while the engine generates.
    const lossPass = await runLossPass(
      { modelDir: dir, threads: 1, samples: [...ctx.samples], general: ctx.general ? { content: ctx.general.content, maxTokens: ctx.general.maxTokens } : null },
      { idleTimeoutMs: options.lossIdleTimeoutMs ?? 600_000, signal, onProgress: every('loss') },
    ).catch((error: unknown) => {
      throw options.signal?.aborted ? error : new EvalError(`${dir}: ${(error as Error).message}`);
    });
    const { losses, general, copy, copyCommon } = lossPass;
    const replies: GeneratedReply[] = await generation;

    const lossById = new Map(losses.map((l) => [l.id, l]));
    let nll = 0;
    let tokens = 0;
    const skipped: string[] = [];
    for (const l of losses) {
      if ('nll' in l) {
        nll += l.nll;
        tokens += l.tokens;
      } else skipped.push(`${l.id}: ${l.skipped}`);
    }
    const byId = new Map(ctx.toGenerate.map((s) => [s.id, s]));
    const scores: ReplyScore[] = [];
    const errors: string[] = [];
    const finishReasons: Record<string, number> = {};
    let genTokens = 0;
    for (const r of replies) {
      if (r.text === undefined) {
        errors.push(`${r.id}: ${r.error}`);
        continue;
      }
      const sample = byId.get(r.id)!;
      scores.push(scoreReply(sample, r.text, ctx.scripts.get(sample.npcId)));
      finishReasons[r.finishReason ?? '?'] = (finishReasons[r.finishReason ?? '?'] ?? 0) + 1;
      genTokens += r.tokens ?? 0;
    }
    if (errors.length) log(`${errors.length} generation errors, e.g. ${errors[0]}`);
    const report: ModelReport = {
      label,
      dir,
      ...(twinOf ? { twinOf } : {}),
      parameters,
      actionMemoryLines: memory ? memory.npcIds.reduce((n, id) => n + memory.size(id), 0) : 0,
      replyLoss: { ...lossSummary(nll, tokens), samples: losses.length - skipped.length, skipped: skipped.length, skippedExamples: skipped.slice(0, 3) },
      general: general && ctx.general ? { ...lossSummary(general.nll, general.tokens), chunks: general.chunks, file: ctx.general.file } : null,
      copy,
      copyCommon,
      metrics: aggregateScores(scores),
      generation: {
        requests: replies.length,
        errors: errors.length,
        errorExamples: errors.slice(0, 3),
        tokens: genTokens,
        seconds: genSeconds,
        tokensPerSecond: genSeconds > 0 ? genTokens / genSeconds : 0,
        finishReasons,
      },
      byKind: breakdown(ctx.samples, lossById, scores, (s) => s.kind),
      bySource: breakdown(ctx.samples, lossById, scores, (s) => sampleSource(s)),
      byLoreRetrieval: breakdown(ctx.samples, lossById, scores, loreRetrievalKey),
      byActionFamily: breakdown(ctx.samples, lossById, scores, actionFamilyKey),
      byLoreFact: ctx.trainedFacts ? breakdown(ctx.samples, lossById, scores, (s) => loreFactKey(s, ctx.trainedFacts!)) : {},
      seconds: (performance.now() - started) / 1000,
      ...(options.keepReplies ? { replies: scores } : {}),
    };
    log(`done in ${report.seconds.toFixed(1)} s (generation ${genSeconds.toFixed(1)} s, ${report.generation.tokensPerSecond.toFixed(0)} tok/s)`);
    return report;
  } finally {
    stop.abort();
    await engine?.close();
  }
}

export async function evaluateModel(options: EvalOptions): Promise<EvalReport> {
  const started = performance.now();
  const split = options.split ?? 'test';
  const seed = options.seed ?? 0;
  const decoding = options.decoding ?? 'greedy';
  if (options.limit !== undefined && (!Number.isInteger(options.limit) || options.limit < 1)) throw new EvalError(`limit must be a positive integer, got ${options.limit}`);
  const modelDir = resolve(options.model);
  checkModelDir(modelDir);
  if (options.baseline) {
    if (options.baseline !== 'untrained') checkModelDir(resolve(options.baseline));
  }
  const corpusDir = options.samples ? null : resolve(options.corpusDir ?? WORLD_DIR);
  const all = options.samples ? [...options.samples] : readSplit(corpusDir!, split);
  if (all.length === 0) throw new EvalError('no samples to evaluate (empty split)');
  const samples = pickSubset(all, options.limit, seed);
  const seen = new Set<string>();
  for (const s of samples) {
    if (seen.has(s.id)) throw new EvalError(`sample id ${s.id} appears twice`);
    seen.add(s.id);
  }

  const { world, scripts } = loadWorld(options);
  const unknown = [...new Set(samples.map((s) => s.npcId).filter((id) => !scripts.has(id)))];
  if (unknown.length) throw new EvalError(`samples name NPCs with no script: ${unknown.join(', ')} (scripts: ${[...scripts.keys()].join(', ')})`);

  const generalFile = options.generalText === undefined ? (existsSync(join(GENERAL_DIR, 'valid.txt')) ? join(GENERAL_DIR, 'valid.txt') : null) : options.generalText;
  if (generalFile && !existsSync(generalFile)) throw new EvalError(`general text ${generalFile} not found`);
  const threads = Math.max(1, options.threads ?? availableParallelism() - 1);
  const ctx: RunContext = {
    samples,
    trainedFacts: corpusDir && split !== 'train' ? trainedFacts(corpusDir) : null,
    toGenerate: samples.filter(needsGeneration),
    world,
    scripts,
    decoding,
    seed,
    threads,
    general: generalFile ? { file: generalFile, content: readFileSync(generalFile, 'utf8'), maxTokens: options.generalMaxTokens ?? 32_768 } : null,
    options,
  };

  let modelParameters: number | null = null;
  try {
    modelParameters = parameterCount(architectureOf(modelDir));
  } catch {
    // not a builder/llama config: the count is only informative
  }
  const baselineSetting = options.baseline === undefined ? 'untrained' : options.baseline;
  let twinRoot: string | undefined;
  try {
    const models: ModelReport[] = [];
    // The model first: a bad directory fails before the twin is built.
    models.push(await evaluateDirectory('model', modelDir, modelParameters, ctx));
    if (baselineSetting === 'untrained') {
      twinRoot = mkdtempSync(join(tmpdir(), 'wm-eval-untrained-'));
      options.log?.(`building the untrained twin of ${modelDir}`);
      let twin: ReturnType<typeof buildUntrainedTwin>;
      try {
        twin = buildUntrainedTwin(modelDir, join(twinRoot, 'model'), options.baselineSeed ?? 0);
      } catch (error) {
        throw new EvalError(`cannot build the untrained baseline: ${(error as Error).message}`);
      }
      models.push(await evaluateDirectory('untrained', twin.dir, twin.parameterCount, ctx, modelDir));
    } else if (baselineSetting !== null) {
      const dir = resolve(baselineSetting);
      let params: number | null = null;
      try {
        params = parameterCount(architectureOf(dir));
      } catch {
        // informative only
      }
      models.push(await evaluateDirectory('baseline', dir, params, ctx));
    }
    const count = (pred: (s: WorldSample) => boolean) => samples.filter(pred).length;
    const tally = (key: (s: WorldSample) => string) => Object.fromEntries([...groupBy(samples, key)].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, v.length]));
    return {
      split: options.samples ? 'given' : split,
      corpus: corpusDir,
      samples: {
        total: samples.length,
        generated: ctx.toGenerate.length,
        lore: count(isLoreSample),
        action: count(isActionSample),
        refusal: count(isRefusalSample),
        byKind: tally((s) => s.kind),
        bySource: tally((s) => sampleSource(s)),
      },
      settings: {
        decoding,
        loreGrounding: options.loreGrounding ?? DEFAULT_LORE_GROUNDING,
        actionMemory: options.actionMemory ?? DEFAULT_ACTION_MEMORY,
        callGrounding: options.callGrounding ?? DEFAULT_CALL_GROUNDING,
        seed,
        limit: options.limit ?? null,
        loreRule: LORE_RULE,
        refusalRule: REFUSAL_RULE,
        loss: LOSS_DEFINITION,
        engineThreads: threads,
      },
      reference: aggregateScores(ctx.toGenerate.map((s) => scoreReply(s, s.reply, scripts.get(s.npcId)))),
      models,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    if (twinRoot) rmSync(twinRoot, { recursive: true, force: true });
  }
}
