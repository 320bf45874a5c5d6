/**
 * A dying engine worker fails the requests in flight with a clear, retryable error, and the engine restarts
 * on its own so the next request succeeds.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { InferenceEngine } from '../../server/src/inference/engine/engine-client.ts';
import type { Generation } from '../../server/src/inference/engine/generation.ts';
import { buildTestModel } from './support.ts';

let built: ReturnType<typeof buildTestModel>;

beforeAll(() => {
  built = buildTestModel({ maxPositionEmbeddings: 1024 });
});
afterAll(() => built.cleanup());

test.each(['throw', 'exit'] as const)('worker crash (%s) fails in-flight requests and the engine recovers', async (how) => {
  const engine = await InferenceEngine.start({ modelDir: built.dir, intraOpThreads: 1, scheduler: { maxBatchSize: 2 } });
  try {
    const inFlight: Generation[] = [1, 2, 3].map(() => engine.generate({ prompt: 'A very long tale', maxTokens: 900 }));
    await inFlight[0]![Symbol.asyncIterator]().next();
    engine.crashWorkerForTesting(how);
    for (const g of inFlight) {
      await expect(g.result).rejects.toMatchObject({
        code: 'worker-died',
        retryable: true,
        message: expect.stringMatching(/inference worker died.*restarting/),
      });
    }
    const next = await engine.generate({ prompt: 'Are you still there?', maxTokens: 5 }).result;
    expect(next.tokens.length).toBeGreaterThan(0);
    expect(engine.restarts).toBe(1);
    expect((await engine.metrics()).restarts).toBe(1);
  } finally {
    await engine.close();
  }
});

test('a model directory that cannot load fails start() with the loader\'s reason', async () => {
  await expect(InferenceEngine.start({ modelDir: '/nonexistent/model' })).rejects.toThrow(/nonexistent/);
});
