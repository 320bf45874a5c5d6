/**
 * npm run train:npcs [-- --model assets/models/default --out <dir> --npc bram,marta --seconds 100 --all]
 *
 * After a designer edits NPC scripts: regenerate the world corpus from the scripts as they are now, and
 * refresh the model on the NPCs whose scripts changed since it was last fine-tuned (or those given with
 * --npc, or all with --all), with LoRA merged back into a plain model — in about two minutes. Rated
 * turns and designer corrections (`npm run corpus -- --feedback`) are included when present.
 */
import { cpSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseCliArgs } from '../../../server/src/cli-args.ts';
import { WORLD_DIR } from '../../corpus/sample.ts';
import { writeWorldCorpus } from '../../corpus/world/write.ts';
import { PROJECTIONS } from '../llama-train-graph.ts';
import { train } from '../run.ts';
import { npcScriptHashes, npcTrainingRecord, recordCorpusManifests, refreshModelCard, trainedScriptHashes } from './shared.ts';

const USAGE = 'usage: npm run train:npcs [-- --model <dir>] [--out <dir>] [--npc id,id | --all] [--seconds N] [--steps N] [--seed N] [--threads N]';
const { values } = parseCliArgs('train:npcs', USAGE, {
  options: {
    model: { type: 'string', default: process.env.MODEL_DIR ?? 'assets/models/default' },
    out: { type: 'string' },
    npc: { type: 'string' },
    all: { type: 'boolean', default: false },
    seconds: { type: 'string', default: '80' },
    steps: { type: 'string', default: '40' },
    seed: { type: 'string', default: '1' },
    threads: { type: 'string' },
    'npc-dir': { type: 'string', default: process.env.NPC_DIR ?? 'assets/npcs' },
  },
});
const fail = (message: string): never => {
  console.error(`train:npcs: ${message}`);
  process.exit(1);
};
const positive = (name: string, raw: string): number => {
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) fail(`--${name} must be a positive number, got "${raw}"\n${USAGE}`);
  return n;
};
const log = (line: string) => process.stderr.write(`${line}\n`);
const started = performance.now();
const model = values.model!;
const out = values.out ?? model;
const npcDir = values['npc-dir']!;

try {
  if (!existsSync(join(model, 'config.json'))) fail(`${model} is not a model directory`);
  const now = npcScriptHashes(npcDir);
  const before = trainedScriptHashes(model);
  let npcs: string[];
  if (values.npc) npcs = values.npc.split(',').map((s) => s.trim()).filter(Boolean);
  else if (values.all || !before) npcs = Object.keys(now);
  else npcs = Object.keys(now).filter((id) => now[id] !== before[id]);
  const unknown = npcs.filter((id) => !(id in now));
  if (unknown.length) fail(`no script for ${unknown.join(', ')} in ${npcDir}`);
  if (npcs.length === 0) {
    console.log(JSON.stringify({ trainNpcs: { out, npcs: [], note: 'no NPC script changed since the model was fine-tuned; use --all or --npc to refresh anyway' } }));
    process.exit(0);
  }
  log(`refreshing ${model} on ${npcs.join(', ')}`);
  const corpus = writeWorldCorpus({ seed: Number(values.seed), outDir: WORLD_DIR, npcDir, log: () => {} });
  log(`world corpus: ${corpus.counts.train.total} training samples`);
  const feedback = join(WORLD_DIR, 'feedback.jsonl');
  const staging = `${out}.refresh`;
  rmSync(staging, { recursive: true, force: true });
  const summary = await train({
    out: staging,
    from: model,
    corpus: WORLD_DIR,
    method: 'lora',
    lora: { rank: 16, alpha: 32, targets: [...PROJECTIONS] },
    merge: true,
    steps: positive('steps', values.steps!),
    maxSeconds: positive('seconds', values.seconds!),
    batch: 4,
    accumulate: 1,
    sequence: 1536,
    lr: 2e-3,
    warmup: 4,
    seed: Number(values.seed),
    ...(values.threads ? { threads: positive('threads', values.threads) } : {}),
    npcs,
    ...(existsSync(feedback) ? { extraSampleFiles: [feedback] } : {}),
    record: npcTrainingRecord(npcDir),
    checkpointDir: join('data', 'checkpoints', 'refresh'),
    log,
  });
  // Keep the model's reports and card, then swap the refreshed weights in.
  if (existsSync(join(model, 'training'))) cpSync(join(model, 'training'), join(staging, 'training'), { recursive: true, force: false, errorOnExist: false });
  if (existsSync(join(model, 'training', 'world-corpus.json'))) recordCorpusManifests(staging, { world: join(WORLD_DIR, 'manifest.json') });
  refreshModelCard(staging, 'npm run train:default   # then, after script edits: npm run train:npcs', [
    `Refreshed with LoRA on ${npcs.join(', ')} (${summary.steps} steps, ${summary.seconds.toFixed(0)} s); the evaluation table above predates this refresh — run npm run eval -- --model ${out}.`,
  ]);
  if (out !== staging) {
    rmSync(out, { recursive: true, force: true });
    cpSync(staging, out, { recursive: true });
    rmSync(staging, { recursive: true, force: true });
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(JSON.stringify({ trainNpcs: { out, npcs, seconds: Number(seconds.toFixed(1)), steps: summary.steps, finalLoss: summary.finalLoss, stoppedEarly: summary.stoppedEarly } }));
} catch (error) {
  fail((error as Error).message);
}
