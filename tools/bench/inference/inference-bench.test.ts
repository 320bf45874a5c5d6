/** The pure parts of bench:inference: aggregation over rounds, the steady-state arrival schedule, the report. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { arrivalSchedule } from './arrivals.ts';
import type { EngineSteps, PhaseSummary } from './phase-stats.ts';
import { buildReport, renderReport, type ReportContext } from './report.ts';
import type { RooflineResult } from './roofline.ts';
import type { RoundResult } from './rounds.ts';
import { median, ratioSpread, showSpread, spread } from './rounds-stats.ts';

describe('aggregation over rounds', () => {
  it('takes the middle value, or the mean of the two middle ones', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  it('reports median with min–max, leaving out rounds without a value', () => {
    expect(spread([151, 175, 142])).toEqual({ median: 151, min: 142, max: 175, n: 3 });
    expect(spread([10, null, Number.NaN, 20])).toEqual({ median: 15, min: 10, max: 20, n: 2 });
    expect(spread([null, undefined])).toBeNull();
  });

  it('a ratio is the median of the per-round ratios, not the ratio of the medians', () => {
    // Round 2 is slow for both sides; its ratio is as good as the others'.
    const batched = [300, 150, 280];
    const sequential = [50, 25, 70];
    expect(ratioSpread(batched, sequential)).toEqual({ median: 6, min: 4, max: 6, n: 3 });
    expect(median(batched) / median(sequential)).toBeCloseTo(5.6); // what the old, one-shot view would say
    expect(ratioSpread([1, 2], [0, null])).toBeNull();
    expect(() => ratioSpread([1], [1, 2])).toThrow(/numerators/);
  });

  it('median and spread stay within the values and are order-free (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 9 }), (values) => {
        const s = spread(values, 6)!;
        expect(s.min).toBeLessThanOrEqual(s.median);
        expect(s.median).toBeLessThanOrEqual(s.max);
        expect(s.n).toBe(values.length);
        expect(spread([...values].reverse(), 6)).toEqual(s);
      }),
    );
  });

  it('shows one value for one round, median (min–max) otherwise', () => {
    expect(showSpread(spread([5]))).toBe('5.0');
    expect(showSpread(spread([1, 2, 3]), 0)).toBe('2 (1–3)');
    expect(showSpread(null)).toBe('-');
  });
});

describe('arrival schedule', () => {
  it('fixed rate: evenly spaced from 0', () => {
    expect(arrivalSchedule({ count: 4, ratePerSecond: 2, process: 'fixed', seed: 1 })).toEqual([0, 500, 1000, 1500]);
  });

  it('Poisson: seeded (same seed, same schedule), starts at 0, never goes back in time (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 200 }), fc.double({ min: 0.1, max: 100, noNaN: true }), fc.integer(), (count, rate, seed) => {
        const a = arrivalSchedule({ count, ratePerSecond: rate, process: 'poisson', seed });
        expect(a).toEqual(arrivalSchedule({ count, ratePerSecond: rate, process: 'poisson', seed }));
        expect(a).toHaveLength(count);
        if (count > 0) expect(a[0]).toBe(0);
        for (let i = 1; i < a.length; i++) expect(a[i]!).toBeGreaterThanOrEqual(a[i - 1]!);
      }),
    );
  });

  it('Poisson: the mean gap is close to 1/rate over many arrivals, and seeds differ', () => {
    const a = arrivalSchedule({ count: 20_001, ratePerSecond: 4, process: 'poisson', seed: 7 });
    const meanGap = a[a.length - 1]! / (a.length - 1);
    expect(meanGap).toBeGreaterThan(240); // 250 ms ± 4 % (the standard error here is 0.7 %)
    expect(meanGap).toBeLessThan(260);
    expect(arrivalSchedule({ count: 5, ratePerSecond: 4, process: 'poisson', seed: 8 })).not.toEqual(a.slice(0, 5));
  });

  it('refuses a rate that is not positive', () => {
    expect(() => arrivalSchedule({ count: 3, ratePerSecond: 0, process: 'fixed', seed: 1 })).toThrow(/rate/);
  });
});

describe('report over rounds', () => {
  const phase = (tok: number, ttft = 100, wallMs?: number): PhaseSummary => ({ decode_tok_s: tok, ttft_p50_ms: ttft, ttft_p99_ms: 2 * ttft, itl_p50_ms: 10, itl_p99_ms: 20, ...(wallMs ? { wall_ms: wallMs } : {}) });
  const steps = (rows: number, decodeMs: number, tokens: number, prefillMs: number): EngineSteps => ({
    decodeSteps: rows / 4,
    decodeMs,
    decodedRows: rows,
    prefillSteps: 2,
    prefillMs,
    prefillTokens: tokens,
    kvAssembles: 1,
    kvAssembleMs: 5,
    batchSizes: { 4: rows / 4 },
  });
  const roof = (batch: number, tokS: number): RooflineResult => ({ batch, headRows: batch, stepMsMedian: (batch * 1000) / tokS, tokS, gflops: 1, matmuls: 3 });
  // Round 2 is a slow spell for everyone.
  const rounds: RoundResult[] = [
    { load1: 1, batched: { summary: phase(300, 100, 2100), steps: steps(400, 1000, 200, 500) }, sequential: phase(50), int8: { summary: phase(450), steps: steps(400, 500, 200, 500) }, scheduling: {}, kv: {}, rooflineDecode: roof(4, 500), rooflinePrefill: roof(100, 800) },
    { load1: 3, batched: { summary: phase(150, 100, 4200), steps: steps(400, 2000, 200, 1000) }, sequential: phase(25), int8: { summary: phase(300), steps: steps(400, 1000, 200, 1000) }, scheduling: {}, kv: {}, rooflineDecode: roof(4, 250), rooflinePrefill: roof(100, 400) },
    { load1: 2, batched: { summary: phase(280, 100, 2000), steps: steps(400, 1000, 200, 500) }, sequential: phase(70), int8: { summary: phase(420), steps: steps(400, 800, 200, 500) }, scheduling: {}, kv: {}, rooflineDecode: roof(4, 400), rooflinePrefill: roof(100, 800) },
  ];
  const ctx: ReportContext = {
    model: 'm', params: 1e6, concurrency: 4, requests: 4, maxTokens: 8, threads: 2, sequentialCount: 2, kvReserveTokens: 0, steady: null,
    llamacpp: { skipped: '--no-llamacpp' }, kvLabels: {}, parity: [], machine: { cores: 2, loadBefore: [1, 1, 1], loadAfter: [2, 2, 2] },
    int8: {
      method: 'dynamic', op: 'com.microsoft.DynamicQuantizeMatMul', lmHead: 'int8', weightsMb: { fp32: 16, int8: 8 },
      quality: [{
        model: 'assets/models/default', texts: 'eval set', scoredTokens: 100,
        perplexity: { reference: 4, candidate: 4.04, change: 0.01 },
        greedy: { prompts: 2, steps: 64, agreeing: 60, agreement: 0.9375, identical: 1 },
        logits: { maxAbsDiff: 0.5, meanAbsDiff: 0.05 },
      }],
    },
  };

  it('medians per figure, per-round ratios for each side-by-side, decode and prefill steps each against their own roofline', () => {
    const report = buildReport(ctx, rounds);
    expect(report.batched!.decode_tok_s).toMatchObject({ median: 280, min: 150, max: 300 });
    expect(report.ratios.batched_vs_sequential).toMatchObject({ median: 6, min: 4, max: 6 });
    // Decode steps: 400 rows / 1 s = 400 tok/s (800 ms-slow round: 200) against 500, 250, 400.
    expect(report.ratios.decode_steps_vs_roofline).toMatchObject({ median: 0.8, min: 0.8, max: 1 });
    // Prefill steps: 200 tokens / 0.5 s = 400 tok/s against the prefill roofline, not the decode one.
    expect(report.ratios.prefill_steps_vs_roofline).toMatchObject({ median: 0.5, min: 0.5, max: 0.5 });
    expect(report.engine_steps.burst!.mean_decode_batch).toMatchObject({ median: 4 });
    expect(report.ratios.batched_vs_transformersjs).toBeNull();
    // TTFT p99 200 ms against 500 / 1000 / 500 ms of prefill runs.
    expect(report.ratios.burst_ttft_p99_vs_prefill_bound).toMatchObject({ median: 0.4, min: 0.2, max: 0.4 });
    // The whole burst against its compute bound: 200 prefill tokens at 800/400/800 tok/s + 400 decoded rows at
    // 500/250/400 tok/s = 1050/2100/1250 ms, against walls of 2100/4200/2000 ms.
    expect(report.ratios.batched_vs_compute_bound).toMatchObject({ median: 0.5, min: 0.5, max: 0.63 });
    expect(report.ratios.warm_vs_compute_bound).toBeNull();
    expect(report.batched!.wall_ms).toMatchObject({ median: 2100, min: 2000, max: 4200 });
    expect(report.machine).toMatchObject({ cores: 2, loadavg_before: [1, 1, 1], load1_at_round_start: { median: 2, min: 1, max: 3 } });
    const text = renderReport(ctx, report);
    expect(text).toContain('280.0 (150.0–300.0)');
    expect(text).toContain('machine: 2 cores');
    expect(text).toContain('whole burst vs its compute bound (its prefill tokens at the prefill roofline + its decoded rows at the decode roofline): 50% (50–63%)');
  });

  it('the steady state against the decode roofline at its own mean batch, not the burst\'s', () => {
    // Each round: a steady state of 200 rows in 100 steps (batch 2) over 1 s, its own roofline at 2 rows 250 tok/s.
    const steadyRounds = rounds.map((r) => ({
      ...r,
      steady: { summary: phase(150, 100, 4000), steps: { ...steps(200, 1000, 100, 500), decodeSteps: 100 } },
      rooflineSteadyDecode: roof(2, 250),
    }));
    const report = buildReport({ ...ctx, steady: { requests: 16, process: 'poisson', seed: 1, rateReqS: 2, loadFactor: 0.9 } }, steadyRounds);
    expect(report.roofline.steady_decode).toMatchObject({ rows: { median: 2 }, tok_s: { median: 250 } });
    expect(report.ratios.steady_decode_steps_vs_roofline).toMatchObject({ median: 0.8, min: 0.8, max: 0.8 });
    expect(report.ratios.steady_vs_roofline).toMatchObject({ median: 0.6 });
    expect(buildReport(ctx, rounds).roofline.steady_decode).toBeNull();
    const text = renderReport({ ...ctx, steady: { requests: 16, process: 'poisson', seed: 1, rateReqS: 2, loadFactor: 0.9 } }, report);
    expect(text).toContain("the steady state's mean decode batch");
    expect(text).toContain('of the decode roofline at its own mean batch (2 rows)');
  });

  it('the int8 contender: speed-up per round against the same round\'s fp32 burst, and its quality cost', () => {
    const report = buildReport(ctx, rounds);
    if ('skipped' in report.int8) throw new Error('int8 skipped');
    // 450/300, 300/150, 420/280 → 1.5, 2, 1.5; decode steps 1000/500, 2000/1000, 1000/800 ms → 2, 2, 1.25.
    expect(report.int8.speedup_burst).toMatchObject({ median: 1.5, min: 1.5, max: 2 });
    expect(report.int8.speedup_decode_steps).toMatchObject({ median: 2, min: 1.25, max: 2 });
    expect(report.int8.quality[0]).toMatchObject({ perplexity_change: 0.01, greedy_agreement: 0.9375, greedy_identical: '1/2' });
    const text = renderReport(ctx, report);
    expect(text).toContain('worldmind batched, int8 weights');
    expect(text).toContain('perplexity 4.00 → 4.04 (+1.00%), greedy agreement 93.8% of 64 steps');
    expect(renderReport({ ...ctx, int8: { skipped: '--no-int8' } }, buildReport({ ...ctx, int8: { skipped: '--no-int8' } }, rounds))).toContain('int8 weights: - (--no-int8)');
  });
});
