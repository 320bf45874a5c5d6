/**
 * One training run, end to end: where the weights start (a fresh model with a tokenizer learned from the
 * corpus, or an existing model directory), what data (a text corpus → next-token pre-training; a dialogue
 * corpus → loss on the NPC's replies only), how (full parameters or LoRA), and what is written (a model
 * directory with its loss chart and history, a merged model, or a PEFT adapter).
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { loadModelText } from '../../server/src/inference/model/index.ts';
import { buildModelDirectory, parseArchitecture, type LlamaArchitectureInput } from '../model-builder/index.ts';
import { trainByteLevelBpe } from '../model-builder/tokenizer/bpe-trainer.ts';
import { counterfactualLore } from '../corpus/world/counterfactual.ts';
import type { SelfRef } from '../../server/src/npc/english.ts';
import type { SampleKind } from '../corpus/sample.ts';
import { loadCorpusWorld, npcContexts } from '../corpus/world/npc-context.ts';
import { drillSentences, readingDrills, spliceDrills } from '../corpus/world/reading-drills.ts';
import { mixedBatches, packedDialogueBatches, packedDialogueBatchList, textBatches, type BatchSource } from './batches.ts';
import type { LoraConfig } from './llama-train-graph.ts';
import { initLoraParams, mergeLora, writePeftAdapter } from './lora.ts';
import { readArchitecture, readParams, writeTrainedModel, type Params } from './model-weights.ts';
import { DEFAULT_ADAMW } from './optimizer.ts';
import { readActionMemoryFile, writeActionMemory, type ActionMemoryFile } from '../../server/src/npc/action-memory.ts';
import { updatedActionMemory } from './action-memory.ts';
import { lossChartSvg, progressPrinter } from './progress.ts';
import type { StepBatch } from './step-runner.ts';
import { dialogueExamples, readTrainingSamples, readWorldSamples, repeatKinds, tokenizeTextCorpus } from './training-data.ts';
import { trainLoop, type LoopResult, type ProgressEvent } from './train-loop.ts';

export interface TrainOptions {
  out: string;
  /** Start from this model directory; absent = pre-train a fresh model of `architecture`. */
  from?: string;
  architecture?: LlamaArchitectureInput;
  /** A corpus directory: train.txt/valid.txt (text) or train.jsonl/valid.jsonl (dialogue). */
  corpus: string;
  method: 'full' | 'lora';
  lora?: LoraConfig;
  /** LoRA: fold the adapters into a plain model (default) instead of writing a PEFT adapter. */
  merge?: boolean;
  steps: number;
  batch: number;
  accumulate: number;
  /** Text: tokens per row. Dialogue: the longest packed row (persona + several examples); longer samples are dropped and counted. */
  sequence: number;
  lr: number;
  minLr?: number;
  warmup: number;
  weightDecay?: number;
  clipNorm?: number;
  seed: number;
  threads?: number;
  checkpointDir?: string;
  checkpointEvery?: number;
  resume?: boolean;
  evalEvery?: number;
  maxSeconds?: number;
  /** Stop (and checkpoint) after this step; continue later with `resume`. */
  stopAtStep?: number;
  /** Fresh models: bytes of corpus text the tokenizer learns from, plus these extra files (NPC scripts). */
  tokenizerBytes?: number;
  tokenizerExtraFiles?: string[];
  /** Text corpora: use at most this many bytes of train.txt. */
  maxCorpusBytes?: number;
  /** Dialogue: also train on these sample files (e.g. feedback.jsonl), appended to train.jsonl. */
  extraSampleFiles?: string[];
  /** Name of the loss chart and history in the output's training/ folder (default: the run's mode). */
  reportStem?: string;
  /** Text: this share of rows repeats an earlier span of itself (teaches copying; see textBatches). */
  copySpans?: number;
  /** Text: this share of rows is a pure copying drill over the used vocabulary (see textBatches). */
  copyDrills?: number;
  /** Dialogue: add counterfactual variants of this share of the lore samples (tools/corpus/world/counterfactual.ts). */
  counterfactualLore?: number;
  /**
   * Dialogue: add this many reading drills (tools/corpus/world/reading-drills.ts) — lore-shaped turns whose
   * facts are sentences of `readingDrillText` (default data/corpus/general/train.txt).
   */
  readingDrills?: number;
  readingDrillText?: string;
  /** Dialogue: this share (0–1) of the reading drills are about the NPC itself, answered in the first person. */
  personDrills?: number;
  /** Dialogue: add this many splice drills (a train fact finished by another's tail; tools/corpus/world/reading-drills.ts). */
  spliceDrills?: number;
  /**
   * Dialogue: this share (0–1) of micro-batches are text rows of `readingDrillText` with copying drills
   * (half of their rows; see textBatches) instead of dialogue — keeps the copying the drill stage grew.
   */
  textDrillMix?: number;
  /** Dialogue: each train sample of these kinds this many times in all (e.g. { action: 3 }; see repeatKinds). */
  repeatKinds?: Partial<Record<SampleKind, number>>;
  /** Dialogue: train only on samples of these NPCs (e.g. the scripts a designer just edited). */
  npcs?: string[];
  /** Recorded with the run in config.json (e.g. the NPC script hashes it trained on). */
  record?: Record<string, unknown>;
  providers?: string[];
  spinWait?: boolean;
  onProgress?: (event: ProgressEvent) => void;
  log?: (line: string) => void;
}

export interface TrainSummary extends Omit<LoopResult, 'history'> {
  out: string;
  mode: 'pretrain' | 'finetune';
  method: 'full' | 'lora';
  parameters: number;
  trainableParameters: number;
  tokensPerSecond: number;
  examples?: number;
  droppedExamples?: number;
}

export async function train(options: TrainOptions): Promise<TrainSummary> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const out = resolve(options.out);
  const threads = options.threads ?? availableParallelism();
  const checkpointDir = options.checkpointDir ?? join('data', 'checkpoints', basename(out));
  const kind = corpusKind(options.corpus);

  // 1. Where the weights start.
  let sourceDir: string;
  if (options.from) {
    sourceDir = resolve(options.from);
  } else if (options.resume && existsSync(join(out, 'config.json'))) {
    sourceDir = out; // the fresh model written when this run started: same tokenizer
  } else {
    if (!options.architecture) throw new Error('give --from <model dir> to fine-tune, or an architecture (--preset/--config) to pre-train from scratch');
    if (kind !== 'text') throw new Error('pre-training from scratch needs a text corpus (train.txt)');
    const architecture = parseArchitecture({ initializerRange: 0.02, ...options.architecture });
    const tokenizerText = tokenizerCorpus(options.corpus, options.tokenizerBytes ?? 1_500_000, options.tokenizerExtraFiles ?? []);
    log(`learning a ${architecture.vocabSize}-token BPE vocabulary from ${(tokenizerText.length / 1e6).toFixed(1)} MB of text…`);
    const bpe = trainByteLevelBpe(tokenizerText, architecture.vocabSize - 3 - 256);
    buildModelDirectory({ outDir: out, architecture, seed: options.seed, bpe, presetName: 'pretrain-init' });
    sourceDir = out;
  }
  const arch = readArchitecture(sourceDir);
  const text = loadModelText(sourceDir);
  const base: Params = readParams(sourceDir, arch);

  // 2. The data.
  let source: BatchSource;
  let valid: StepBatch[] = [];
  let examples: number | undefined;
  let droppedExamples: number | undefined;
  /** Dialogue runs: the action memory the written model gets (action-memory.ts). */
  let actionMemory: ActionMemoryFile | undefined;
  if (kind === 'text') {
    const tokens = tokenizeTextCorpus(text, join(options.corpus, 'train.txt'), options.maxCorpusBytes ? { maxBytes: options.maxCorpusBytes } : {});
    log(`text corpus: ${(tokens.length / 1e6).toFixed(2)} M tokens`);
    source = textBatches(tokens, { batch: options.batch, sequence: options.sequence, seed: options.seed, ...(options.copySpans ? { copySpans: options.copySpans } : {}), ...(options.copyDrills ? { copyDrills: options.copyDrills } : {}) });
    const validPath = join(options.corpus, 'valid.txt');
    if (existsSync(validPath)) {
      const validTokens = tokenizeTextCorpus(text, validPath);
      const validSource = textBatches(validTokens, { batch: options.batch, sequence: options.sequence, seed: options.seed + 1 });
      valid = Array.from({ length: 4 }, (_, i) => validSource.batch(i, 0));
    }
  } else {
    const npcs = options.npcs ? new Set(options.npcs) : undefined;
    // The NPCs as the corpus sees them (for drills answered in the first person): loaded once, when needed.
    let selves: Map<string, SelfRef> | undefined;
    const npcSelves = () => (selves ??= new Map(npcContexts(loadCorpusWorld()).map((c) => [c.script.id, c.self])));
    const read = readTrainingSamples(options.corpus, options.extraSampleFiles).filter((s) => !npcs || npcs.has(s.npcId));
    // Read before training: the run may write over the model it started from.
    actionMemory = updatedActionMemory(readActionMemoryFile(sourceDir), read);
    const samples = options.repeatKinds ? repeatKinds(read, options.repeatKinds) : read;
    if (options.repeatKinds) log(`repeated kinds: ${Object.entries(options.repeatKinds).map(([k, n]) => `${k}×${n}`).join(', ')} → ${samples.length} turns from ${read.length}`);
    if (samples.length === 0) throw new Error(`no training samples${npcs ? ` for NPC ${[...npcs].join(', ')}` : ''} in ${options.corpus}`);
    if (options.counterfactualLore) {
      const variants = counterfactualLore(samples, { variants: 1, share: options.counterfactualLore, seed: options.seed });
      log(`counterfactual lore: ${variants.length} variants of ${samples.filter((s) => s.kind === 'lore').length} lore samples`);
      samples.push(...variants);
    }
    if (options.readingDrills) {
      const textPath = options.readingDrillText ?? join('data', 'corpus', 'general', 'train.txt');
      if (!existsSync(textPath)) throw new Error(`reading drills read their sentences from ${textPath}, which does not exist (npm run corpus builds it)`);
      const sentences = drillSentences(readFileSync(textPath, 'utf8'));
      const people = options.personDrills ? npcSelves() : undefined;
      const drills = readingDrills(samples, {
        count: options.readingDrills,
        seed: options.seed,
        sentences,
        heldOutTemplates: heldOutTemplates(options.corpus),
        ...(people ? { selves: people, personShare: options.personDrills! } : {}),
      });
      log(`reading drills: ${drills.length} from ${sentences.length} sentences of ${textPath}${people ? `, ${drills.filter((d) => d.speech !== d.fact).length} about the NPC itself` : ''}`);
      samples.push(...drills);
    }
    if (options.spliceDrills) {
      const drills = spliceDrills(samples, { count: options.spliceDrills, seed: options.seed, selves: npcSelves(), heldOutTemplates: heldOutTemplates(options.corpus) });
      log(`splice drills: ${drills.length}`);
      samples.push(...drills);
    }
    const prepared = dialogueExamples(text, samples, options.sequence);
    examples = prepared.examples.length;
    droppedExamples = prepared.dropped;
    log(`dialogue corpus: ${examples} examples (${droppedExamples} longer than ${options.sequence} tokens dropped)`);
    const batchOptions = { batch: options.batch, seed: options.seed, maxSequence: options.sequence, padId: text.specialTokens.pad };
    source = packedDialogueBatches(prepared.examples, batchOptions);
    if (options.textDrillMix) {
      const textPath = options.readingDrillText ?? join('data', 'corpus', 'general', 'train.txt');
      if (!existsSync(textPath)) throw new Error(`--text-drill-mix reads ${textPath}, which does not exist (npm run corpus builds it)`);
      const tokens = tokenizeTextCorpus(text, textPath, { maxBytes: 4_000_000 });
      // The drill stage's row shape (16 × 256, half drills, half English), within the model's context.
      const drills = textBatches(tokens, { batch: 16, sequence: Math.min(256, arch.maxPositionEmbeddings), seed: options.seed + 7, copyDrills: 0.5 });
      source = mixedBatches(source, drills, { share: options.textDrillMix, seed: options.seed });
      log(`text drill mix: ${Math.round(options.textDrillMix * 100)} % of micro-batches from ${(tokens.length / 1e6).toFixed(2)} M tokens of ${textPath}`);
    }
    const validPath = join(options.corpus, 'valid.jsonl');
    if (existsSync(validPath)) valid = packedDialogueBatchList(dialogueExamples(text, readWorldSamples(validPath), options.sequence).examples, batchOptions, 8);
  }

  // 3. What trains.
  const params: Params = new Map(base);
  let trainable: string[];
  if (options.method === 'lora') {
    if (!options.lora) throw new Error('LoRA needs a rank, alpha and target projections');
    const adapters = initLoraParams(arch, options.lora, options.seed);
    for (const [name, value] of adapters) params.set(name, value);
    trainable = [...adapters.keys()];
  } else {
    trainable = [...base.keys()];
  }
  const count = (names: Iterable<string>) => [...names].reduce((n, name) => n + params.get(name)!.length, 0);
  log(
    `${kind === 'text' ? 'pre-training' : 'fine-tuning'} ${basename(sourceDir)} (${(count(base.keys()) / 1e6).toFixed(2)} M parameters; ` +
      `${options.method}${options.method === 'lora' ? ` r=${options.lora!.rank} α=${options.lora!.alpha} on ${options.lora!.targets.join(',')}` : ''}, ` +
      `${(count(trainable) / 1e6).toFixed(3)} M trainable) for ${options.steps} steps of ${options.accumulate}×${source.description}, ${threads} threads`,
  );

  // 4. Train. Everything that shapes the run is part of the checkpoint's identity (resume checks it).
  const runConfig = {
    from: options.from ? resolve(options.from) : null,
    corpus: resolve(options.corpus),
    method: options.method,
    lora: options.lora ?? null,
    steps: options.steps,
    batch: options.batch,
    accumulate: options.accumulate,
    sequence: options.sequence,
    lr: options.lr,
    minLr: options.minLr ?? options.lr / 10,
    warmup: options.warmup,
    seed: options.seed,
    extraSampleFiles: options.extraSampleFiles ?? [],
    npcs: options.npcs ?? null,
    counterfactualLore: options.counterfactualLore ?? 0,
    readingDrills: options.readingDrills ?? 0,
    personDrills: options.personDrills ?? 0,
    spliceDrills: options.spliceDrills ?? 0,
    textDrillMix: options.textDrillMix ?? 0,
    ...(options.repeatKinds ? { repeatKinds: options.repeatKinds } : {}),
    copySpans: options.copySpans ?? 0,
    copyDrills: options.copyDrills ?? 0,
  };
  const result = await trainLoop({
    arch,
    config: {
      steps: options.steps,
      accumulate: options.accumulate,
      lr: { peak: options.lr, floor: options.minLr ?? options.lr / 10, warmup: options.warmup },
      adamw: { ...DEFAULT_ADAMW, ...(options.weightDecay !== undefined ? { weightDecay: options.weightDecay } : {}), ...(options.clipNorm !== undefined ? { clipNorm: options.clipNorm } : {}) },
      threads,
      ...(options.lora && options.method === 'lora' ? { lora: options.lora } : {}),
      evalEvery: options.evalEvery ?? 0,
      checkpointEvery: options.checkpointEvery ?? 0,
      ...(options.maxSeconds !== undefined ? { maxSeconds: options.maxSeconds } : {}),
      ...(options.stopAtStep !== undefined ? { stopAtStep: options.stopAtStep } : {}),
      ...(options.providers ? { providers: options.providers } : {}),
      ...(options.spinWait ? { spinWait: true } : {}),
    },
    runConfig,
    params,
    trainable,
    source,
    valid,
    checkpointDir,
    ...(options.resume ? { resumeFrom: checkpointDir } : {}),
    onProgress: options.onProgress ?? progressPrinter(),
  });

  // 5. Write the result.
  const training = {
    mode: kind === 'text' ? 'pretrain' : 'finetune',
    method: options.method,
    ...(options.lora && options.method === 'lora' ? { lora: options.lora, merged: options.merge !== false } : {}),
    from: options.from ? basename(resolve(options.from)) : null,
    corpus: corpusIdentity(options.corpus),
    steps: result.steps,
    batch: options.batch,
    accumulate: options.accumulate,
    sequence: options.sequence,
    lr: options.lr,
    warmup: options.warmup,
    seed: options.seed,
    tokens: result.tokens,
    seconds: Math.round(result.seconds),
    final_loss: round(result.finalLoss),
    ...(result.validLoss !== undefined ? { valid_loss: round(result.validLoss) } : {}),
    ...(options.npcs ? { npcs: options.npcs } : {}),
    ...(options.counterfactualLore ? { counterfactual_lore: options.counterfactualLore } : {}),
    ...(options.readingDrills ? { reading_drills: options.readingDrills } : {}),
    ...(options.personDrills ? { person_drills: options.personDrills } : {}),
    ...(options.spliceDrills ? { splice_drills: options.spliceDrills } : {}),
    ...(options.textDrillMix ? { text_drill_mix: options.textDrillMix } : {}),
    ...(options.repeatKinds ? { repeat_kinds: options.repeatKinds } : {}),
    ...(options.copySpans ? { copy_spans: options.copySpans } : {}),
    ...(options.copyDrills ? { copy_drills: options.copyDrills } : {}),
    ...(options.record ?? {}),
  };
  const finalParams = pickBase(params, base);
  if (options.method === 'lora' && options.merge === false) {
    writePeftAdapter(out, arch, options.lora!, new Map(trainable.map((n) => [n, params.get(n)!])), sourceDir);
  } else {
    const weights = options.method === 'lora' ? mergeLora(arch, options.lora!, finalParams, new Map(trainable.map((n) => [n, params.get(n)!]))) : finalParams;
    writeTrainedModel({ outDir: out, arch, params: weights, tokenizerDir: sourceDir, training: mergeHistory(sourceDir, training) });
    if (actionMemory) writeActionMemory(out, actionMemory);
  }
  const reportDir = join(out, 'training');
  mkdirSync(reportDir, { recursive: true });
  const stem = options.reportStem ?? `${training.mode}${options.copySpans ? '-copy' : ''}${options.method === 'lora' ? '-lora' : ''}`;
  writeFileSync(join(reportDir, `${stem}-loss.svg`), lossChartSvg(`${stem} — ${basename(out)}`, result.history));
  writeFileSync(join(reportDir, `${stem}-history.jsonl`), result.history.map((h) => JSON.stringify(h)).join('\n') + '\n');

  const { history: _history, ...rest } = result;
  return {
    ...rest,
    out,
    mode: training.mode as TrainSummary['mode'],
    method: options.method,
    parameters: count(base.keys()),
    trainableParameters: count(trainable),
    tokensPerSecond: result.tokens / Math.max(result.seconds, 1e-9),
    ...(examples !== undefined ? { examples, droppedExamples: droppedExamples! } : {}),
  };
}

export function corpusKind(dir: string): 'text' | 'dialogue' {
  if (existsSync(join(dir, 'train.jsonl'))) return 'dialogue';
  if (existsSync(join(dir, 'train.txt'))) return 'text';
  throw new Error(`${dir} holds neither train.txt (text) nor train.jsonl (dialogue): run npm run corpus first, or pass --corpus <dir>`);
}

function tokenizerCorpus(corpusDir: string, bytes: number, extraFiles: string[]): string {
  const train = readFileSync(join(corpusDir, 'train.txt'), 'utf8');
  const head = train.length > bytes ? train.slice(0, train.lastIndexOf('\n\n', bytes)) : train;
  // Domain words (names, places, items) must compress well: the NPC scripts are part of what it learns from.
  return [head, ...extraFiles.map((f) => readFileSync(f, 'utf8'))].join('\n\n');
}

function corpusIdentity(dir: string): Record<string, unknown> {
  const manifest = join(dir, 'manifest.json');
  if (!existsSync(manifest)) return { dir: basename(resolve(dir)) };
  const m = JSON.parse(readFileSync(manifest, 'utf8')) as Record<string, unknown>;
  return { dir: basename(resolve(dir)), seed: m.seed ?? null, files: existsSync(dir) ? readdirSync(dir).filter((f) => /^(train|valid|test)\./.test(f)) : [] };
}

/** The source model's training record, if any, with this run appended (a model's full lineage). */
function mergeHistory(sourceDir: string, run: Record<string, unknown>): Record<string, unknown> {
  const config = JSON.parse(readFileSync(join(sourceDir, 'config.json'), 'utf8')) as { worldmind?: { training?: { runs?: unknown[] } } };
  const runs = config.worldmind?.training?.runs ?? [];
  return { runs: [...runs, run] };
}

function pickBase(params: Params, base: Params): Params {
  return new Map([...base.keys()].map((name) => [name, params.get(name)!]));
}

function round(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}

/** The phrasing templates a world corpus held out for valid/test (its manifest.json), so training extras avoid them. */
function heldOutTemplates(corpus: string): Set<string> {
  const path = join(corpus, 'manifest.json');
  if (!existsSync(path)) return new Set();
  const manifest = JSON.parse(readFileSync(path, 'utf8')) as { heldOut?: { templates?: Record<string, string[]> } };
  return new Set(Object.values(manifest.heldOut?.templates ?? {}).flat());
}
