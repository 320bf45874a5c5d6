/**
 * npm run bench:inference -- [--preset smollm2-135m-shape] [--concurrency 32] [--requests N] [--max-tokens M]
 *                            [--rounds R] [--steady-requests S] [--steady-load F | --arrival-rate X]
 *                            [--arrivals poisson|fixed] [--seed K] [--threads T] [--sequential-requests K]
 *                            [--no-transformersjs] [--no-kv-compare] [--no-scheduling-compare] [--no-llamacpp] [--llamacpp-weights f32|f16]
 *                            [--parity-model <dir>] [--parity-only] [--no-int8] [--int8-method matmul-nbits|dynamic] [--no-warm-burst] [--kv-reserve-tokens N|auto (default 0)] [--profile] [--json]
 *
 * Serves synthetic NPC conversations (a few shared personas, distinct player lines) with every contender —
 * Worldmind's engine batched, the same engine one request at a time, the engine on int8 weights (tools/quantize;
 * its quality cost against fp32 measured once before the rounds), the engine with other scheduling settings
 * (burst: each first-token lever alone, and neither), the engine with the standard graph's KV handling, transformers.js, node-llama-cpp (llama.cpp's kernels on the same weights exported to GGUF,
 * installed on demand into data/cache/node-llama-cpp, see llamacpp-phase.ts) and the MatMul roofline —
 * interleaved in R rounds (inference/rounds.ts), and reports every figure as the median over the rounds with
 * its min–max, every ratio as the median of the per-round ratios (inference/report.ts). Workloads: the
 * one-wave burst (N requests at once, the concurrency in flight; every contender, each on a fresh engine, so
 * its decode buffers are new memory), the same burst size again right after on the same engine (other player
 * lines; the buffers warm, as on a running server) and the steady state (S
 * requests, default 4× the concurrency, arriving on a seeded Poisson or fixed-rate schedule; the engine).
 * The engine's own step counters split its time into decode steps and prefill runs, each set against the
 * roofline at its own shape (decode: the concurrency in rows; prefill: the mean tokens a prefill run computed
 * in that round's burst). The machine's load average is printed beside, to tell a noisy run.
 * Every contender generates exactly M tokens per request (EOS disabled) from the same prompt tokens; the
 * personas are prefilled once before the timed phases (a server does that once per NPC). --profile adds, after
 * the rounds, where one decode step's time goes (inference/step-profile.ts: onnxruntime's profiler on the
 * engine's own graph at the burst's decode shape).
 */
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseCliArgs } from '../../server/src/cli-args.ts';
import type { KvStrategy } from '../../server/src/inference/engine/step-runner.ts';
import { DEFAULT_SCHEDULER } from '../../server/src/inference/engine/engine-client.ts';
import { arrivalSchedule, type ArrivalProcess } from './inference/arrivals.ts';
import { benchCacheRoot, ensureBenchModel } from './inference/model-cache.ts';
import { cachedGguf, greedyParity, type ParityResult } from './inference/llamacpp-phase.ts';
import type { PhaseSummary } from './inference/phase-stats.ts';
import { buildReport, renderReport, type ReportContext } from './inference/report.ts';
import { runRound, type RoundConfig, type RoundResult, type SchedulingVariant } from './inference/rounds.ts';
import { loadNodeLlamaCpp, NODE_LLAMA_CPP_VERSION } from '../gguf/node-llama-cpp.ts';
import { buildWorkload, PERSONAS, type BenchRequest } from './inference/workload.ts';
import { profileDecodeStep } from './inference/step-profile.ts';
import { profileJson, renderProfile } from './ort-profile.ts';
import { prepareInt8, type Int8Setup } from './inference/int8-phase.ts';
import { QUANTIZATION_METHODS, type QuantizationMethod } from '../quantize/quantize-model.ts';

const USAGE = `usage: npm run bench:inference -- [--preset smollm2-135m-shape] [--concurrency 32] [--requests N] [--max-tokens 64]
                                  [--rounds 3] [--steady-requests S] [--steady-load 0.9 | --arrival-rate X]
                                  [--arrivals poisson|fixed] [--seed 1] [--threads T] [--sequential-requests K]
                                  [--no-transformersjs] [--no-kv-compare] [--no-scheduling-compare] [--no-llamacpp]
                                  [--llamacpp-weights f32|f16] [--parity-model <dir>] [--parity-only] [--no-int8] [--int8-method dynamic|matmul-nbits] [--no-warm-burst] [--kv-reserve-tokens N|auto (default 0)] [--profile] [--json]

Serves synthetic NPC conversations with Worldmind's engine batched, one request at a time, on int8 weights
(npm run quantize --method --int8-method; perplexity change, greedy agreement and logit error against fp32 on
the eval set are measured once first, on --parity-model and the bench model), with other scheduling settings
(the burst with neither first-token lever, shortest-prompt-first alone, the decode share alone;
--no-scheduling-compare skips them), with the standard graph's KV handling, transformers.js, node-llama-cpp (installed on demand into data/cache/node-llama-cpp,
~700 MB; its greedy tokens are first checked against ours on --parity-model, default assets/models/default,
and on the bench model) and the MatMul roofline, interleaved in --rounds rounds: medians with min–max, ratios
as medians of per-round ratios, the machine's load beside; a table, then one JSON line (--json: only the line).
Workloads: a burst of --requests (default: the concurrency) at once, then a second burst of as many other
player lines on the same engine, its decode buffers still warm (a running server; --no-warm-burst skips it),
and a steady state of --steady-requests
(default 4x the concurrency; 0: none) arriving --arrivals poisson (or fixed) at --arrival-rate requests/s, by
default --steady-load x the request rate the first round's warm burst (without it, the burst) achieved; seeded by --seed.
--llamacpp-weights f16: node-llama-cpp serves an f16 export (llama.cpp's usual precision) instead of the
same f32 weights. --parity-only: only the node-llama-cpp greedy check on --parity-model (one JSON line).
--profile: after the rounds, where one decode step's time goes (onnxruntime's profiler on the engine's graph at
the concurrency in rows over the burst's mean decode context): linears, LM head, attention, the other ops and
the time between kernels; decode_profile in the JSON (and decode_profile_int8 for the int8 weights).
`;

/** The burst's first-token levers apart (the batched engine runs with both, the defaults). */
const SCHEDULING_VARIANTS: SchedulingVariant[] = [
  { name: 'neither (admission order, a decode run every step)', scheduler: { prefillOrder: 'admission', decodeShareWhilePrefilling: 1 } },
  { name: 'shortest-prompt-first alone', scheduler: { prefillOrder: 'shortest', decodeShareWhilePrefilling: 1 } },
  { name: `decode share ${DEFAULT_SCHEDULER.decodeShareWhilePrefilling} alone`, scheduler: { prefillOrder: 'admission', decodeShareWhilePrefilling: DEFAULT_SCHEDULER.decodeShareWhilePrefilling } },
];

const { values: args } = parseCliArgs('bench:inference', USAGE, {
  options: {
    preset: { type: 'string', default: 'smollm2-135m-shape' },
    concurrency: { type: 'string', default: '32' },
    requests: { type: 'string' },
    'max-tokens': { type: 'string', default: '64' },
    threads: { type: 'string' },
    'sequential-requests': { type: 'string' },
    'no-transformersjs': { type: 'boolean', default: false },
    'no-kv-compare': { type: 'boolean', default: false },
    'no-scheduling-compare': { type: 'boolean', default: false },
    'no-llamacpp': { type: 'boolean', default: false },
    'parity-model': { type: 'string', default: 'assets/models/default' },
    'parity-only': { type: 'boolean', default: false },
    'no-int8': { type: 'boolean', default: false },
    'no-warm-burst': { type: 'boolean', default: false },
    'kv-reserve-tokens': { type: 'string', default: '0' },
    profile: { type: 'boolean', default: false },
    'int8-method': { type: 'string', default: 'dynamic' },
    'llamacpp-weights': { type: 'string', default: 'f32' },
    rounds: { type: 'string', default: '3' },
    'steady-requests': { type: 'string' },
    'steady-load': { type: 'string', default: '0.9' },
    'arrival-rate': { type: 'string' },
    arrivals: { type: 'string', default: 'poisson' },
    seed: { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
  },
});

const fail = (line: string): never => {
  console.error(`bench:inference: ${line}`);
  process.exit(2);
};
const integer = (name: string, value: string | undefined, fallback: number, min = 1): number => {
  const n = value === undefined ? fallback : Number(value);
  if (!Number.isInteger(n) || n < min) fail(`--${name} must be an integer ≥ ${min}, got ${value}`);
  return n;
};
const positive = (name: string, value: string | undefined, fallback: number) => integer(name, value, fallback, 1);
const positiveReal = (name: string, value: string): number => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) fail(`--${name} must be a positive number, got ${value}`);
  return n;
};
const concurrency = positive('concurrency', args.concurrency, 32);
const requestCount = positive('requests', args.requests, concurrency);
const maxTokens = positive('max-tokens', args['max-tokens'], 64);
const threads = positive('threads', args.threads, availableParallelism());
// One-at-a-time rates don't depend on how many requests run; a sample keeps the command's run time sane.
const sequentialCount = Math.min(requestCount, positive('sequential-requests', args['sequential-requests'], 8));
if (args['llamacpp-weights'] !== 'f32' && args['llamacpp-weights'] !== 'f16') {
  console.error(`bench:inference: --llamacpp-weights must be f32 or f16, got ${args['llamacpp-weights']}`);
  process.exit(2);
}
const llamacppWeights = args['llamacpp-weights'] as 'f32' | 'f16';
if (!(QUANTIZATION_METHODS as readonly string[]).includes(args['int8-method']!)) fail(`--int8-method must be ${QUANTIZATION_METHODS.join(' or ')}, got ${args['int8-method']}`);
const int8Method = args['int8-method'] as QuantizationMethod;
const rounds = positive('rounds', args.rounds, 3);
const steadyCount = integer('steady-requests', args['steady-requests'], 4 * concurrency, 0);
const steadyLoad = positiveReal('steady-load', args['steady-load']!);
const arrivalRate = args['arrival-rate'] === undefined ? undefined : positiveReal('arrival-rate', args['arrival-rate']);
if (args.arrivals !== 'poisson' && args.arrivals !== 'fixed') fail(`--arrivals must be poisson or fixed, got ${args.arrivals}`);
const arrivalProcess = args.arrivals as ArrivalProcess;
const seed = integer('seed', args.seed, 1, 0);
const log = (message: string) => process.stderr.write(`[bench:inference] ${message}\n`);

/** --parity-only: does llama.cpp, on the exported file, produce our greedy tokens? */
async function parityOnly(): Promise<void> {
  const dir = args['parity-model']!;
  if (!existsSync(join(dir, 'config.json'))) fail(`--parity-model ${dir} is not a model directory`);
  const loaded = await loadNodeLlamaCpp({ install: true, log });
  if (!loaded.ok) {
    console.log(JSON.stringify({ llamacpp_parity: null, skipped: loaded.reason }));
    return;
  }
  const gguf = cachedGguf(dir, join(benchCacheRoot(), 'gguf'), basename(resolve(dir)), log);
  const p = await greedyParity(loaded.module, dir, gguf, 32, threads);
  for (const [i, d] of p.details.entries()) log(`prompt ${i + 1}: ${d.agree}/${d.tokens} leading tokens agree${d.agree < d.tokens ? ` (ours ${d.ours.slice(d.agree, d.agree + 3).join(',')}…, llama.cpp ${d.theirs.slice(d.agree, d.agree + 3).join(',')}…)` : ''}`);
  console.log(JSON.stringify({ llamacpp_parity: { model: p.model, version: NODE_LLAMA_CPP_VERSION, prompts: p.prompts, identical: p.matched, tokenizer_identical: p.tokenizerMatched, agree: p.details.map((d) => `${d.agree}/${d.tokens}`) } }));
}

/** Loads node-llama-cpp (installing it on first use), exports the GGUFs and checks greedy parity, once before the rounds. */
async function prepareLlamaCpp(modelDir: string): Promise<{ config?: RoundConfig['llamacpp']; skipped?: string; parity: ParityResult[] }> {
  if (args['no-llamacpp']) return { skipped: '--no-llamacpp', parity: [] };
  const loaded = await loadNodeLlamaCpp({ install: true, log });
  if (!loaded.ok) {
    log(`node-llama-cpp: skipped — ${loaded.reason}`);
    return { skipped: loaded.reason, parity: [] };
  }
  const ggufDir = join(benchCacheRoot(), 'gguf');
  const benchGguf = cachedGguf(modelDir, ggufDir, `${args.preset}-seed0`, log);
  const servedGguf = llamacppWeights === 'f16' ? cachedGguf(modelDir, ggufDir, `${args.preset}-seed0-f16`, log, 'f16') : benchGguf;
  const parity: ParityResult[] = [];
  for (const [dir, name] of [[args['parity-model']!, 'parity-model'], [modelDir, `${args.preset}-seed0`]] as const) {
    if (!existsSync(join(dir, 'config.json'))) {
      log(`parity: ${dir} is not a model directory, skipped`);
      continue;
    }
    log(`node-llama-cpp: greedy parity on ${dir}...`);
    const result = await greedyParity(loaded.module, dir, name === 'parity-model' ? cachedGguf(dir, ggufDir, basename(resolve(dir)), log) : benchGguf, 32, threads);
    log(`  ${result.matched}/${result.prompts} greedy replies identical, tokenizer identical on ${result.tokenizerMatched}/${result.prompts}; agreeing leading tokens ${result.details.map((d) => `${d.agree}/${d.tokens}`).join(', ')}`);
    parity.push(result);
  }
  // Our engine bans its EOS ids for the bench; llama.cpp gets the same ids as never-sample biases.
  return { config: { module: loaded.module, gguf: servedGguf, banned: eosTokenIds(modelDir) }, parity };
}

async function main(): Promise<void> {
  if (args['parity-only']) return parityOnly();
  const model = ensureBenchModel(args.preset!);
  log(`${model.built ? 'built' : 'reusing'} ${args.preset} in ${model.dir}`);
  const params = Number(readFileSync(join(model.dir, '.bench-complete'), 'utf8'));
  const warmCount = args['no-warm-burst'] ? 0 : requestCount;
  const { requests: all, personaTokens } = buildWorkload(model.dir, requestCount + steadyCount + warmCount);
  const burst = all.slice(0, requestCount);
  const steady = all.slice(requestCount, requestCount + steadyCount);
  const warmBurst = all.slice(requestCount + steadyCount);
  const promptLengths = all.map((r) => r.promptTokens.length);
  // What a studio sets INFERENCE_KV_RESERVE_TOKENS to: its longest prompt plus the reply's token cap.
  const kvReserveTokens = args['kv-reserve-tokens'] === 'auto' ? Math.max(...promptLengths) + maxTokens : Number(args['kv-reserve-tokens']);
  if (!Number.isInteger(kvReserveTokens) || kvReserveTokens < 0) fail(`--kv-reserve-tokens must be auto or a non-negative integer, got "${args['kv-reserve-tokens']}"`);
  log(`workload: ${all.length} conversations (burst ${burst.length}, warm burst ${warmBurst.length}, steady ${steady.length}), ${personaTokens.length} personas of ${personaTokens.join('/')} tokens, prompts ${Math.min(...promptLengths)}–${Math.max(...promptLengths)} tokens, ${maxTokens} new tokens each; engines reserve ${kvReserveTokens} KV tokens per row at start`);

  const llamacpp = await prepareLlamaCpp(model.dir);
  const int8: Int8Setup | undefined = args['no-int8'] ? undefined : await prepareInt8(
        model.dir,
        [
          { dir: args['parity-model']!, texts: 48, prompts: 8 },
          { dir: model.dir, texts: 8, prompts: 4 },
        ],
        int8Method,
        threads,
        PERSONAS,
        log,
      );
  const loadBefore = loadavg();

  // Fixed by the first round, so every round offers the same schedule.
  let arrivals: { times: number[]; rate: number } | undefined;
  const steadyArrivals = (burstSummary: PhaseSummary): number[] => {
    if (!arrivals) {
      const rate = arrivalRate ?? (steadyLoad * burstSummary.decode_tok_s) / maxTokens;
      arrivals = { rate, times: arrivalSchedule({ count: steady.length, ratePerSecond: rate, process: arrivalProcess, seed }) };
      log(`steady state: ${steady.length} requests at ${rate.toFixed(2)}/s (${arrivalProcess}${arrivalRate === undefined ? `, ${steadyLoad} × the ${warmBurst.length > 0 ? 'warm ' : ''}burst's ${(burstSummary.decode_tok_s / maxTokens).toFixed(2)} requests/s` : ''})`);
    }
    return arrivals.times;
  };
  // Each round's prefill roofline at that round's own mean run size (it varies with how arrivals fell into steps).
  const prefillShape = (mean: number) => Math.max(8, Math.round(mean / 8) * 8);

  const config: RoundConfig = {
    modelDir: model.dir,
    ...(int8 ? { int8ModelDir: int8.dir } : {}),
    concurrency,
    maxTokens,
    threads,
    burst,
    warmBurst,
    kvReserveTokens,
    steady,
    steadyArrivals,
    sequentialCount,
    schedulingCompare: args['no-scheduling-compare'] ? [] : SCHEDULING_VARIANTS,
    kvCompare: args['no-kv-compare'] ? [] : (['resident', 'rebuild'] satisfies KvStrategy[]),
    transformersjs: !args['no-transformersjs'],
    ...(llamacpp.config ? { llamacpp: llamacpp.config } : {}),
    prefillShape,
    log,
  };
  const results: RoundResult[] = [];
  for (let r = 1; r <= rounds; r++) results.push(await runRound(config, r, rounds));

  const ctx: ReportContext = {
    model: args.preset!,
    params,
    concurrency,
    requests: burst.length,
    maxTokens,
    threads,
    sequentialCount,
    kvReserveTokens,
    steady: arrivals ? { requests: steady.length, process: arrivalProcess, seed, rateReqS: arrivals.rate, loadFactor: arrivalRate === undefined ? steadyLoad : null } : null,
    llamacpp: llamacpp.config ? { version: NODE_LLAMA_CPP_VERSION, weights: llamacppWeights } : { skipped: llamacpp.skipped! },
    int8: int8 ? int8.context : { skipped: '--no-int8' },
    kvLabels: { resident: 'std graph, resident KV', rebuild: 'std graph, KV rebuilt/step' },
    parity: llamacpp.parity.map((p) => ({ model: p.model, prompts: p.prompts, identical: p.matched, tokenizer_identical: p.tokenizerMatched, agree: p.details.map((d) => `${d.agree}/${d.tokens}`) })),
    machine: { cores: availableParallelism(), loadBefore, loadAfter: loadavg() },
  };
  const report = buildReport(ctx, results);
  const profiles = args.profile ? await decodeProfiles([['fp32', model.dir], ...(int8 ? [['int8', int8.dir] as const] : [])], burst) : [];
  if (!args.json) {
    console.log(renderReport(ctx, report));
    for (const [weights, p] of profiles) console.log(`\n${renderProfile(`one decode step on the ${weights} weights, ${p.rows} rows over ${p.columns} cached tokens (onnxruntime profiler, the engine's graph)`, p)}\n`);
  }
  const profileFields = Object.fromEntries(profiles.map(([weights, p]) => [weights === 'fp32' ? 'decode_profile' : `decode_profile_${weights}`, { rows: p.rows, columns: p.columns, ...profileJson(p) }]));
  console.log(JSON.stringify({ ...report, ...profileFields }));
}

/** --profile: one decode step at the burst's shape (every row at its mean context halfway through the reply), per set of weights. */
async function decodeProfiles(models: ReadonlyArray<readonly [string, string]>, requests: readonly BenchRequest[]): Promise<Array<[string, Awaited<ReturnType<typeof profileDecodeStep>>]>> {
  const meanPrompt = requests.reduce((n, r) => n + r.promptTokens.length, 0) / requests.length;
  const columns = Math.round(meanPrompt + maxTokens / 2);
  const profiles: Array<[string, Awaited<ReturnType<typeof profileDecodeStep>>]> = [];
  for (const [weights, dir] of models) {
    log(`profiling one decode step on the ${weights} weights: ${concurrency} rows over ${columns} cached tokens...`);
    profiles.push([weights, await profileDecodeStep(dir, { rows: concurrency, columns }, { threads })]);
  }
  return profiles;
}

/** The model's EOS ids as our engine sees them (config.json eos_token_id plus generation_config.json's). */
function eosTokenIds(modelDir: string): number[] {
  const ids = new Set<number>();
  for (const file of ['config.json', 'generation_config.json']) {
    const path = join(modelDir, file);
    if (!existsSync(path)) continue;
    const eos = (JSON.parse(readFileSync(path, 'utf8')) as { eos_token_id?: number | number[] }).eos_token_id;
    for (const id of Array.isArray(eos) ? eos : eos === undefined ? [] : [eos]) ids.add(id);
  }
  return [...ids];
}

await main();
