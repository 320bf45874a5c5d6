/**
 * Overload: the bounded queue and the KV budget reject with a reason that says whether to retry later,
 * prompts that can never fit say so, first-token deadlines drop late requests, and priorities reorder the
 * queue.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { InferenceEngine, type GenerateOptions } from '../../server/src/inference/engine/engine-client.ts';
import type { EngineError } from '../../server/src/inference/engine/errors.ts';
import type { Generation } from '../../server/src/inference/engine/generation.ts';
import { buildTestModel } from './support.ts';

let built: ReturnType<typeof buildTestModel>;

beforeAll(() => {
  built = buildTestModel({ maxPositionEmbeddings: 512 });
});
afterAll(() => built.cleanup());

async function rejection(generation: Generation): Promise<EngineError> {
  return (await generation.result.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  )) as EngineError;
}

/** One request that keeps the only batch slot busy (hundreds of steps) until the test cancels it. */
function blocker(engine: InferenceEngine): Generation {
  return engine.generate({ prompt: 'A long, long story.', maxTokens: 480 });
}

async function firstToken(generation: Generation): Promise<void> {
  await generation[Symbol.asyncIterator]().next();
}

describe('admission control', () => {
  test('a prompt longer than the context can never fit', async () => {
    const engine = await InferenceEngine.start({ modelDir: built.dir, intraOpThreads: 1 });
    try {
      const error = await rejection(engine.generate({ promptTokens: new Array(600).fill(5) }));
      expect(error).toMatchObject({ code: 'never-fits', retryable: false });
      expect(error.message).toMatch(/600 tokens.*context is 512/);
    } finally {
      await engine.close();
    }
  });

  test('a request whose worst case exceeds the whole KV budget can never fit', async () => {
    const engine = await InferenceEngine.start({ modelDir: built.dir, intraOpThreads: 1, scheduler: { kvBudgetBytes: 20_000 } });
    try {
      const bytesPerToken = engine.model.kvBytesPerToken;
      expect(20_000 / bytesPerToken).toBeLessThan(60);
      const error = await rejection(engine.generate({ promptTokens: new Array(30).fill(5), maxTokens: 60 }));
      expect(error).toMatchObject({ code: 'never-fits', retryable: false });
      expect(error.message).toMatch(/KV budget/);
    } finally {
      await engine.close();
    }
  });

  test('a full queue rejects with retry-later', async () => {
    const engine = await InferenceEngine.start({ modelDir: built.dir, intraOpThreads: 1, scheduler: { maxBatchSize: 1, maxQueue: 2 } });
    try {
      const running = blocker(engine);
      await firstToken(running);
      const queued = [engine.generate({ prompt: 'one', maxTokens: 2 }), engine.generate({ prompt: 'two', maxTokens: 2 })];
      const error = await rejection(engine.generate({ prompt: 'three', maxTokens: 2 }));
      expect(error).toMatchObject({ code: 'queue-full', retryable: true });
      running.cancel();
      await Promise.all(queued.map((g) => g.result));
    } finally {
      await engine.close();
    }
  });

  test('KV memory booked by running requests rejects with retry-later (kv-exhausted)', async () => {
    const engine = await InferenceEngine.start({ modelDir: built.dir, intraOpThreads: 1 });
    const bytesPerToken = engine.model.kvBytesPerToken;
    await engine.close();
    // Room for one request of 500 tokens worst case, not two.
    const tight = await InferenceEngine.start({
      modelDir: built.dir,
      intraOpThreads: 1,
      scheduler: { kvBudgetBytes: 600 * bytesPerToken, prefixCacheBytes: 0, maxQueue: 1 },
    });
    try {
      const options: GenerateOptions = { promptTokens: new Array(20).fill(7), maxTokens: 480 };
      const running = tight.generate(options);
      await firstToken(running);
      const waiting = tight.generate(options);
      const error = await rejection(tight.generate(options));
      expect(error).toMatchObject({ code: 'kv-exhausted', retryable: true });
      running.cancel();
      expect((await waiting.result).tokens.length).toBeGreaterThan(0);
    } finally {
      await tight.close();
    }
  });

  test('a request that cannot start before its first-token deadline is dropped with the reason', async () => {
    const engine = await InferenceEngine.start({ modelDir: built.dir, intraOpThreads: 1, scheduler: { maxBatchSize: 1 } });
    try {
      const running = blocker(engine);
      await firstToken(running);
      const late = engine.generate({ prompt: 'quick!', maxTokens: 4, firstTokenDeadlineMs: 20 });
      const error = await rejection(late);
      expect(error).toMatchObject({ code: 'deadline-exceeded', retryable: true });
      expect(error.message).toMatch(/20 ms deadline.*queued/);
      running.cancel();
    } finally {
      await engine.close();
    }
  });

  test('a full queue sheds its lowest-priority request for an interactive one', async () => {
    const engine = await InferenceEngine.start({ modelDir: built.dir, intraOpThreads: 1, scheduler: { maxBatchSize: 1, maxQueue: 2 } });
    try {
      const running = blocker(engine);
      await firstToken(running);
      const ambient = [1, 2].map(() => engine.generate({ prompt: 'ambient chatter', maxTokens: 2, priority: 'ambient' }));
      const interactive = engine.generate({ prompt: 'Player: hello!', maxTokens: 2, priority: 'interactive' });
      const shed = await rejection(ambient[1]!);
      expect(shed).toMatchObject({ code: 'shed', retryable: true });
      running.cancel();
      await interactive.result;
      await ambient[0]!.result;
    } finally {
      await engine.close();
    }
  });
});

describe('priorities', () => {
  test('interactive requests overtake queued ambient ones', async () => {
    const engine = await InferenceEngine.start({ modelDir: built.dir, intraOpThreads: 1, scheduler: { maxBatchSize: 1, ambientShare: 1 } });
    try {
      const running = blocker(engine);
      await firstToken(running);
      const order: string[] = [];
      const track = (name: string, g: Generation) => g.result.then(() => order.push(name));
      const waits = [
        track('ambient-1', engine.generate({ prompt: 'birds sing', maxTokens: 3, priority: 'ambient' })),
        track('ambient-2', engine.generate({ prompt: 'wind blows', maxTokens: 3, priority: 'ambient' })),
        track('interactive', engine.generate({ prompt: 'Player: hi', maxTokens: 3, priority: 'interactive' })),
      ];
      running.cancel();
      await Promise.all(waits);
      expect(order).toEqual(['interactive', 'ambient-1', 'ambient-2']);
    } finally {
      await engine.close();
    }
  });

  test('ambient work never takes every batch slot', async () => {
    const engine = await InferenceEngine.start({ modelDir: built.dir, intraOpThreads: 1, scheduler: { maxBatchSize: 4, ambientShare: 0.5 } });
    try {
      const ambient = [1, 2, 3, 4].map(() => engine.generate({ prompt: 'a long ambient murmur', maxTokens: 60, priority: 'ambient' }));
      await Promise.all(ambient.slice(0, 2).map(firstToken));
      const { engine: m } = await engine.metrics();
      expect(m.decoding + m.prefilling).toBe(2);
      expect(m.queueDepth).toBe(2);
      // An interactive request starts right away although ambient work is queued.
      const interactive = await engine.generate({ prompt: 'Player: hey', maxTokens: 2 }).result;
      expect(interactive.timings.queueMs).toBeLessThan(500);
      for (const g of ambient) g.cancel();
    } finally {
      await engine.close();
    }
  });
});
