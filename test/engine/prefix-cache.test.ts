/**
 * Prefix cache: a shared persona prefix is computed once and reused, reuse gives exactly the tokens of a
 * full prefill, a conversation's KV can be kept between turns (on top of its persona's entry, which is held
 * once), and the cache stays bounded (LRU) with parents outliving their pinned children.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { InferenceEngine } from '../../server/src/inference/engine/engine-client.ts';
import { KvBlock, kvBytesPerToken, type KvLayout } from '../../server/src/inference/engine/kv-cache.ts';
import { PrefixCache } from '../../server/src/inference/engine/prefix-cache.ts';
import type { KvStrategy } from '../../server/src/inference/engine/step-runner.ts';
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

describe('conversations kept on top of their persona', () => {
  let built: ReturnType<typeof buildTestModel>;
  let model: DecoderModel;
  let persona: number[];

  beforeAll(async () => {
    built = buildTestModel();
    model = await openModel(built.dir);
    persona = model.tokenizer.encode(PERSONA);
  });
  afterAll(async () => {
    await model.dispose();
    built.cleanup();
  });

  /**
   * Tokens of KV a finished turn leaves: prompt and reply, less the last reply token when the reply was cut
   * at max tokens (an EOS ends a reply without being part of it, and its input token has KV).
   */
  const keptTokens = (r: { promptTokens: number; tokens: number[]; finishReason: string }) =>
    r.promptTokens + r.tokens.length - (r.finishReason === 'length' ? 1 : 0);

  /** One turn of a conversation with the persona as declared shared prefix; KV kept for the next. */
  const turn = (engine: InferenceEngine, prompt: number[], maxTokens: number) =>
    engine.generate({ promptTokens: prompt, sharedPrefixTokens: persona.length, maxTokens, retainKv: true }).result;

  test.each(['inplace', 'resident', 'rebuild'] as const)(
    'resumed turns equal a fresh prefill and the persona KV is stored once (%s KV strategy)',
    async (kvStrategy: KvStrategy) => {
      const engine = await InferenceEngine.start({ modelDir: built.dir, intraOpThreads: 1, scheduler: { kvStrategy, stepTokenBudget: 64 } });
      try {
        expect(engine.model.kvStrategy).toBe(kvStrategy);
        const bytesPerToken = engine.model.kvBytesPerToken;
        // Two conversations with the same NPC, run side by side, three turns each.
        const histories = [PLAYER_LINES[0]!, PLAYER_LINES[3]!].map((line) => [...persona, ...model.tokenizer.encode(` Player: ${line} Mara:`)]);
        const follow = [' Player: And the mines? Mara:', ' Player: Thanks. Mara:'];
        const kept = [0, 0];
        for (let t = 0; t < 3; t++) {
          const prompts = histories.map((h) => [...h]);
          const expected = await Promise.all(prompts.map((p) => referenceTokens(model, p, 8)));
          const results = await Promise.all(prompts.map((p) => turn(engine, p, 8)));
          results.forEach((r, c) => {
            expect(r.tokens, `turn ${t}, conversation ${c}`).toEqual(expected[c]);
            // Turn 1 reuses the persona; later turns all the previous turn kept.
            expect(r.cachedPromptTokens).toBe(t === 0 ? persona.length : kept[c]);
            kept[c] = keptTokens(r);
            histories[c]!.push(...r.tokens);
          });
          const { engine: metrics } = await engine.metrics();
          // One persona entry plus the latest entry of each conversation (the previous turn's was superseded),
          // and the bytes count the persona once: persona + each conversation's tokens after it.
          expect(metrics.prefixCache.entries).toBe(3);
          expect(metrics.prefixCache.bytes).toBe((persona.length + kept[0]! + kept[1]! - 2 * persona.length) * bytesPerToken);
          if (t < 2) histories.forEach((h) => h.push(...model.tokenizer.encode(follow[t]!)));
        }
      } finally {
        await engine.close();
      }
    },
  );

  test('how many conversation entries fit in a fixed cache budget: full blocks vs persona + suffix', async () => {
    // 24 distinct conversations with the same NPC (the case: 32 on a 135M model, ~90 % persona).
    const conversations = ['Player', 'Traveller', 'Guard'].flatMap((who) =>
      PLAYER_LINES.map((line) => [...persona, ...model.tokenizer.encode(` ${who}: ${line} Mara:`)]),
    );
    const maxTokens = 4;
    const longest = Math.max(...conversations.map((c) => c.length)) + maxTokens;
    /** Cache room for 3 of the longest whole conversations. */
    const budgetTokens = 3 * longest;
    const bytesPerToken = kvBytesPerToken({ numLayers: model.numLayers, kvHeads: model.io.kvHeads, headDim: model.io.headDim, dtype: model.io.kvDtype });
    /** Conversation entries left in the cache after every conversation had one turn, and their sizes. */
    const entriesAfterOneTurnEach = async (onTopOfPersona: boolean): Promise<{ entries: number; sizes: number[] }> => {
      const engine = await InferenceEngine.start({
        modelDir: built.dir,
        intraOpThreads: 1,
        scheduler: { prefixCacheBytes: budgetTokens * bytesPerToken },
      });
      try {
        // Before: no shared prefix declared, so each conversation entry holds its whole KV (what every
        // entry held until now, and still what a turn that did not start from a shared-prefix entry keeps).
        // After: the persona is declared and each entry holds only what follows it.
        const sizes: number[] = [];
        for (const prompt of conversations) {
          const r = await engine.generate({
            promptTokens: prompt,
            ...(onTopOfPersona ? { sharedPrefixTokens: persona.length } : {}),
            maxTokens,
            retainKv: true,
          }).result;
          expect(r.cachedPromptTokens).toBeGreaterThanOrEqual(onTopOfPersona ? persona.length : 0);
          sizes.push(keptTokens(r) - (onTopOfPersona ? persona.length : 0));
        }
        const { engine: metrics } = await engine.metrics();
        expect(metrics.prefixCache.bytes).toBeLessThanOrEqual(budgetTokens * bytesPerToken);
        return { entries: metrics.prefixCache.entries - (onTopOfPersona ? 1 : 0), sizes };
      } finally {
        await engine.close();
      }
    };
    const before = await entriesAfterOneTurnEach(false);
    const after = await entriesAfterOneTurnEach(true);
    console.log(
      `conversation entries in a ${budgetTokens}-token cache (persona ${persona.length} tokens, ${conversations.length} conversations): ` +
        `${before.entries} as full blocks, ${after.entries} on top of the persona`,
    );
    // Whole conversations: no more than the smallest of them fit. Suffixes: at least as many as the largest fit.
    expect(before.entries).toBeLessThanOrEqual(Math.floor(budgetTokens / Math.min(...before.sizes)));
    expect(after.entries).toBeGreaterThanOrEqual(
      Math.min(conversations.length, Math.floor((budgetTokens - persona.length) / Math.max(...after.sizes))),
    );
    expect(after.entries).toBeGreaterThanOrEqual(3 * before.entries);
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

  describe('conversation entries on top of a shared prefix', () => {
    const persona = Int32Array.of(1, 2, 3, 4);
    const conv = (...tail: number[]) => Int32Array.of(...persona, ...tail);
    /** A block whose every word is `fill`, to tell blocks apart in spans. */
    const filled = (n: number, fill: number) => {
      const b = block(n);
      for (const t of b.tensors) t.fill(fill);
      return b;
    };

    test('lookup returns the longest match, as parent span + suffix span; matches within the parent are the parent\'s', () => {
      const cache = new PrefixCache(1 << 20);
      const p = cache.insert('shared-prefix', persona, filled(4, 1))!;
      const c = cache.insert('conversation', conv(5, 6, 7), filled(3, 2), p)!;
      expect(c.parent).toBe(p);
      expect(c.start).toBe(4);
      expect(cache.byteSize).toBe(bytes(4) + bytes(3)); // the persona once, the conversation's suffix once

      const full = cache.lookup([1, 2, 3, 4, 5, 6, 7, 8], 7)!;
      expect(full).toMatchObject({ entry: c, matched: 7 });
      expect(cache.spansFor(full.entry, full.matched)).toEqual([
        { block: p.block, count: 4 },
        { block: c.block, count: 3 },
      ]);
      const partial = cache.lookup([1, 2, 3, 4, 5, 9], 5)!;
      expect(partial).toMatchObject({ entry: c, matched: 5 });
      expect(cache.spansFor(partial.entry, partial.matched).map((s) => s.count)).toEqual([4, 1]);
      // Ending within the persona: the persona's entry (the suffix is neither read nor pinned).
      expect(cache.lookup([1, 2, 3, 4, 9], 4)).toMatchObject({ entry: p, matched: 4 });
      expect(cache.lookup([1, 2, 9], 2)).toMatchObject({ entry: p, matched: 2 });
      expect(cache.getExact(conv(5, 6, 7))).toBe(c);
      expect(cache.getExact(persona)).toBe(p);

      // A block that does not match what follows the parent, or a parent that does not start the key, is refused.
      expect(() => cache.insert('conversation', conv(8, 9), block(6), p)).toThrow();
      expect(() => cache.insert('conversation', Int32Array.of(9, 2, 3, 4, 5), block(1), p)).toThrow();
    });

    test('a pinned child keeps its parent; evicting or removing a parent takes its children; bytes counted once', () => {
      const cache = new PrefixCache(bytes(4) + bytes(2) * 3);
      const p = cache.insert('shared-prefix', persona, block(4))!;
      const a = cache.insert('conversation', conv(5, 5), block(2), p)!;
      const b = cache.insert('conversation', conv(6, 6), block(2), p)!;
      expect(cache.byteSize).toBe(bytes(4) + 2 * bytes(2));

      cache.pin(a);
      expect(p.pins).toBe(1); // reading a reads p's block too
      expect(cache.evictableBytes()).toBe(bytes(2)); // only b: p is needed by the pinned a
      expect(cache.remove(p)).toBe(false);
      expect(cache.shrinkBy(1 << 20)).toBe(bytes(2));
      expect(cache.has(b)).toBe(false);
      expect(cache.has(a) && cache.has(p)).toBe(true);
      cache.clear(); // pinned family stays
      expect(cache.size).toBe(2);
      expect(cache.byteSize).toBe(bytes(4) + bytes(2));

      // An insert that needs the space of a pinned family fails without evicting it.
      expect(cache.insert('shared-prefix', Int32Array.of(9, 9, 9, 9, 9, 9), block(6))).toBeNull();
      expect(cache.has(a) && cache.has(p)).toBe(true);

      cache.unpin(a);
      expect(p.pins).toBe(0);
      expect(() => cache.unpin(a)).toThrow();
      const c = cache.insert('conversation', conv(7, 7), block(2), p)!;
      expect(cache.remove(p)).toBe(true); // the parent goes with its children, none stranded
      expect([p, a, c].some((e) => cache.has(e))).toBe(false);
      expect(cache.size).toBe(0);
      expect(cache.byteSize).toBe(0);
      expect(cache.peek(conv(7, 7, 0), 6)).toBeNull();
    });

    test('LRU reaches children before their parent; a child insert never evicts its own parent', () => {
      const cache = new PrefixCache(bytes(12));
      const p = cache.insert('shared-prefix', persona, block(4))!;
      const a = cache.insert('conversation', conv(5, 5), block(2), p)!;
      const q = cache.insert('shared-prefix', Int32Array.of(8, 8, 8, 8), block(4))!;
      cache.lookup(conv(5, 5, 0), 6); // touches a, then p after it: order q, a, p
      const r = cache.insert('shared-prefix', Int32Array.of(9, 9, 9, 9), block(4))!; // evicts q, the oldest
      expect(cache.has(q)).toBe(false);
      expect(cache.has(a) && cache.has(p)).toBe(true);
      const s = cache.insert('shared-prefix', Int32Array.of(7, 7, 7), block(3))!; // evicts a (older than its parent), not p
      expect(cache.has(a)).toBe(false);
      expect(cache.has(p)).toBe(true);
      expect(cache.byteSize).toBe(bytes(4) + bytes(4) + bytes(3));

      // p is now the oldest entry, but a child being inserted under it keeps it through its own eviction.
      const big = cache.insert('conversation', conv(6, 6, 6), block(3), p)!;
      expect(big).not.toBeNull();
      expect(cache.has(p)).toBe(true);
      expect(cache.has(r)).toBe(false);
      expect(cache.byteSize).toBe(p.block.byteLength + big.block.byteLength + s.block.byteLength);
      expect(cache.stats().evictions).toBe(3);
    });
  });
});
