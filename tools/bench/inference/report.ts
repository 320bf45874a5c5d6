/**
 * bench:inference's output from its rounds: one JSON object (every figure as median with min–max over the
 * rounds, every ratio as the median of the per-round ratios) and the table printed from it.
 */
import type { QualityComparison } from '../../quantize/quality.ts';
import { table } from '../stats.ts';
import type { PhaseSummary } from './phase-stats.ts';
import { computeBoundMs, stepRates } from './phase-stats.ts';
import type { EnginePhase, RoundResult } from './rounds.ts';
import { ratioSpread, roundTo, showSpread, spread, type Spread } from './rounds-stats.ts';

export interface ReportContext {
  model: string;
  params: number;
  concurrency: number;
  requests: number;
  maxTokens: number;
  threads: number;
  sequentialCount: number;
  /** Decode KV tokens per row the Worldmind engines reserved at start (0: none). */
  kvReserveTokens: number;
  steady: { requests: number; process: string; seed: number; rateReqS: number; loadFactor: number | null } | null;
  llamacpp: { version: string; weights: string } | { skipped: string };
  kvLabels: Record<string, string>;
  /** The int8 contender: how its weights were made and what they cost in quality (measured once, before the rounds). */
  int8: Int8Context | { skipped: string };
  parity: unknown[];
  machine: { cores: number; loadBefore: number[]; loadAfter: number[] };
}

export interface Int8Context {
  method: string;
  op: string;
  lmHead: string;
  weightsMb: { fp32: number; int8: number };
  /** Per model compared (the trained default model, the bench model): on what, and the comparison. */
  quality: Array<{ model: string; texts: string } & QualityComparison>;
}

type SpreadSummary = Record<keyof PhaseSummary, Spread | null>;

const PHASE_KEYS: Array<keyof PhaseSummary> = ['decode_tok_s', 'wall_ms', 'ttft_p50_ms', 'ttft_p99_ms', 'ttft_mean_ms', 'itl_p50_ms', 'itl_p99_ms', 'queue_p50_ms', 'queue_p99_ms'];

function phaseSpread(summaries: ReadonlyArray<PhaseSummary | undefined>): SpreadSummary | null {
  if (summaries.every((s) => s === undefined)) return null;
  const out = {} as SpreadSummary;
  for (const key of PHASE_KEYS) {
    const s = spread(summaries.map((x) => x?.[key]));
    if (s) out[key] = s;
  }
  return out;
}

function stepSpread(phases: ReadonlyArray<EnginePhase | undefined>) {
  const rates = phases.map((p) => (p ? stepRates(p.steps) : undefined));
  if (rates.every((r) => r === undefined)) return null;
  return {
    decode_tok_s: spread(rates.map((r) => r?.decode_tok_s)),
    prefill_tok_s: spread(rates.map((r) => r?.prefill_tok_s)),
    mean_decode_batch: spread(rates.map((r) => r?.mean_decode_batch), 1),
    mean_prefill_tokens: spread(rates.map((r) => r?.mean_prefill_tokens), 0),
    decode_step_ms: spread(phases.map((p) => (p && p.steps.decodeSteps > 0 ? p.steps.decodeMs / p.steps.decodeSteps : null)), 1),
    prefill_step_ms: spread(phases.map((p) => (p && p.steps.prefillSteps > 0 ? p.steps.prefillMs / p.steps.prefillSteps : null)), 1),
    kv_assemble_ms: spread(phases.map((p) => p?.steps.kvAssembleMs), 0),
    prefill_tokens: spread(phases.map((p) => p?.steps.prefillTokens), 0),
    // The last first token cannot come before every uncached prompt token is prefilled: tokens ÷ measured prefill rate.
    prefill_bound_ms: spread(phases.map((p) => p?.steps.prefillMs), 0),
  };
}

export function buildReport(ctx: ReportContext, rounds: readonly RoundResult[]) {
  const col = <T>(f: (r: RoundResult) => T) => rounds.map(f);
  const batchedTok = col((r) => r.batched.summary.decode_tok_s);
  const batchedSteps = col((r) => stepRates(r.batched.steps));
  const steadySteps = col((r) => (r.steady ? stepRates(r.steady.steps) : undefined));
  const warmSteps = col((r) => (r.warm ? stepRates(r.warm.steps) : undefined));
  const decodeRoof = col((r) => r.rooflineDecode.tokS);
  const prefillRoof = col((r) => r.rooflinePrefill.tokS);
  const steadyRoof = col((r) => r.rooflineSteadyDecode?.tokS);
  const kvStrategies = Object.keys(rounds[0]?.kv ?? {}) as Array<keyof RoundResult['kv']>;
  const schedulingNames = Object.keys(rounds[0]?.scheduling ?? {});
  return {
    model: ctx.model,
    params: ctx.params,
    concurrency: ctx.concurrency,
    requests: ctx.requests,
    max_tokens: ctx.maxTokens,
    threads: ctx.threads,
    kv_reserve_tokens: ctx.kvReserveTokens,
    rounds: rounds.length,
    machine: {
      cores: ctx.machine.cores,
      loadavg_before: ctx.machine.loadBefore.map((x) => Math.round(x * 100) / 100),
      loadavg_after: ctx.machine.loadAfter.map((x) => Math.round(x * 100) / 100),
      load1_at_round_start: spread(col((r) => r.load1)),
    },
    batched: phaseSpread(col((r) => r.batched.summary)),
    // The second burst on the same engine, its decode buffers warm (a running server).
    warm: phaseSpread(col((r) => r.warm?.summary)),
    steady: ctx.steady
      ? {
          requests: ctx.steady.requests,
          arrivals: ctx.steady.process,
          seed: ctx.steady.seed,
          offered_req_s: Math.round(ctx.steady.rateReqS * 1000) / 1000,
          load_factor: ctx.steady.loadFactor,
          ...phaseSpread(col((r) => r.steady?.summary)),
        }
      : null,
    sequential: phaseSpread(col((r) => r.sequential)),
    int8:
      'skipped' in ctx.int8
        ? ctx.int8
        : {
            method: ctx.int8.method,
            op: ctx.int8.op,
            lm_head: ctx.int8.lmHead,
            weights_mb: ctx.int8.weightsMb,
            batched: phaseSpread(col((r) => r.int8?.summary)),
            decode_step_ms: stepSpread(col((r) => r.int8))?.decode_step_ms ?? null,
            // Per round, the int8 burst against the fp32 burst of the same round.
            speedup_burst: ratioSpread(col((r) => r.int8?.summary.decode_tok_s), batchedTok),
            speedup_decode_steps: ratioSpread(col((r) => (r.int8 ? stepRates(r.int8.steps).decode_tok_s : undefined)), batchedSteps.map((s) => s.decode_tok_s)),
            quality: ctx.int8.quality.map((q) => ({
              model: q.model,
              texts: q.texts,
              scored_tokens: q.scoredTokens,
              perplexity_fp32: roundTo(q.perplexity.reference, 3),
              perplexity_int8: roundTo(q.perplexity.candidate, 3),
              perplexity_change: roundTo(q.perplexity.change, 5),
              greedy_agreement: roundTo(q.greedy.agreement, 4),
              greedy_steps: q.greedy.steps,
              greedy_identical: `${q.greedy.identical}/${q.greedy.prompts}`,
              logits_max_abs_diff: roundTo(q.logits.maxAbsDiff, 4),
              logits_mean_abs_diff: roundTo(q.logits.meanAbsDiff, 5),
            })),
          },
    // The burst under other scheduler settings, each with its own TTFT p99 against its own compute bound.
    scheduling_compare: Object.fromEntries(
      schedulingNames.map((name) => {
        const phase = col((r) => r.scheduling?.[name]);
        return [
          name,
          {
            ...phaseSpread(phase.map((p) => p?.summary)),
            prefill_bound_ms: spread(phase.map((p) => p?.steps.prefillMs), 0),
            ttft_p99_vs_prefill_bound: ratioSpread(phase.map((p) => p?.summary.ttft_p99_ms), phase.map((p) => p?.steps.prefillMs)),
          },
        ];
      }),
    ),
    kv_compare: Object.fromEntries(
      kvStrategies.map((k) => [k, { ...phaseSpread(col((r) => r.kv[k]?.summary)), kv_assemble_ms: spread(col((r) => r.kv[k]?.steps.kvAssembleMs), 0), decode_step_ms: stepSpread(col((r) => r.kv[k]))?.decode_step_ms ?? null }]),
    ),
    transformersjs: phaseSpread(col((r) => r.transformersjs)),
    llamacpp: 'skipped' in ctx.llamacpp ? ctx.llamacpp : { ...ctx.llamacpp, ...phaseSpread(col((r) => r.llamacpp)) },
    llamacpp_parity: ctx.parity,
    engine_steps: { burst: stepSpread(col((r) => r.batched)), warm: stepSpread(col((r) => r.warm)), steady: stepSpread(col((r) => r.steady)) },
    roofline: {
      decode: { rows: ctx.concurrency, tok_s: spread(decodeRoof), step_ms: spread(col((r) => r.rooflineDecode.stepMsMedian), 1), gflops: spread(col((r) => r.rooflineDecode.gflops), 1) },
      prefill: { tokens: spread(col((r) => r.rooflinePrefill.batch), 0), head_rows: spread(col((r) => r.rooflinePrefill.headRows), 0), tok_s: spread(prefillRoof), step_ms: spread(col((r) => r.rooflinePrefill.stepMsMedian), 1), gflops: spread(col((r) => r.rooflinePrefill.gflops), 1) },
      steady_decode: rounds.some((r) => r.rooflineSteadyDecode)
        ? { rows: spread(col((r) => r.rooflineSteadyDecode?.batch), 0), tok_s: spread(steadyRoof), step_ms: spread(col((r) => r.rooflineSteadyDecode?.stepMsMedian), 1), gflops: spread(col((r) => r.rooflineSteadyDecode?.gflops), 1) }
        : null,
    },
    ratios: {
      batched_vs_sequential: ratioSpread(batchedTok, col((r) => r.sequential.decode_tok_s)),
      batched_vs_transformersjs: ratioSpread(batchedTok, col((r) => r.transformersjs?.decode_tok_s)),
      batched_vs_llamacpp: ratioSpread(batchedTok, col((r) => r.llamacpp?.decode_tok_s)),
      // Whole phase (prefills, scheduling, ramp-up and tail included) against the decode roofline.
      batched_vs_roofline: ratioSpread(batchedTok, decodeRoof),
      decode_steps_vs_roofline: ratioSpread(batchedSteps.map((s) => s.decode_tok_s), decodeRoof),
      prefill_steps_vs_roofline: ratioSpread(batchedSteps.map((s) => s.prefill_tok_s), prefillRoof),
      // The steady state against the decode roofline at its own mean decode batch (roofline.steady_decode).
      steady_vs_roofline: ratioSpread(col((r) => r.steady?.summary.decode_tok_s), steadyRoof),
      steady_decode_steps_vs_roofline: ratioSpread(steadySteps.map((s) => s?.decode_tok_s), steadyRoof),
      burst_ttft_p99_vs_prefill_bound: ratioSpread(col((r) => r.batched.summary.ttft_p99_ms), col((r) => r.batched.steps.prefillMs)),
      warm_vs_sequential: ratioSpread(col((r) => r.warm?.summary.decode_tok_s), col((r) => r.sequential.decode_tok_s)),
      warm_vs_roofline: ratioSpread(col((r) => r.warm?.summary.decode_tok_s), decodeRoof),
      warm_decode_steps_vs_roofline: ratioSpread(warmSteps.map((s) => s?.decode_tok_s), decodeRoof),
      warm_burst_ttft_p99_vs_prefill_bound: ratioSpread(col((r) => r.warm?.summary.ttft_p99_ms), col((r) => r.warm?.steps.prefillMs)),
      // The whole burst against its own compute bound: its prefill at the prefill roofline plus its decoding at the decode one.
      batched_vs_compute_bound: ratioSpread(col((r) => computeBoundMs(r.batched.steps, r.rooflineDecode.tokS, r.rooflinePrefill.tokS)), col((r) => r.batched.summary.wall_ms)),
      warm_vs_compute_bound: ratioSpread(col((r) => (r.warm ? computeBoundMs(r.warm.steps, r.rooflineDecode.tokS, r.rooflinePrefill.tokS) : null)), col((r) => r.warm?.summary.wall_ms)),
    },
  };
}

export type Report = ReturnType<typeof buildReport>;

/** The human-readable view of the same report: a header, one table, the ratios, the machine's load. */
export function renderReport(ctx: ReportContext, report: Report): string {
  const s1 = (s: Spread | null | undefined, digits = 1) => showSpread(s ?? null, digits);
  const phaseRow = (name: string, workload: string, p: SpreadSummary | null, notes = ''): string[] | null =>
    p ? [name, workload, s1(p.decode_tok_s), s1(p.ttft_p50_ms, 0), s1(p.ttft_p99_ms, 0), s1(p.itl_p50_ms), s1(p.itl_p99_ms), s1(p.queue_p99_ms, 0), notes] : null;
  const burst = `burst ${ctx.requests}`;
  const steady = ctx.steady ? `${ctx.steady.requests} @ ${ctx.steady.rateReqS.toFixed(2)}/s` : '';
  const e = report.engine_steps;
  const stepRows = (name: string, workload: string, s: NonNullable<typeof e.burst> | null): string[][] =>
    s
      ? [
          [`${name} decode steps`, workload, s1(s.decode_tok_s), '', '', '', '', '', `batch ${s1(s.mean_decode_batch)}, ${s1(s.decode_step_ms)} ms/step`],
          [`${name} prefill steps`, workload, s1(s.prefill_tok_s), '', '', '', '', '', `${s1(s.mean_prefill_tokens, 0)} tokens/step, ${s1(s.prefill_step_ms)} ms/step`],
        ]
      : [];
  const r = report.roofline;
  const llamaName = 'skipped' in ctx.llamacpp ? 'node-llama-cpp' : `node-llama-cpp ${ctx.llamacpp.version} ${ctx.llamacpp.weights}`;
  const rows = [
    phaseRow('worldmind batched', burst, report.batched, `fresh engine${ctx.kvReserveTokens > 0 ? ` (${ctx.kvReserveTokens} KV tokens/row reserved at start)` : ''}; in-place KV: ${s1(e.burst?.kv_assemble_ms, 0)} ms re-layouts`),
    phaseRow('worldmind batched, warm', burst, report.warm, `2nd burst, same engine: ${s1(e.warm?.kv_assemble_ms, 0)} ms re-layouts`),
    'skipped' in report.int8 ? null : phaseRow('worldmind batched, int8 weights', burst, report.int8.batched, `${report.int8.op}, decode ${s1(report.int8.decode_step_ms)} ms/step`),
    report.steady ? phaseRow('worldmind steady state', steady, report.steady as unknown as SpreadSummary, `${ctx.steady!.process}, seed ${ctx.steady!.seed}`) : null,
    ...Object.entries(report.kv_compare).map(([k, p]) =>
      phaseRow(`  ${ctx.kvLabels[k] ?? k}`, burst, p as unknown as SpreadSummary, `${s1(p.kv_assemble_ms, 0)} ms re-layouts, decode ${s1(p.decode_step_ms)} ms/step`),
    ),
    phaseRow('worldmind one at a time', `${ctx.sequentialCount} in turn`, report.sequential),
    phaseRow('transformers.js', burst, report.transformersjs),
    'skipped' in report.llamacpp ? null : phaseRow(llamaName, burst, report.llamacpp as unknown as SpreadSummary),
    ...stepRows('engine', 'burst', e.burst),
    ...stepRows('engine', 'warm burst', e.warm),
    ...stepRows('engine', 'steady', e.steady),
    ['roofline decode (MatMuls)', `${r.decode.rows} rows`, s1(r.decode.tok_s), '', '', '', '', '', `${s1(r.decode.step_ms)} ms/step, ${s1(r.decode.gflops)} GFLOP/s`],
    r.steady_decode
      ? ['roofline decode (MatMuls)', `${s1(r.steady_decode.rows, 0)} rows`, s1(r.steady_decode.tok_s), '', '', '', '', '', `the steady state's mean decode batch, ${s1(r.steady_decode.step_ms)} ms/step, ${s1(r.steady_decode.gflops)} GFLOP/s`]
      : null,
    ['roofline prefill (MatMuls)', `${s1(r.prefill.tokens, 0)} tokens`, s1(r.prefill.tok_s), '', '', '', '', '', `LM head on ${s1(r.prefill.head_rows, 0)} rows, ${s1(r.prefill.step_ms)} ms/step, ${s1(r.prefill.gflops)} GFLOP/s`],
  ].filter((x): x is string[] => x !== null);
  const q = report.ratios;
  const x = (s: Spread | null) => (s ? `${showSpread(s, 2)}×` : '-');
  const pct = (s: Spread | null) => (s ? `${(s.median * 100).toFixed(0)}%${s.n > 1 && s.min !== s.max ? ` (${(s.min * 100).toFixed(0)}–${(s.max * 100).toFixed(0)}%)` : ''}` : '-');
  const m = report.machine;
  const loads = (l: number[]) => l.map((v) => v.toFixed(2)).join('/');
  return [
    '',
    `${ctx.model} (${(ctx.params / 1e6).toFixed(1)}M params), concurrency ${ctx.concurrency}, ${ctx.maxTokens} tokens per request, ${ctx.threads} threads; ${report.rounds === 1 ? 'one round (no spread)' : `medians of ${report.rounds} interleaved rounds (min–max)`}`,
    `machine: ${m.cores} cores; load average (1/5/15 min) ${loads(m.loadavg_before)} before, ${loads(m.loadavg_after)} after; 1-min load at each round's start ${s1(m.load1_at_round_start, 2)}`,
    '',
    table(['contender', 'workload', 'tok/s', 'TTFT p50 ms', 'TTFT p99 ms', 'ITL p50 ms', 'ITL p99 ms', 'queue p99 ms', 'notes'], rows),
    '',
    `ratios (median of the per-round ratios, min–max): batched/one-at-a-time ${x(q.batched_vs_sequential)}, batched/transformers.js ${x(q.batched_vs_transformersjs)}, batched/node-llama-cpp ${'skipped' in ctx.llamacpp ? `- (${ctx.llamacpp.skipped})` : x(q.batched_vs_llamacpp)}`,
    `burst TTFT p99 ${s1(report.batched?.ttft_p99_ms, 0)} ms vs its compute bound ${s1(e.burst?.prefill_bound_ms, 0)} ms (${s1(e.burst?.prefill_tokens, 0)} uncached prompt tokens ÷ the measured prefill rate): ${x(q.burst_ttft_p99_vs_prefill_bound)}; TTFT mean ${s1(report.batched?.ttft_mean_ms, 0)} ms, ITL p99 ${s1(report.batched?.itl_p99_ms, 0)} ms`,
    ...(report.warm
      ? [
          `warm burst (2nd, same engine): TTFT p99 ${s1(report.warm.ttft_p99_ms, 0)} ms vs its compute bound ${s1(e.warm?.prefill_bound_ms, 0)} ms: ${x(q.warm_burst_ttft_p99_vs_prefill_bound)}; ${s1(report.warm.decode_tok_s)} tok/s = ${x(q.warm_vs_sequential)} one at a time, ${pct(q.warm_vs_roofline)} of the decode roofline (its decode steps ${pct(q.warm_decode_steps_vs_roofline)}); ITL p99 ${s1(report.warm.itl_p99_ms, 0)} ms`,
        ]
      : []),
    ...Object.entries(report.scheduling_compare).map(
      ([name, p]) =>
        `  ${name}: burst TTFT p99 ${s1(p.ttft_p99_ms, 0)} ms vs its bound ${s1(p.prefill_bound_ms, 0)} ms: ${x(p.ttft_p99_vs_prefill_bound)}; TTFT mean ${s1(p.ttft_mean_ms, 0)} ms, ITL p99 ${s1(p.itl_p99_ms, 0)} ms, ${s1(p.decode_tok_s)} tok/s`,
    ),
    int8Line(report.int8, x),
    `vs roofline: decode steps ${pct(q.decode_steps_vs_roofline)} and whole burst ${pct(q.batched_vs_roofline)} of the decode roofline; prefill steps ${pct(q.prefill_steps_vs_roofline)} of the prefill roofline; steady state ${r.steady_decode ? `${pct(q.steady_vs_roofline)} (its decode steps ${pct(q.steady_decode_steps_vs_roofline)}) of the decode roofline at its own mean batch (${s1(r.steady_decode.rows, 0)} rows)` : '-'}`,
    `whole burst vs its compute bound (its prefill tokens at the prefill roofline + its decoded rows at the decode roofline): ${pct(q.batched_vs_compute_bound)}${report.warm ? `, warm burst ${pct(q.warm_vs_compute_bound)}` : ''}`,
    '',
  ].join('\n');
}

function int8Line(int8: Report['int8'], x: (s: Spread | null) => string): string {
  if ('skipped' in int8) return `int8 weights: - (${int8.skipped})`;
  const quality = int8.quality.map(
    (q) =>
      `${q.model} (${q.texts}): perplexity ${q.perplexity_fp32.toFixed(2)} → ${q.perplexity_int8.toFixed(2)} (${q.perplexity_change >= 0 ? '+' : ''}${(q.perplexity_change * 100).toFixed(2)}%), ` +
      `greedy agreement ${(q.greedy_agreement * 100).toFixed(1)}% of ${q.greedy_steps} steps (identical ${q.greedy_identical}), logits max |Δ| ${q.logits_max_abs_diff.toFixed(3)} (mean ${q.logits_mean_abs_diff.toFixed(4)})`,
  );
  return [
    `int8 weights (${int8.op}, LM head ${int8.lm_head}; weights ${int8.weights_mb.fp32.toFixed(0)} → ${int8.weights_mb.int8.toFixed(0)} MB): burst ${x(int8.speedup_burst)}, decode steps ${x(int8.speedup_decode_steps)} the fp32 engine's tok/s`,
    ...quality.map((line) => `  quality, ${line}`),
  ].join('\n');
}
