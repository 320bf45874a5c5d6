/**
 * The game loop never waits on a model step: while the engine is saturated (a full batch decoding, long
 * prompts prefilling), the main thread's event loop stays responsive. Measured with the event-loop delay
 * histogram and compared with how long the worker's steps actually take.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { InferenceEngine } from '../../server/src/inference/engine/engine-client.ts';
import { buildTestModel } from './support.ts';

let built: ReturnType<typeof buildTestModel>;

beforeAll(() => {
  built = buildTestModel({ size: 'medium' });
});
afterAll(() => built.cleanup());

test('main-thread event loop lag stays bounded while the engine is saturated', async () => {
  // Big prefill chunks make single runs long: were they on this thread, every tick would wait for them.
  const engine = await InferenceEngine.start({ modelDir: built.dir, intraOpThreads: 2, scheduler: { maxBatchSize: 16, stepTokenBudget: 1024 } });
  try {
    const story = 'The caravan reached the gates of Oakvale at dusk, tired and dusty. '.repeat(12);
    const generations = Array.from({ length: 24 }, (_, i) => engine.generate({ prompt: `${story} Traveller ${i} asks:`, maxTokens: 48 }));
    await generations[0]![Symbol.asyncIterator]().next();

    const histogram = monitorEventLoopDelay({ resolution: 5 });
    histogram.enable();
    // Meanwhile the "game loop" ticks every 10 ms and records how late each tick is.
    let lastTick = performance.now();
    let worstTickLateness = 0;
    const ticker = setInterval(() => {
      const now = performance.now();
      worstTickLateness = Math.max(worstTickLateness, now - lastTick - 10);
      lastTick = now;
    }, 10);
    await Promise.all(generations.map((g) => g.result));
    clearInterval(ticker);
    histogram.disable();

    const { engine: metrics } = await engine.metrics();
    const steps = metrics.steps.decodeSteps + metrics.steps.prefillSteps;
    const busyMs = metrics.steps.decodeMs + metrics.steps.prefillMs;
    const p99LagMs = histogram.percentile(99) / 1e6;
    const maxLagMs = histogram.max / 1e6;
    // Saturated for real: many steps, a big batch, and a lot of model time in total.
    expect(Math.max(...Object.keys(metrics.batchSizeHistogram).map(Number))).toBe(16);
    expect(busyMs).toBeGreaterThan(500);
    expect(metrics.steps.longestRunMs).toBeGreaterThan(60);
    // Had the model run on this thread, ticks would wait for whole runs (the longest above); they don't.
    expect(p99LagMs).toBeLessThan(Math.min(40, metrics.steps.longestRunMs / 2));
    expect(maxLagMs).toBeLessThan(150);
    expect(worstTickLateness).toBeLessThan(150);
    console.info(
      `event loop while saturated: p99 ${p99LagMs.toFixed(1)} ms, max ${maxLagMs.toFixed(1)} ms, worst tick +${worstTickLateness.toFixed(1)} ms; ` +
        `engine ran ${steps} steps, ${busyMs.toFixed(0)} ms of model time (mean ${(busyMs / steps).toFixed(1)} ms, longest ${metrics.steps.longestRunMs.toFixed(1)} ms)`,
    );
  } finally {
    await engine.close();
  }
});
