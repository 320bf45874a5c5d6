import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, loadModelText } from '../../server/src/inference/model/index.ts';
import { actionBody, formatActionCall } from '../../server/src/npc/action-syntax.ts';
import { loadNpcScripts } from '../../server/src/npc/script-loader.ts';
import { legalActions, type NpcAction } from '../../server/src/npc/script-schema.ts';
import { loadWorldMap } from '../../server/src/world/world-map.ts';
import { worldFacts } from '../../server/src/npc/prompt.ts';
import { buildModelDirectory } from '../model-builder/build-model-dir.ts';
import { PRESETS } from '../model-builder/presets.ts';
import type { WorldSample } from '../corpus/sample.ts';
import { loadHandwritten } from '../corpus/world/handwritten.ts';
import { loadCorpusWorld } from '../corpus/world/npc-context.ts';
import { fixtureSamples } from './fixtures.ts';
import {
  aggregateScores,
  architectureOf,
  buildUntrainedTwin,
  doubledWord,
  evaluateModel,
  formatReport,
  loreFactKey,
  trainedFacts,
  keywordHits,
  needsGeneration,
  readSplit,
  replyLosses,
  reportJson,
  requiredKeywordCount,
  sampleTokens,
  scoreReply,
  type EvalReport,
} from './index.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const map = loadWorldMap(`${root}assets/world/town.json`, 0.5);
const world = worldFacts(map);
const scripts = loadNpcScripts(`${root}assets/npcs`, { map }).byId;
const npcs = ['bram', 'selka', 'finn'].map((id) => scripts.get(id)!);
// Lore, action, refusal/injection and greeting samples for three NPCs (made here through the server's
// prompt code), plus one hand-written test line of each kind (the corpus's loader for assets/eval/handwritten.yaml).
const handwritten = loadHandwritten(loadCorpusWorld());
const samples: WorldSample[] = [
  ...fixtureSamples(npcs, world, 4),
  ...[...new Set(handwritten.map((s) => s.kind))].map((kind) => handwritten.find((s) => s.kind === kind)!),
];

let tmp: string;
let modelDir: string;
let report: EvalReport;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'wm-eval-test-'));
  modelDir = join(tmp, 'model');
  // The tiny preset, with a tokenizer learned from the NPC scripts and a context long enough for a persona prompt.
  const corpus = readdirSync(`${root}assets/npcs`).filter((f) => f.endsWith('.yaml')).map((f) => readFileSync(`${root}assets/npcs/${f}`, 'utf8')).join('\n');
  buildModelDirectory({ outDir: modelDir, architecture: { ...PRESETS.tiny, maxPositionEmbeddings: 4096, initializerRange: 0.3 }, seed: 3, corpus, presetName: 'tiny' });
  const general = join(tmp, 'general.txt');
  writeFileSync(general, 'The smith of Emberfall works the forge by the east wall.\n\nThe Ashwater runs under the bridge past the mill.\n');
  report = await evaluateModel({ model: modelDir, samples, threads: 1, keepReplies: true, generalText: general, seed: 5 });
});

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('evaluateModel on a tiny model', () => {
  it('reports every metric for the model and its untrained twin, in range', () => {
    expect(report.models.map((m) => m.label)).toEqual(['model', 'untrained']);
    expect(report.samples.total).toBe(samples.length);
    expect(report.samples.generated).toBe(samples.filter(needsGeneration).length);
    for (const kind of ['lore', 'action', 'refusal'] as const) expect(report.samples[kind]).toBeGreaterThan(0);
    for (const m of report.models) {
      expect(m.replyLoss.skipped).toBe(0);
      expect(m.replyLoss.tokens).toBeGreaterThan(0);
      expect(m.replyLoss.loss).toBeGreaterThan(0);
      expect(Number.isFinite(m.replyLoss.perplexity)).toBe(true);
      expect(Number.isFinite(m.general?.perplexity)).toBe(true);
      expect(m.general!.tokens).toBeGreaterThan(10);
      for (const rate of [m.metrics.loreAccuracy, m.metrics.actionAccuracy, m.metrics.refusalActionNone, m.metrics.refusalSpeechClean, m.metrics.legalActions]) {
        expect(rate.total).toBeGreaterThan(0);
        expect(rate.rate).toBeGreaterThanOrEqual(0);
        expect(rate.rate).toBeLessThanOrEqual(1);
      }
      expect(m.metrics.loreKeywordRecall).toBeGreaterThanOrEqual(0);
      expect(m.generation.errors).toBe(0);
      expect(Object.keys(m.byKind).sort()).toEqual([...new Set(samples.map((s) => s.kind))].sort());
      expect(m.bySource.generated?.samples).toBe(12);
      expect(m.bySource.handwritten?.samples).toBe(samples.length - 12);
      expect(Object.keys(m.byLoreRetrieval).length).toBeGreaterThan(0);
      // Every action-scored sample lands in exactly one request family.
      expect(Object.values(m.byActionFamily).reduce((n, g) => n + g.samples, 0)).toBe(report.samples.action);
      expect(m.byActionFamily.handwritten?.samples).toBeGreaterThan(0);
    }
    const table = formatReport(report);
    expect(table).toContain('lore accuracy');
    expect(table).toContain('untrained');
    const line = reportJson(report);
    expect(line).not.toContain('\n');
    expect(JSON.parse(line).eval.models[1].metrics.actionAccuracy.total).toBe(report.samples.action);
  });

  it('decodes only legal action calls, through the server grammar', () => {
    for (const m of report.models) {
      expect(m.replies).toHaveLength(report.samples.generated);
      // Every reply ends at the speech budget ('constraint') or where the model ended its speech ('stop').
      expect((m.generation.finishReasons.constraint ?? 0) + (m.generation.finishReasons.stop ?? 0)).toBe(report.samples.generated);
      for (const r of m.replies!) {
        const script = scripts.get(r.npcId)!;
        expect(r.malformed).toBe(false);
        expect(r.body).not.toBeNull();
        expect(r.legal).toBe(true);
        expect(r.speech).not.toMatch(/[[\]]/);
        const legal = ['none', ...legalActions(script.actions).map((a) => actionBody(a))];
        expect(legal).toContain(r.body);
      }
      expect(m.metrics.legalActions.rate).toBe(1);
    }
  });

  it('scores the corpus replies (the reference column) at 100 %', () => {
    const ref = report.reference;
    for (const rate of [ref.loreAccuracy, ref.actionAccuracy, ref.refusalActionNone, ref.refusalSpeechClean, ref.legalActions]) expect(rate.rate).toBe(1);
  });

  it('computes the same reply loss with the cached persona as with one full forward pass', async () => {
    const text = loadModelText(modelDir);
    const model = await loadModel(modelDir, { intraOpNumThreads: 1 });
    try {
      const picked = samples.slice(0, 3);
      const cached = await replyLosses(model, text, picked);
      for (const [i, sample] of picked.entries()) {
        const { prefix, rest, completion } = sampleTokens(text, sample);
        // The reply as the grammar emits it: speech, then the call with no space, then end of turn.
        expect(text.tokenizer.decode(completion, { skipSpecialTokens: false })).toBe(`${formatActionCall(sample.action)}${sample.speech.trim()}<|im_end|>`);
        const ids = [...prefix, ...rest, ...completion];
        const step = await model.step({
          batchSize: 1,
          inputIds: BigInt64Array.from(ids, BigInt),
          attentionMask: new BigInt64Array(ids.length).fill(1n),
          positionIds: BigInt64Array.from(ids, (_, p) => BigInt(p)),
          past: model.emptyCache(1),
        });
        let nll = 0;
        for (let j = 0; j < completion.length; j++) {
          const row = step.logits.subarray((prefix.length + rest.length - 1 + j) * step.vocabSize, (prefix.length + rest.length + j) * step.vocabSize);
          const max = Math.max(...row);
          const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
          nll += lse - row[completion[j]!]!;
        }
        const got = cached[i]!;
        expect('nll' in got && got.tokens).toBe(completion.length);
        expect('nll' in got ? got.nll / got.tokens : NaN).toBeCloseTo(nll / completion.length, 3);
      }
    } finally {
      await model.dispose();
    }
  });
});

describe('the metrics discriminate', () => {
  const scored = samples.filter(needsGeneration);

  /** A legal action of this NPC other than the expected one (never none). */
  function wrongAction(sample: WorldSample): NpcAction {
    return legalActions(scripts.get(sample.npcId)!.actions).find((a) => actionBody(a) !== actionBody(sample.action))!;
  }

  it('the expected replies score 100 % and obviously wrong ones 0 %, through the same scoring functions', () => {
    const oracle = aggregateScores(scored.map((s) => scoreReply(s, s.reply, scripts.get(s.npcId))));
    expect(oracle.loreAccuracy.rate).toBe(1);
    expect(oracle.loreKeywordRecall).toBe(1);
    expect(oracle.actionAccuracy.rate).toBe(1);
    expect(oracle.refusalActionNone.rate).toBe(1);
    expect(oracle.refusalSpeechClean.rate).toBe(1);
    expect(oracle.legalActions.rate).toBe(1);
    expect(oracle.noDoubledWords.rate).toBe(1);

    const wrong = aggregateScores(scored.map((s) => scoreReply(s, `Go away, give_item is all I know. ${formatActionCall(wrongAction(s))}`, scripts.get(s.npcId))));
    expect(wrong.loreAccuracy.rate).toBe(0);
    expect(wrong.loreKeywordRecall).toBe(0);
    expect(wrong.actionAccuracy.rate).toBe(0);
    expect(wrong.refusalActionNone.rate).toBe(0);
    expect(wrong.refusalSpeechClean.rate).toBe(0);
    expect(wrong.legalActions.rate).toBe(1); // wrong, but still legal calls

    const stammer = aggregateScores(scored.map((s) => scoreReply(s, `${s.reply} And the the rest.`, scripts.get(s.npcId))));
    expect(stammer.noDoubledWords.rate).toBe(0);
    expect(doubledWord('I walk my rounds: the South Gate, the the Gate.')).toBe('the');
    expect(doubledWord('Ha ha! No, no, not me. That is all.')).toBeUndefined();

    const illegal = scoreReply(scored[0]!, 'Take it. [[give_item crown]]', scripts.get(scored[0]!.npcId));
    expect(illegal.legal).toBe(false);
    expect(scoreReply(scored[0]!, 'No call at all', scripts.get(scored[0]!.npcId)).legal).toBe(false);
  });

  it('matches keywords on word boundaries, case-insensitively, with light stemming and a 2/3 threshold', () => {
    expect(keywordHits('Bram FORGED the hinges of the South Gate.', ['forge', 'hinge', 'south gate', 'wall'])).toEqual([true, true, true, false]);
    expect(keywordHits('The forgery is a lie', ['forge'])).toEqual([false]);
    expect(keywordHits("Bram's horseshoes", ['bram', 'horseshoe'])).toEqual([true, true]);
    expect([1, 2, 3, 4, 5, 6].map(requiredKeywordCount)).toEqual([1, 2, 2, 3, 4, 4]);
    const lore = scored.find((s) => s.factKeywords && s.factKeywords.length === 3)!;
    const [a, b] = lore.factKeywords!;
    const script = scripts.get(lore.npcId);
    expect(scoreReply(lore, `${a} and ${b}. [[none]]`, script).lore!.correct).toBe(true);
    expect(scoreReply(lore, `${a} only. [[none]]`, script).lore!.correct).toBe(false);
  });
});

describe('inputs', () => {
  it('fails with one clear line on a missing corpus or an empty split', () => {
    expect(() => readSplit(join(tmp, 'nowhere'), 'test')).toThrow(/run npm run corpus first/);
    const dir = join(tmp, 'corpus');
    mkdirSync(dir);
    expect(() => readSplit(dir, 'valid')).toThrow(/no "valid" split/);
    writeFileSync(join(dir, 'test.jsonl'), '\n');
    expect(() => readSplit(dir, 'test')).toThrow(/no samples/);
  });

  it('splits lore samples by whether the train split answers with their fact', () => {
    const dir = join(tmp, 'facts-corpus');
    mkdirSync(dir);
    expect(trainedFacts(dir)).toBeNull();
    const lore = samples.filter((s) => s.kind === 'lore' && s.fact !== undefined);
    const [seen, heldOut] = [lore[0]!, lore.find((s) => s.fact !== lore[0]!.fact)!];
    // Quotes, backslashes and non-ASCII in a fact survive the train split's JSON.
    const tricky = 'Finn sings "The Ashwater Ballad" \\ in the café.';
    writeFileSync(join(dir, 'train.jsonl'), [seen, { ...seen, id: 'x', fact: tricky }].map((s) => JSON.stringify(s)).join('\n') + '\n');
    const facts = trainedFacts(dir)!;
    expect([...facts].sort()).toEqual([seen.fact, tricky].sort());
    expect(loreFactKey(seen, facts)).toBe('fact trained on');
    expect(loreFactKey(heldOut, facts)).toBe('fact held out');
    expect(loreFactKey(samples.find((s) => s.kind === 'action')!, facts)).toBeUndefined();
  });

  it('fails with one clear line on a bad model directory', async () => {
    await expect(evaluateModel({ model: join(tmp, 'nope'), samples })).rejects.toThrow(/does not exist/);
    await expect(evaluateModel({ model: `${root}assets/npcs`, samples })).rejects.toThrow(/not a usable model directory/);
  });

  it('builds the untrained twin with the same architecture and byte-identical tokenizer files', () => {
    const twin = buildUntrainedTwin(modelDir, join(tmp, 'twin'), 1);
    expect(architectureOf(twin.dir)).toEqual(architectureOf(modelDir));
    for (const f of ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) {
      expect(readFileSync(join(twin.dir, f), 'utf8')).toBe(readFileSync(join(modelDir, f), 'utf8'));
    }
    const a = loadModelText(twin.dir);
    const b = loadModelText(modelDir);
    expect(a.specialTokens).toEqual(b.specialTokens);
    expect(a.tokenizer.encode('Bram forged the South Gate [[walk_to forge]]')).toEqual(b.tokenizer.encode('Bram forged the South Gate [[walk_to forge]]'));
  });
});
