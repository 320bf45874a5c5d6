/**
 * npm run train -- --out <dir> [--from <model dir> | --preset <name> | --config <arch.json>] [options]
 *
 * Pre-train from scratch (no --from; text corpus), continue or fine-tune a model (--from), full-parameter
 * or LoRA. Prints a progress bar on stderr and one JSON summary line on stdout.
 */
import { parseCliArgs } from '../../server/src/cli-args.ts';
import { isPresetName, PRESETS, readArchitectureFile, type LlamaArchitectureInput } from '../model-builder/index.ts';
import { PROJECTIONS, type Projection } from './llama-train-graph.ts';
import { rememberCorpus } from './action-memory.ts';
import { tokenizerExtraFiles } from './recipes/shared.ts';
import { train, type TrainOptions } from './run.ts';
import { parseKindRepeats } from './training-data.ts';

const USAGE = `usage: npm run train -- --out <dir> [--from <model dir> | --preset <${Object.keys(PRESETS).join('|')}> | --config <arch.json>]
  --corpus <dir>            text (train.txt) or dialogue (train.jsonl) corpus; default data/corpus/general without --from, data/corpus/world with it
  --method full|lora        default full
  --lora-rank N --lora-alpha N --lora-targets q_proj,v_proj,...   (defaults 8, 16, all projections)
  --no-merge                LoRA: write a PEFT adapter instead of a merged model
  --steps N --batch N --accumulate N --seq N
  --lr X --min-lr X --warmup N --weight-decay X --clip X --seed N --threads N
  --eval-every N --checkpoint-every N --checkpoint-dir <dir> --resume --max-seconds N --stop-at N
  --extra-samples a.jsonl,b.jsonl   more dialogue samples (e.g. feedback) appended to train.jsonl
  --counterfactual-lore X   add fact-swapped variants of this share (0–1) of the lore samples (teaches reading the lore block)
  --copy-spans X            text: this share (0–1) of rows repeats an earlier span of itself (teaches copying)
  --copy-drills X           text: this share (0–1) of rows is a copying drill (a block, then partial copies of it)
  --reading-drills N        add N lore-shaped turns whose facts are general-corpus sentences (teaches copying from the lore block)
  --drill-text <file>       the sentences' source (default data/corpus/general/train.txt)
  --person-drills X         this share (0–1) of the reading drills are about the NPC itself, answered as "I …"
  --splice-drills N         add N lore turns whose fact is a train fact finished by another's tail (read on, don't recall)
  --text-drill-mix X        dialogue: this share (0–1) of micro-batches are text rows with copying drills (keeps copying)
  --repeat-kind K=N,...     dialogue: each train sample of kind K N times in all (e.g. action=3: weights requests up beside drills)
  --providers cuda,cpu      onnxruntime execution providers
  --spin-wait               let onnxruntime threads spin between kernels (faster on an otherwise idle machine)
  --memory-only             with --from and a dialogue corpus: write only the model's action memory (the corpus's player
                            lines and their calls, plus --extra-samples) into --out, without training`;

function fail(problem: string): never {
  console.error(`train: ${problem}`);
  console.error(USAGE);
  process.exit(2);
}

const { values } = parseCliArgs('train', USAGE, {
  options: {
    out: { type: 'string' },
    from: { type: 'string' },
    preset: { type: 'string' },
    config: { type: 'string' },
    corpus: { type: 'string' },
    method: { type: 'string', default: 'full' },
    'lora-rank': { type: 'string', default: '8' },
    'lora-alpha': { type: 'string', default: '16' },
    'lora-targets': { type: 'string', default: PROJECTIONS.join(',') },
    'no-merge': { type: 'boolean', default: false },
    steps: { type: 'string' },
    batch: { type: 'string' },
    accumulate: { type: 'string', default: '1' },
    seq: { type: 'string' },
    lr: { type: 'string' },
    'min-lr': { type: 'string' },
    warmup: { type: 'string' },
    'weight-decay': { type: 'string' },
    clip: { type: 'string' },
    seed: { type: 'string', default: '1' },
    threads: { type: 'string' },
    'eval-every': { type: 'string', default: '0' },
    'checkpoint-every': { type: 'string', default: '0' },
    'checkpoint-dir': { type: 'string' },
    resume: { type: 'boolean', default: false },
    'max-seconds': { type: 'string' },
    'stop-at': { type: 'string' },
    'extra-samples': { type: 'string' },
    'counterfactual-lore': { type: 'string' },
    'reading-drills': { type: 'string' },
    'text-drill-mix': { type: 'string' },
    'person-drills': { type: 'string' },
    'splice-drills': { type: 'string' },
    'repeat-kind': { type: 'string' },
    'copy-spans': { type: 'string' },
    'copy-drills': { type: 'string' },
    'drill-text': { type: 'string' },
    'tokenizer-bytes': { type: 'string' },
    providers: { type: 'string' },
    'spin-wait': { type: 'boolean', default: false },
    'memory-only': { type: 'boolean', default: false },
  },
});

if (!values.out) fail('--out <dir> is required');

const int = (name: string, raw: string | undefined, fallback?: number): number => {
  if (raw === undefined) {
    if (fallback === undefined) fail(`--${name} is required`);
    return fallback;
  }
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) fail(`--${name} must be a non-negative integer, got "${raw}"`);
  return n;
};
const num = (name: string, raw: string | undefined, fallback: number): number => {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) fail(`--${name} must be a non-negative number, got "${raw}"`);
  return n;
};

function kindRepeats(spec: string) {
  try {
    return parseKindRepeats(spec);
  } catch (error) {
    fail(`--repeat-kind: ${(error as Error).message}`);
  }
}

if (values['memory-only']) {
  if (!values.from) fail('--memory-only needs --from <model dir>');
  try {
    const npcs = rememberCorpus({ from: values.from, out: values.out, corpus: values.corpus ?? 'data/corpus/world', ...(values['extra-samples'] ? { extraSampleFiles: values['extra-samples'].split(',') } : {}) });
    console.log(JSON.stringify({ actionMemory: { out: values.out, npcs } }));
    process.exit(0);
  } catch (error) {
    console.error(`train: ${(error as Error).message}`);
    process.exit(1);
  }
}

let architecture: LlamaArchitectureInput | undefined;
if (values.preset) {
  if (!isPresetName(values.preset)) fail(`unknown preset "${values.preset}"`);
  architecture = PRESETS[values.preset];
}
if (values.config) {
  try {
    architecture = readArchitectureFile(values.config, architecture);
  } catch (error) {
    fail((error as Error).message);
  }
}
if (values.from && architecture) fail('give either --from (fine-tune an existing model) or --preset/--config (a new one), not both');

if (values.method !== 'full' && values.method !== 'lora') fail(`--method must be full or lora, got "${values.method}"`);
const targets = values['lora-targets']!.split(',').map((t) => t.trim()).filter(Boolean);
for (const t of targets) if (!(PROJECTIONS as readonly string[]).includes(t)) fail(`unknown LoRA target "${t}" (known: ${PROJECTIONS.join(', ')})`);

const pretraining = !values.from;
const options: TrainOptions = {
  out: values.out,
  ...(values.from ? { from: values.from } : {}),
  ...(architecture ? { architecture } : {}),
  corpus: values.corpus ?? (pretraining ? 'data/corpus/general' : 'data/corpus/world'),
  method: values.method,
  ...(values.method === 'lora' ? { lora: { rank: int('lora-rank', values['lora-rank']), alpha: num('lora-alpha', values['lora-alpha'], 16), targets: targets as Projection[] } } : {}),
  merge: !values['no-merge'],
  steps: int('steps', values.steps, pretraining ? 2000 : 600),
  batch: int('batch', values.batch, pretraining ? 16 : 8),
  accumulate: Math.max(1, int('accumulate', values.accumulate)),
  sequence: int('seq', values.seq, pretraining ? 256 : 768),
  lr: num('lr', values.lr, values.method === 'lora' ? 2e-3 : pretraining ? 2e-3 : 5e-4),
  ...(values['min-lr'] !== undefined ? { minLr: num('min-lr', values['min-lr'], 0) } : {}),
  warmup: int('warmup', values.warmup, pretraining ? 100 : 30),
  ...(values['weight-decay'] !== undefined ? { weightDecay: num('weight-decay', values['weight-decay'], 0.1) } : {}),
  ...(values.clip !== undefined ? { clipNorm: num('clip', values.clip, 1) } : {}),
  seed: int('seed', values.seed),
  ...(values.threads !== undefined ? { threads: Math.max(1, int('threads', values.threads)) } : {}),
  evalEvery: int('eval-every', values['eval-every']),
  checkpointEvery: int('checkpoint-every', values['checkpoint-every']),
  ...(values['checkpoint-dir'] ? { checkpointDir: values['checkpoint-dir'] } : {}),
  resume: values.resume,
  ...(values['max-seconds'] !== undefined ? { maxSeconds: num('max-seconds', values['max-seconds'], 0) } : {}),
  ...(values['counterfactual-lore'] !== undefined ? { counterfactualLore: num('counterfactual-lore', values['counterfactual-lore'], 0) } : {}),
  ...(values['copy-spans'] !== undefined ? { copySpans: num('copy-spans', values['copy-spans'], 0) } : {}),
  ...(values['copy-drills'] !== undefined ? { copyDrills: num('copy-drills', values['copy-drills'], 0) } : {}),
  ...(values['reading-drills'] !== undefined ? { readingDrills: num('reading-drills', values['reading-drills'], 0) } : {}),
  ...(values['drill-text'] !== undefined ? { readingDrillText: values['drill-text'] } : {}),
  ...(values['splice-drills'] !== undefined ? { spliceDrills: num('splice-drills', values['splice-drills'], 0) } : {}),
  ...(values['person-drills'] !== undefined ? { personDrills: num('person-drills', values['person-drills'], 0) } : {}),
  ...(values['text-drill-mix'] !== undefined ? { textDrillMix: num('text-drill-mix', values['text-drill-mix'], 0) } : {}),
  ...(values['repeat-kind'] !== undefined ? { repeatKinds: kindRepeats(values['repeat-kind']) } : {}),
  ...(values['stop-at'] !== undefined ? { stopAtStep: int('stop-at', values['stop-at']) } : {}),
  ...(values['extra-samples'] ? { extraSampleFiles: values['extra-samples'].split(',') } : {}),
  ...(values['tokenizer-bytes'] ? { tokenizerBytes: int('tokenizer-bytes', values['tokenizer-bytes']) } : {}),
  tokenizerExtraFiles: tokenizerExtraFiles(),
  ...(values.providers ? { providers: values.providers.split(',') } : {}),
  ...(values['spin-wait'] ? { spinWait: true } : {}),
};

try {
  const summary = await train(options);
  console.log(JSON.stringify({ train: summary }));
} catch (error) {
  console.error(`train: ${(error as Error).message}`);
  process.exit(1);
}
