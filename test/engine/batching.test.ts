/**
 * Continuous batching must not change what a request produces: greedy output in a batch — with sequences
 * of different lengths joining and leaving mid-way — equals the output of the same prompt run alone.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { InferenceEngine } from '../../server/src/inference/engine/engine-client.ts';
import type { DecoderModel } from '../../server/src/inference/model/index.ts';
import { PLAYER_LINES, buildTestModel, openModel, referenceTokens } from './support.ts';

describe.each(['float32', 'float16'] as const)('continuous batching (%s KV)', (kvDtype) => {
  let built: ReturnType<typeof buildTestModel>;
  let model: DecoderModel;

  beforeAll(async () => {
    built = buildTestModel({ kvDtype });
    model = await openModel(built.dir);
  });
  afterAll(async () => {
    await model.dispose();
    built.cleanup();
  });

  test.each(['inplace', 'resident', 'rebuild'] as const)('batched greedy equals one-at-a-time greedy (%s KV strategy)', async (kvStrategy) => {
    const prompts = PLAYER_LINES.map((line) => model.tokenizer.encode(line));
    const maxTokens = prompts.map((_, i) => 6 + ((i * 5) % 17));
    const expected = await Promise.all(prompts.map((p, i) => referenceTokens(model, p, maxTokens[i]!)));

    // Small token budget so long prompts prefill in several chunks while others decode.
    const engine = await InferenceEngine.start({
      modelDir: built.dir,
      intraOpThreads: 1,
      scheduler: { kvStrategy, stepTokenBudget: 24, minPrefillChunk: 8, maxBatchSize: 6 },
    });
    try {
      expect(engine.model.kvStrategy, engine.model.kvStrategyNote).toBe(kvStrategy);
      // First wave now; the second wave joins while the first is mid-generation.
      const first = prompts.slice(0, 4).map((p, i) => engine.generate({ promptTokens: p, maxTokens: maxTokens[i]! }));
      const firstTokens = first[0]![Symbol.asyncIterator]();
      await firstTokens.next();
      await firstTokens.next();
      const second = prompts.slice(4).map((p, i) => engine.generate({ promptTokens: p, maxTokens: maxTokens[i + 4]! }));
      const results = await Promise.all([...first, ...second].map((g) => g.result));
      results.forEach((r, i) => expect(r.tokens, `prompt ${i}`).toEqual(expected[i]));

      const { engine: metrics } = await engine.metrics();
      // It really batched: some decode steps ran several sequences at once.
      const sizes = Object.keys(metrics.batchSizeHistogram).map(Number);
      expect(Math.max(...sizes)).toBeGreaterThan(3);
      expect(metrics.steps.prefillSteps).toBeGreaterThan(prompts.length / 2);
    } finally {
      await engine.close();
    }
  });

  test('rows that outgrow the batch columns are widened in place without changing any token (inplace)', async () => {
    // Long replies cross the slot buffers' column headroom (64) twice while other rows join and leave, so
    // every row is spread out to a wider layout in place mid-generation, more than once.
    const prompts = PLAYER_LINES.slice(0, 4).map((line) => model.tokenizer.encode(line));
    const maxTokens = [150, 40, 140, 90];
    const expected = await Promise.all(prompts.map((p, i) => referenceTokens(model, p, maxTokens[i]!)));
    expect(Math.max(...expected.map((t) => t.length)), 'a reply long enough to outgrow the headroom').toBeGreaterThan(130);
    const engine = await InferenceEngine.start({ modelDir: built.dir, intraOpThreads: 1, scheduler: { kvStrategy: 'inplace', maxBatchSize: 4 } });
    try {
      const first = prompts.slice(0, 2).map((p, i) => engine.generate({ promptTokens: p, maxTokens: maxTokens[i]! }));
      const it = first[0]![Symbol.asyncIterator]();
      for (let i = 0; i < 30; i++) await it.next();
      const second = prompts.slice(2).map((p, i) => engine.generate({ promptTokens: p, maxTokens: maxTokens[i + 2]! }));
      const results = await Promise.all([...first, ...second].map((g) => g.result));
      results.forEach((r, i) => expect(r.tokens, `prompt ${i}`).toEqual(expected[i]));
      const { engine: metrics } = await engine.metrics();
      expect(metrics.steps.kvAssembles).toBeGreaterThan(2);
      // The batch is over: its buffers are kept warm (not in use) for the next one.
      expect(metrics.kv.decodeBatchBytes).toBe(0);
      expect(metrics.kv.warmBufferBytes).toBeGreaterThan(0);
    } finally {
      await engine.close();
    }
  });

  test('KV reserved at start: allocated before any request, never regrown, kept through the idle release, same tokens (inplace)', async () => {
    const prompts = PLAYER_LINES.slice(0, 5).map((line) => model.tokenizer.encode(line));
    const expected = await Promise.all(prompts.map((p) => referenceTokens(model, p, 24)));
    // keep-warm 0: without the reservation every buffer would be given back when the batch ends.
    const engine = await InferenceEngine.start({ modelDir: built.dir, intraOpThreads: 1, scheduler: { kvStrategy: 'inplace', maxBatchSize: 5, kvKeepWarmMs: 0, kvReserveTokens: 256 } });
    try {
      const reserved = (await engine.metrics()).engine.kv.warmBufferBytes;
      // 5 rows × (256 + 64 headroom) columns of every layer's K and V (the arena rounds up by a quarter).
      expect(reserved).toBeGreaterThanOrEqual(5 * 320 * engine.model.kvBytesPerToken);
      const results = await Promise.all(prompts.map((p) => engine.generate({ promptTokens: p, maxTokens: 24 }).result));
      results.forEach((r, i) => expect(r.tokens, `prompt ${i}`).toEqual(expected[i]));
      const { engine: metrics } = await engine.metrics();
      expect(metrics.steps.decodeSteps).toBeGreaterThan(10);
      // The batch is over and released at once, but the reservation stays, the same size: nothing regrew.
      expect(metrics.kv.warmBufferBytes).toBe(reserved);
    } finally {
      await engine.close();
    }
  });

  test('a seeded sampled request yields the same tokens alone or batched', async () => {
    const prompts = PLAYER_LINES.slice(0, 5).map((line) => model.tokenizer.encode(line));
    const sampling = (i: number) => ({ temperature: 0.9, topK: 40, topP: 0.95, seed: 1000 + i });
    const expected = await Promise.all(prompts.map((p, i) => referenceTokens(model, p, 20, sampling(i))));
    const engine = await InferenceEngine.start({ modelDir: built.dir, intraOpThreads: 1 });
    try {
      const alone = await engine.generate({ promptTokens: prompts[0]!, maxTokens: 20, ...sampling(0) }).result;
      const batched = await Promise.all(prompts.map((p, i) => engine.generate({ promptTokens: p, maxTokens: 20, ...sampling(i) }).result));
      expect(alone.tokens).toEqual(expected[0]);
      batched.forEach((r, i) => expect(r.tokens, `prompt ${i}`).toEqual(expected[i]));
      // Different seeds really sample differently (the test would be vacuous otherwise).
      expect(new Set(batched.map((r) => r.tokens.join(','))).size).toBeGreaterThan(1);
    } finally {
      await engine.close();
    }
  });
});
