/**
 * Prefix cache: a shared persona prefix is computed once and reused, reuse gives exactly the tokens of a
 * full prefill, a conversation's KV can be kept between turns, and the cache stays bounded (LRU).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { InferenceEngine } from '../../server/src/inference/engine/engine-client.ts';
import { KvBlock, type KvLayout } from '../../server/src/inference/engine/kv-cache.ts';
import { PrefixCache } from '../../server/src/inference/engine/prefix-cache.ts';
import type { DecoderModel } from '../../server/src/inference/model/index.ts';
import { PERSONA, PLAYER_LINES, buildTestModel, openModel, referenceTokens } from './support.ts';

describe('prefix cache in the engine', () => {
  let built: ReturnType<typeof buildTestModel>;
  let model: DecoderModel;
  let engine: InferenceEngine;

  beforeAll(async () => {
    built = buildTestModel();
    model = await openModel(built.dir);
    engine = await InferenceEngine.start({ modelDir: built.dir, intraOpThreads: 1, scheduler: { stepTokenBudget: 64 } });
  });
  afterAll(async () => {
    await engine.close();
    await model.dispose();
    built.cleanup();
  });

  test('a shared persona is prefilled once for concurrent conversations and reuse equals a full prefill', async () => {
    const personaTokens = model.tokenizer.encode(PERSONA).length;
    const lines = PLAYER_LINES.slice(0, 6);
    // Reference: the same token sequence the engine builds (prefix tokenized on its own, then the line).
    const prompts = lines.map((line) => [...model.tokenizer.encode(PERSONA), ...model.tokenizer.encode(line)]);
    const expected = await Promise.all(prompts.map((p) => referenceTokens(model, p, 12)));
    const before = (await engine.metrics()).engine;

    const results = await Promise.all(
      lines.map((line) => engine.generate({ prompt: PERSONA + line, sharedPrefix: PERSONA, maxTokens: 12 }).result),
    );
    results.forEach((r, i) => {
      expect(r.tokens, `line ${i}`).toEqual(expected[i]);
      expect(r.promptTokens).toBe(prompts[i]!.length);
      expect(r.cachedPromptTokens).toBe(personaTokens);
    });

    const after = (await engine.metrics()).engine;
    const prefilled = after.steps.prefillTokens - before.steps.prefillTokens;
    const tails = prompts.reduce((n, p) => n + p.length - personaTokens, 0);
    // The persona was computed once, not once per conversation.
    expect(prefilled).toBe(personaTokens + tails);
    expect(after.prefixCache.entries).toBe(1);
    expect(after.prefixCache.hits - before.prefixCache.hits).toBe(lines.length);
    expect(after.prefixCache.hitRate).toBeGreaterThan(0.5);

    // Later conversations hit the cache directly.
    const late = await engine.generate({ prompt: PERSONA + PLAYER_LINES[7]!, sharedPrefix: PERSONA, maxTokens: 12 }).result;
    expect(late.cachedPromptTokens).toBe(personaTokens);
    expect(late.tokens).toEqual(
      await referenceTokens(model, [...model.tokenizer.encode(PERSONA), ...model.tokenizer.encode(PLAYER_LINES[7]!)], 12),
    );
  });

  test('a conversation kept between turns only prefills the new turn, with unchanged output', async () => {
    const turn1Prompt = model.tokenizer.encode('Player: Hello smith. Mara:');
    const turn1 = await engine.generate({ promptTokens: turn1Prompt, maxTokens: 10, retainKv: true }).result;
    const turn2Prompt = [...turn1Prompt, ...turn1.tokens, ...model.tokenizer.encode(' Player: And the mines? Mara:')];
    const turn2 = await engine.generate({ promptTokens: turn2Prompt, maxTokens: 10, retainKv: true }).result;
    // Everything but the last reply token (whose KV was never computed) came from the kept KV.
    expect(turn2.cachedPromptTokens).toBe(turn1Prompt.length + turn1.tokens.length - 1);
    expect(turn2.tokens).toEqual(await referenceTokens(model, turn2Prompt, 10));
  });
});

describe('PrefixCache data structure', () => {
  const layout: KvLayout = { numLayers: 1, kvHeads: 1, headDim: 2, dtype: 'float32' };
  const block = (n: number) => new KvBlock(layout, n);
  const bytes = (n: number) => block(n).byteLength;

  test('longest match, partial matches, and at least one token left to run', () => {
    const cache = new PrefixCache(1 << 20);
    cache.insert('shared-prefix', Int32Array.of(1, 2, 3, 4), block(4));
    expect(cache.lookup([1, 2, 3, 4, 5], 4)?.matched).toBe(4);
    expect(cache.lookup([1, 2, 9], 2)?.matched).toBe(2); // partial: KV of a shared head is reusable
    expect(cache.lookup([1, 2, 3, 4], 3)?.matched).toBe(3); // capped by the caller
    expect(cache.lookup([7, 1, 2], 2)).toBeNull();
    expect(cache.stats()).toMatchObject({ lookups: 4, hits: 3, hitRate: 0.75 });
  });

  test('bounded by bytes, least recently used evicted first, pinned entries never', () => {
    const cache = new PrefixCache(bytes(10));
    const a = cache.insert('shared-prefix', Int32Array.of(1, 1, 1, 1), block(4))!;
    cache.insert('shared-prefix', Int32Array.of(2, 2, 2, 2), block(4));
    cache.lookup([1, 1, 1, 1, 0], 4); // a is now the most recent
    cache.insert('shared-prefix', Int32Array.of(3, 3, 3, 3), block(4)); // evicts b
    expect(cache.peek([2, 2, 2, 2], 4)).toBeNull();
    expect(cache.peek([1, 1, 1, 1], 4)?.entry).toBe(a);
    expect(cache.byteSize).toBeLessThanOrEqual(cache.maxBytes);

    cache.pin(a);
    cache.insert('shared-prefix', Int32Array.of(4, 4, 4, 4), block(4)); // must evict 3s, not the pinned a
    expect(cache.peek([1, 1, 1, 1], 4)?.entry).toBe(a);
    expect(cache.peek([3, 3, 3, 3], 4)).toBeNull();
    expect(cache.insert('shared-prefix', Int32Array.of(5, 5, 5, 5, 5, 5, 5, 5), block(8))).toBeNull(); // can't fit beside a
    expect(cache.stats().evictions).toBe(2);
  });
});
