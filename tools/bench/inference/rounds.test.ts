/**
 * One bench:inference round with real parts: a small model built on the spot, the real engine (batched,
 * steady state, one at a time, the standard graph's resident KV), transformers.js, and the MatMul rooflines.
 * Proves the step split counts each phase's own work only: the personas' warm-up prefill is not in it, the
 * burst prefilled exactly its uncached prompt tokens and decoded every token but the first (which comes from
 * the prefill run).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModelDirectory } from '../../model-builder/build-model-dir.ts';
import { quantizeModelDirectory } from '../../quantize/quantize-model.ts';
import { PRESETS } from '../../model-builder/presets.ts';
import { arrivalSchedule } from './arrivals.ts';
import { buildReport } from './report.ts';
import { runRound, type RoundConfig } from './rounds.ts';
import { buildWorkload, type BenchRequest } from './workload.ts';

const MAX_TOKENS = 4;
let dir: string;
let requests: BenchRequest[];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bench-inference-round-'));
  // `small`: positions for a whole persona (the `tiny` preset has 256), still only a few MB.
  buildModelDirectory({ outDir: join(dir, 'fp32'), architecture: PRESETS.small, seed: 0, presetName: 'small' });
  quantizeModelDirectory({ modelDir: join(dir, 'fp32'), outDir: join(dir, 'int8') });
  requests = buildWorkload(join(dir, 'fp32'), 9).requests;
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a bench:inference round', () => {
  it('runs every local contender and splits the engine time into its own decode and prefill work', async () => {
    const burst = requests.slice(0, 3);
    const warmBurst = requests.slice(3, 5);
    const steady = requests.slice(5);
    const config: RoundConfig = {
      modelDir: join(dir, 'fp32'),
      int8ModelDir: join(dir, 'int8'),
      concurrency: 3,
      maxTokens: MAX_TOKENS,
      threads: 1,
      burst,
      warmBurst,
      kvReserveTokens: 64,
      steady,
      steadyArrivals: () => arrivalSchedule({ count: steady.length, ratePerSecond: 20, process: 'poisson', seed: 3 }),
      sequentialCount: 2,
      schedulingCompare: [{ name: 'old', scheduler: { prefillOrder: 'admission', decodeShareWhilePrefilling: 1 } }],
      kvCompare: ['resident'],
      transformersjs: true,
      prefillShape: (mean) => Math.max(8, Math.round(mean / 8) * 8),
      log: () => {},
    };
    const round = await runRound(config, 1, 1);

    const uncached = (rs: BenchRequest[]) => rs.reduce((n, r) => n + r.promptTokens.length - r.sharedPrefixTokens, 0);
    expect(round.batched.steps.prefillTokens).toBe(uncached(burst));
    expect(round.batched.steps.decodedRows).toBe(burst.length * (MAX_TOKENS - 1));
    expect(round.warm!.steps.prefillTokens).toBe(uncached(warmBurst));
    expect(round.warm!.steps.decodedRows).toBe(warmBurst.length * (MAX_TOKENS - 1));
    expect(round.steady!.steps.prefillTokens).toBe(uncached(steady));
    expect(round.steady!.steps.decodedRows).toBe(steady.length * (MAX_TOKENS - 1));
    expect(round.kv.resident!.steps.decodedRows).toBe(burst.length * (MAX_TOKENS - 1));
    expect(round.int8!.steps.decodedRows).toBe(burst.length * (MAX_TOKENS - 1));
    expect(round.scheduling.old!.steps.prefillTokens).toBe(uncached(burst));
    expect(round.scheduling.old!.steps.decodedRows).toBe(burst.length * (MAX_TOKENS - 1));
    expect(round.steady!.summary.queue_p99_ms).toBeGreaterThanOrEqual(0);
    expect(round.transformersjs!.decode_tok_s).toBeGreaterThan(0);
    expect(round.rooflineDecode).toMatchObject({ batch: 3, headRows: 3 });
    expect(round.rooflinePrefill.batch).toBe(config.prefillShape(uncached(burst) / round.batched.steps.prefillSteps));
    expect(round.rooflinePrefill.headRows).toBeLessThanOrEqual(burst.length);
    // The steady state's roofline is taken at its own mean decode batch.
    expect(round.rooflineSteadyDecode!.batch).toBe(Math.max(1, Math.round(round.steady!.steps.decodedRows / round.steady!.steps.decodeSteps)));

    const report = buildReport(
      {
        model: 'small', params: 0, concurrency: 3, requests: 3, maxTokens: MAX_TOKENS, threads: 1, sequentialCount: 2, kvReserveTokens: 64,
        steady: { requests: steady.length, process: 'poisson', seed: 3, rateReqS: 20, loadFactor: null },
        llamacpp: { skipped: 'not in this test' }, int8: { skipped: 'quality not in this test' }, kvLabels: {}, parity: [], machine: { cores: 2, loadBefore: [0, 0, 0], loadAfter: [0, 0, 0] },
      },
      [round],
    );
    for (const ratio of ['batched_vs_sequential', 'batched_vs_transformersjs', 'decode_steps_vs_roofline', 'prefill_steps_vs_roofline', 'steady_vs_roofline', 'steady_decode_steps_vs_roofline', 'warm_vs_sequential', 'warm_decode_steps_vs_roofline', 'warm_burst_ttft_p99_vs_prefill_bound']) {
      expect(report.ratios[ratio as keyof typeof report.ratios]!.median, ratio).toBeGreaterThan(0);
    }
    expect(report.scheduling_compare.old!.ttft_p99_vs_prefill_bound!.median).toBeGreaterThan(0);
  }, 120_000);
});
