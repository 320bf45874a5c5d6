/**
 * The trainer on a tiny preset, with real onnxruntime sessions: loss goes down, resume is bit-identical,
 * LoRA touches only its adapters and its merge reproduces base + adapter, fine-tuning puts loss only on
 * the reply, and the trained model directory loads in the server's model layer.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../server/src/inference/model/index.ts';
import { PRESETS } from '../model-builder/index.ts';
import { readActionMemoryFile } from '../../server/src/npc/action-memory.ts';
import { rememberCorpus, updatedActionMemory } from './action-memory.ts';
import { dialogueBatchList } from './batches.ts';
import { writeModelCard } from './model-card.ts';
import { hasWordNet } from './wordnet.ts';
import { loraParamSpecs, type LoraConfig } from './llama-train-graph.ts';
import { initLoraParams, mergeLora } from './lora.ts';
import { readArchitecture, readParams } from './model-weights.ts';
import { train, type TrainOptions } from './run.ts';
import { StepRunner } from './step-runner.ts';
import { parseKindRepeats } from './training-data.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function temp(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `worldmind-train-${label}-`));
  dirs.push(dir);
  return dir;
}

// A small text corpus with real structure (repeated sentence patterns a tiny model can learn quickly).
function textCorpus(): string {
  const dir = temp('corpus');
  const names = ['Bram', 'Marta', 'Finn', 'Selka', 'Roderick'];
  const places = ['forge', 'inn', 'gate', 'well', 'market'];
  const paragraphs: string[] = [];
  for (let i = 0; i < 400; i++) {
    const n = names[i % 5]!;
    const p = places[(i * 3) % 5]!;
    paragraphs.push(`${n} walked to the ${p} in the morning. At the ${p}, ${n} met a traveller and said good day.`);
  }
  writeFileSync(join(dir, 'train.txt'), paragraphs.join('\n\n'));
  writeFileSync(join(dir, 'valid.txt'), paragraphs.slice(0, 40).join('\n\n'));
  return dir;
}

const quiet = { log: () => {}, onProgress: () => {} };

function baseOptions(corpus: string, out: string, extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    out,
    architecture: { ...PRESETS.tiny, vocabSize: 300 },
    corpus,
    method: 'full',
    steps: 30,
    batch: 4,
    accumulate: 2,
    sequence: 32,
    lr: 5e-3,
    warmup: 5,
    seed: 11,
    threads: 1,
    checkpointDir: join(out, '..', `${out.split('/').at(-1)}.ckpt`),
    ...quiet,
    ...extra,
  };
}

describe('trainer', () => {
  const corpus = textCorpus();

  it('pre-trains a tiny model from scratch: the loss falls and the model loads in the server', async () => {
    const out = join(temp('scratch'), 'model');
    const summary = await train(baseOptions(corpus, out, { steps: 60, evalEvery: 30 }));
    const history = readFileSync(join(out, 'training', 'pretrain-history.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { loss: number });
    const first = history.slice(0, 5).reduce((a, h) => a + h.loss, 0) / 5;
    const last = history.slice(-5).reduce((a, h) => a + h.loss, 0) / 5;
    expect(last).toBeLessThan(first * 0.8);
    expect(summary.validLoss).toBeLessThan(history[0]!.loss);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(config.worldmind.trained_weights).toBe(true);
    expect(config.worldmind.training.runs[0]).toMatchObject({ mode: 'pretrain', method: 'full', steps: 60 });
    const model = await loadModel(out);
    const step = await model.step({ batchSize: 1, inputIds: BigInt64Array.from([5n, 6n]), attentionMask: BigInt64Array.from([1n, 1n]), positionIds: BigInt64Array.from([0n, 1n]), past: model.emptyCache(1) });
    expect(step.logits.every(Number.isFinite)).toBe(true);
    await model.dispose();
  });

  it('resumes bit-identically from a checkpoint', async () => {
    const root = temp('resume');
    const straight = join(root, 'straight');
    const resumed = join(root, 'resumed');
    await train(baseOptions(corpus, straight, { checkpointDir: join(root, 'ck-straight') }));
    await train(baseOptions(corpus, resumed, { checkpointDir: join(root, 'ck-resumed'), stopAtStep: 13 }));
    await train(baseOptions(corpus, resumed, { checkpointDir: join(root, 'ck-resumed'), resume: true }));
    const a = readFileSync(join(straight, 'onnx', 'model.onnx'));
    const b = readFileSync(join(resumed, 'onnx', 'model.onnx'));
    expect(a.byteLength).toBeGreaterThan(10_000);
    expect(Buffer.compare(a, b)).toBe(0);
    // A changed setting is refused rather than silently mixed.
    await expect(train(baseOptions(corpus, resumed, { checkpointDir: join(root, 'ck-resumed'), resume: true, lr: 1e-3 }))).rejects.toThrow(/other settings/);
  });

  it('LoRA trains only the adapters, and the merged model equals base + adapter', async () => {
    const root = temp('lora');
    const baseDir = join(root, 'base');
    await train(baseOptions(corpus, baseDir, { steps: 10 }));
    const arch = readArchitecture(baseDir);
    const lora: LoraConfig = { rank: 4, alpha: 8, targets: ['q_proj', 'v_proj', 'down_proj'] };
    const merged = join(root, 'merged');
    const summary = await train({ ...baseOptions(corpus, merged, { steps: 15 }), from: baseDir, method: 'lora', lora, merge: true });
    expect(summary.trainableParameters).toBe(loraParamSpecs(arch, lora).reduce((n, s) => n + s.shape[0]! * s.shape[1]!, 0));

    // Untouched: every weight the adapters do not target is byte-identical to the base.
    const before = readParams(baseDir, arch);
    const after = readParams(merged, arch);
    let changedTargets = 0;
    for (const [name, value] of before) {
      const targeted = lora.targets.some((t) => name.includes(`${t}.weight_t`));
      const same = Buffer.compare(Buffer.from(value.buffer), Buffer.from(after.get(name)!.buffer)) === 0;
      if (!targeted) expect(same, name).toBe(true);
      else if (!same) changedTargets++;
    }
    expect(changedTargets).toBeGreaterThan(0);

    // Merge algebra: logits of (base, adapters) through the LoRA graph = logits of the merged weights.
    const adapters = initLoraParams(arch, lora, 5);
    for (const value of adapters.values()) for (let i = 0; i < value.length; i++) value[i] = Math.sin(i * 0.37) * 0.05;
    const shape = { batch: 1, sequence: 8, lossRows: 8 };
    const batch = { shape, inputIds: BigInt64Array.from([3, 9, 27, 81, 43, 129, 87, 11], BigInt), lossRows: BigInt64Array.from([0, 1, 2, 3, 4, 5, 6, 7], BigInt), targets: new BigInt64Array(8), lossWeights: new Float32Array(8).fill(1 / 8) };
    const withAdapters = new StepRunner(arch, { threads: 1, lora, outputLogits: true, forwardOnly: true });
    const plain = new StepRunner(arch, { threads: 1, outputLogits: true, forwardOnly: true });
    const x = await withAdapters.run(new Map([...before, ...adapters]), batch);
    const y = await plain.run(mergeLora(arch, lora, before, adapters), batch);
    let worst = 0;
    for (let i = 0; i < x.logits!.length; i++) worst = Math.max(worst, Math.abs(x.logits![i]! - y.logits![i]!));
    expect(worst).toBeLessThan(1e-4);
    await withAdapters.release();
    await plain.release();
  });

  it('fine-tunes on dialogue with loss on the reply tokens only', async () => {
    const root = temp('dialogue');
    const baseDir = join(root, 'base');
    await train(baseOptions(corpus, baseDir, { steps: 5 }));
    const world = join(root, 'world');
    mkdirSync(world);
    const sample = (player: string, reply: string, i: number) =>
      JSON.stringify({ id: `s${i}`, npcId: 'bram', kind: 'lore', split: 'train', player, messages: [{ role: 'system', content: 'You are Bram.' }, { role: 'user', content: player }], speech: reply, action: null, reply: `${reply} [[none]]` });
    const lines = Array.from({ length: 40 }, (_, i) => sample(i % 2 ? 'where is the forge?' : 'who are you?', i % 2 ? 'By the east wall.' : 'Bram, the smith.', i));
    writeFileSync(join(world, 'train.jsonl'), `${lines.join('\n')}\n`);
    writeFileSync(join(world, 'valid.jsonl'), `${lines.slice(0, 4).join('\n')}\n`);

    // The batch layout: every loss row sits at a reply position and predicts the reply's next token.
    const { loadModelText } = await import('../../server/src/inference/model/index.ts');
    const { dialogueExamples } = await import('./training-data.ts');
    const text = loadModelText(baseDir);
    const { examples } = dialogueExamples(text, lines.slice(0, 2).map((l) => JSON.parse(l)), 256);
    const [batch] = dialogueBatchList(examples, { batch: 2, seed: 1, maxSequence: 256, padId: text.specialTokens.pad });
    const S = batch!.shape.sequence;
    for (let m = 0; m < batch!.lossRows.length; m++) {
      if (batch!.lossWeights[m] === 0) continue;
      const row = Number(batch!.lossRows[m]) ;
      const b = Math.floor(row / S);
      const position = row % S;
      expect(position + 1).toBeGreaterThanOrEqual(examples[b]!.prompt.length);
      expect(Number(batch!.targets[m])).toBe(Number(batch!.inputIds[row + 1] ?? batch!.targets[m]));
    }
    const completionTokens = examples.reduce((n, e) => n + e.completion.length, 0);
    expect([...batch!.lossWeights].filter((w) => w > 0).length).toBe(completionTokens);
    // The completion is the reply as the grammar emits it: the call first, then the speech, then end of turn.
    expect(decode(text, examples[0]!.completion)).toMatch(/^\[\[none\]\]\S.*<\|im_end\|>$/);

    const tuned = join(root, 'tuned');
    const summary = await train({ ...baseOptions(world, tuned, { steps: 25, sequence: 128, lr: 3e-3 }), from: baseDir });
    expect(summary.mode).toBe('finetune');
    expect(summary.examples).toBe(40);
    const history = readFileSync(join(tuned, 'training', 'finetune-history.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { loss: number });
    expect(history.at(-1)!.loss).toBeLessThan(history[0]!.loss * 0.5);
    // The fine-tuned model remembers the lines it trained on, each distinct line once, with its call.
    const memory = readActionMemoryFile(tuned)!;
    expect(memory.npcs).toEqual({ bram: [['who are you?', 'none'], ['where is the forge?', 'none']] });
    // With WordNet installed (.ci/run installs it) it also carries related words for words its lines never use: "smithy" → forge.
    if (hasWordNet()) expect(memory.related?.smithy?.[0]).toContain('forge');
    // A later run on other NPCs keeps bram's lines and adds its own; --memory-only writes the same without training.
    const marta = { ...JSON.parse(lines[0]!), npcId: 'marta', player: 'a room, please', action: { type: 'give_item', item: 'room_key' } };
    expect(updatedActionMemory(memory, [marta]).npcs).toEqual({ ...memory.npcs, marta: [['a room, please', 'give_item room_key']] });
    writeFileSync(join(world, 'extra.jsonl'), `${JSON.stringify(marta)}\n`);
    expect(rememberCorpus({ from: tuned, out: tuned, corpus: world, extraSampleFiles: [join(world, 'extra.jsonl')] })).toEqual({ bram: 2, marta: 1 });
    expect(readActionMemoryFile(tuned)!.npcs.marta).toEqual([['a room, please', 'give_item room_key']]);
    expect(() => rememberCorpus({ from: tuned, out: join(root, 'nowhere'), corpus: world })).toThrow(/not a model directory/);
    // The model card says what the memory holds.
    expect(writeModelCard({ modelDir: tuned, title: 'tiny', command: 'npm run train' })).toMatch(/## Action memory\n\n`action-memory.json`: .*\(bram 2, marta 1\)/);

    // --text-drill-mix: some micro-batches are text rows (English and copying drills) instead of dialogue.
    const mixed = join(root, 'mixed');
    const lines2: string[] = [];
    const mixedSummary = await train({
      ...baseOptions(world, mixed, { steps: 4, sequence: 128 }),
      from: baseDir,
      textDrillMix: 0.5,
      readingDrillText: join(corpus, 'train.txt'),
      log: (line) => lines2.push(line),
    });
    expect(mixedSummary.steps).toBe(4);
    expect(lines2.join('\n')).toMatch(/50 % of micro-batches: text windows 16×256, 50 % copying drills/);
    const runs = (JSON.parse(readFileSync(join(mixed, 'config.json'), 'utf8')) as { worldmind: { training: { runs: { text_drill_mix?: number }[] } } }).worldmind.training.runs;
    expect(runs.at(-1)!.text_drill_mix).toBe(0.5);
    await expect(train({ ...baseOptions(world, join(root, 'nodrill'), { steps: 1, sequence: 128 }), from: baseDir, textDrillMix: 0.5, readingDrillText: join(root, 'missing.txt') })).rejects.toThrow(/does not exist/);

    // --repeat-kind: every sample of a kind counts that many times (here all 40 are lore), and the run records it.
    const repeated = join(root, 'repeated');
    const repeatedSummary = await train({ ...baseOptions(world, repeated, { steps: 1, sequence: 128 }), from: baseDir, repeatKinds: { lore: 3, action: 5 } });
    expect(repeatedSummary.examples).toBe(120);
    const repeatedRuns = (JSON.parse(readFileSync(join(repeated, 'config.json'), 'utf8')) as { worldmind: { training: { runs: { repeat_kinds?: unknown }[] } } }).worldmind.training.runs;
    expect(repeatedRuns.at(-1)!.repeat_kinds).toEqual({ lore: 3, action: 5 });
  });

  it('parses --repeat-kind and names what is wrong with a bad one', () => {
    expect(parseKindRepeats('action=3, greeting=2')).toEqual({ action: 3, greeting: 2 });
    expect(() => parseKindRepeats('actions=3')).toThrow(/unknown sample kind "actions"/);
    expect(() => parseKindRepeats('action=x')).toThrow(/not kind=count/);
    expect(() => parseKindRepeats('action')).toThrow(/not kind=count/);
  });
});

function decode(text: { tokenizer: { decode(ids: readonly number[], o?: { skipSpecialTokens?: boolean }): string } }, ids: number[]): string {
  return text.tokenizer.decode(ids, { skipSpecialTokens: false });
}
