/**
 * Cancellation through an AbortSignal frees the sequence's KV at once (engine memory returns to its
 * baseline) and the engine stops generating for it.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { InferenceEngine, type EngineSnapshot } from '../../server/src/inference/engine/engine-client.ts';
import { EngineError } from '../../server/src/inference/engine/errors.ts';
import { buildTestModel } from './support.ts';

let built: ReturnType<typeof buildTestModel>;
let engine: InferenceEngine;

beforeAll(async () => {
  built = buildTestModel();
  engine = await InferenceEngine.start({ modelDir: built.dir, intraOpThreads: 1 });
});
afterAll(async () => {
  await engine.close();
  built.cleanup();
});

async function settledMetrics(): Promise<EngineSnapshot['engine']> {
  // The cancel message is applied between two steps; poll until the engine is idle.
  for (let i = 0; i < 100; i++) {
    const m = (await engine.metrics()).engine;
    if (m.decoding === 0 && m.prefilling === 0 && m.queueDepth === 0) return m;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('engine never went idle');
}

test('aborting a running request frees its KV and stops its generation', async () => {
  const baseline = await settledMetrics();
  expect(baseline.kv.bytesInUse).toBe(0);

  const controller = new AbortController();
  const generation = engine.generate({ prompt: 'Tell me a very long story about the forge.', maxTokens: 200, signal: controller.signal });
  const seen: number[] = [];
  for await (const chunk of generation) {
    if (chunk.token !== null) seen.push(chunk.token);
    if (seen.length === 5) break; // leaving the loop early cancels too; abort explicitly below as well
  }
  controller.abort();
  await expect(generation.result).rejects.toMatchObject({ code: 'aborted', retryable: false });

  const during = await engine.metrics();
  const after = await settledMetrics();
  expect(after.kv.bytesInUse).toBe(baseline.kv.bytesInUse);
  expect(after.kv.bytesReserved).toBe(0);
  expect(after.kv.decodeBatchBytes).toBe(0);
  // No more tokens were generated for it after the cancel was applied.
  await new Promise((r) => setTimeout(r, 50));
  expect((await engine.metrics()).engine.generatedTokens).toBe(after.generatedTokens);
  expect(after.generatedTokens - baseline.generatedTokens).toBeLessThan(50);
  expect(during.restarts).toBe(0);
});

test('aborting while others run frees only that request and the others finish unchanged', async () => {
  const baseline = await settledMetrics();
  const controller = new AbortController();
  const keep = engine.generate({ prompt: 'Where is the tavern?', maxTokens: 30 });
  const drop = engine.generate({ prompt: 'Tell me everything you know.', maxTokens: 150, signal: controller.signal });
  const iterator = drop[Symbol.asyncIterator]();
  await iterator.next();
  const mid = (await engine.metrics()).engine;
  expect(mid.kv.bytesReserved).toBeGreaterThan(0);
  controller.abort();
  const error = await drop.result.catch((e: unknown) => e);
  expect(error).toBeInstanceOf(EngineError);
  expect((error as EngineError).code).toBe('aborted');
  const kept = await keep.result;
  expect(kept.tokens.length).toBeGreaterThan(0);
  const after = await settledMetrics();
  expect(after.kv.bytesInUse).toBe(baseline.kv.bytesInUse);
  expect(after.kv.bytesReserved).toBe(0);
});

test('an already-aborted signal never reaches the engine', async () => {
  const controller = new AbortController();
  controller.abort();
  await expect(engine.generate({ prompt: 'hi', signal: controller.signal }).result).rejects.toMatchObject({ code: 'aborted' });
});
