import { describe, expect, it } from 'vitest';
import type { InferenceEngine } from '../inference/engine/engine-client.ts';
import { createMetrics } from './metrics.ts';
import { createNpcMetrics } from './npc-metrics.ts';

/** An engine stand-in: the snapshot the worker would report, and the per-request timings hook. */
function fakeEngine(generatedTokens: { value: number }) {
  const engine = {
    onRequestTimings: undefined as InferenceEngine['onRequestTimings'],
    async metrics() {
      return {
        engine: {
          queueDepth: 0,
          prefilling: 0,
          decoding: 1,
          decodeTokensPerSecond: 50,
          kv: { bytesInUse: 1024 },
          prefixCache: { hitRate: 0.5 },
          generatedTokens: generatedTokens.value,
          batchSizeHistogram: { 1: 7, 4: 2 },
        },
        requests: {},
        restarts: 0,
      };
    },
  };
  return engine;
}

describe('NPC and engine metrics', () => {
  it('observes engine TTFT and inter-token gaps in seconds-based histograms, and counts with _total counters', async () => {
    const server = createMetrics();
    const tokens = { value: 40 };
    const engine = fakeEngine(tokens);
    createNpcMetrics(server, engine as unknown as InferenceEngine);
    expect(engine.onRequestTimings).toBeTypeOf('function');
    engine.onRequestTimings!({ ttftMs: 120, interTokenMs: [8, 12, 30] });
    engine.onRequestTimings!({ ttftMs: 2000, interTokenMs: [] });

    let text = await server.registry.metrics();
    expect(text).toContain('# TYPE worldmind_engine_ttft_seconds histogram');
    expect(text).toContain('worldmind_engine_ttft_seconds_count 2');
    expect(text).toContain('worldmind_engine_ttft_seconds_bucket{le="0.25"} 1');
    expect(text).toContain('worldmind_engine_ttft_seconds_sum 2.12');
    expect(text).toContain('# TYPE worldmind_engine_itl_seconds histogram');
    expect(text).toContain('worldmind_engine_itl_seconds_count 3');
    expect(text).toContain('worldmind_engine_itl_seconds_bucket{le="0.01"} 1');
    expect(text).not.toMatch(/_ms\b|_ms\{/);
    expect(text).toContain('# TYPE worldmind_engine_generated_tokens_total counter');
    expect(text).toContain('worldmind_engine_generated_tokens_total 40');
    expect(text).toContain('worldmind_engine_decode_steps_total{size="4"} 2');
    expect(text).toContain('worldmind_engine_restarts_total 0');

    // The counter follows the engine's running total; a worker restart that resets it still only adds.
    await new Promise((r) => setTimeout(r, 150)); // past the shared snapshot's 100 ms reuse
    tokens.value = 100;
    text = await server.registry.metrics();
    expect(text).toContain('worldmind_engine_generated_tokens_total 100');
    await new Promise((r) => setTimeout(r, 150));
    tokens.value = 5;
    text = await server.registry.metrics();
    expect(text).toContain('worldmind_engine_generated_tokens_total 105');

    for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      if (type === 'counter') expect(name).toMatch(/_total$/);
    }
  });
});
