/**
 * npm run bench:inference -- [--preset smollm2-135m-shape] [--concurrency 32] [--requests N] [--max-tokens M]
 *                            [--threads T] [--sequential-requests K] [--no-transformersjs] [--no-kv-compare]
 *                            [--no-llamacpp] [--llamacpp-weights f32|f16] [--parity-model <dir>] [--parity-only] [--json]
 *
 * Serves N synthetic NPC conversations (a few shared personas, distinct player lines) and compares, in one
 * run on this machine: Worldmind's engine batched (closed loop at the concurrency) vs the same engine one
 * request at a time vs transformers.js serving the same requests concurrently vs node-llama-cpp (llama.cpp's
 * kernels, the same weights exported to GGUF, batched across sequences, same threads; installed on demand into
 * data/cache/node-llama-cpp, see llamacpp-phase.ts) vs the roofline (the model's MatMuls alone, same weights,
 * same batch). Before the llama.cpp phase, its greedy tokens are compared with ours on the parity model
 * (default assets/models/default) and on the bench model. Prints a table, then one JSON line (with --json: only the line).
 * Every contender generates exactly M tokens per request (EOS disabled) from the same prompt tokens.
 *
 * Units: for the serving contenders `decode_tok_s` is generated tokens per wall-clock second over the whole
 * phase (prefills, scheduling and ramp-up included — what players get); TTFT is submit → first token and
 * ITL the gaps between a request's tokens, as seen by the caller. For the roofline it is batch ÷ step time
 * of the MatMul-only graph. The table also shows the engine's decode steps alone (rows decoded ÷ time in
 * decode steps), the like-for-like comparison with the roofline. The personas are prefilled once before
 * the timed phases (a server does that once per NPC); the machine is shared, so compare ratios of one run.
 */
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseCliArgs } from '../../server/src/cli-args.ts';
import { InferenceEngine } from '../../server/src/inference/engine/engine-client.ts';
import type { EngineMetrics } from '../../server/src/inference/engine/metrics.ts';
import type { KvStrategy } from '../../server/src/inference/engine/step-runner.ts';
import { runClosedLoop, warmPrefixes } from './inference/engine-phases.ts';
import { ensureBenchModel } from './inference/model-cache.ts';
import { round, summarize, type PhaseSamples, type PhaseSummary } from './inference/phase-stats.ts';
import { measureRoofline } from './inference/roofline.ts';
import { runTransformersJs } from './inference/transformers-phase.ts';
import { cachedGguf, greedyParity, runLlamaCpp, type ParityResult } from './inference/llamacpp-phase.ts';
import { benchCacheRoot } from './inference/model-cache.ts';
import { loadNodeLlamaCpp, NODE_LLAMA_CPP_VERSION } from '../gguf/node-llama-cpp.ts';
import { buildWorkload, type BenchRequest } from './inference/workload.ts';

const USAGE = `usage: npm run bench:inference -- [--preset smollm2-135m-shape] [--concurrency 32] [--requests N] [--max-tokens 64]
                                  [--threads T] [--sequential-requests K] [--no-transformersjs] [--no-kv-compare]
                                  [--no-llamacpp] [--llamacpp-weights f32|f16] [--parity-model <dir>] [--parity-only] [--json]

Serves N synthetic NPC conversations and compares Worldmind's engine batched, one request at a time,
transformers.js, node-llama-cpp (installed on demand into data/cache/node-llama-cpp, ~700 MB; its greedy
tokens are first checked against ours on --parity-model, default assets/models/default, and on the bench
model) and the MatMul roofline in one run; a table, then one JSON line (--json: only the line).
--llamacpp-weights f16: node-llama-cpp serves an f16 export (llama.cpp's usual precision) instead of the
same f32 weights. --parity-only: only the node-llama-cpp greedy check on --parity-model (one JSON line).
`;

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
    'no-llamacpp': { type: 'boolean', default: false },
    'parity-model': { type: 'string', default: 'assets/models/default' },
    'parity-only': { type: 'boolean', default: false },
    'llamacpp-weights': { type: 'string', default: 'f32' },
    json: { type: 'boolean', default: false },
  },
});

const positive = (name: string, value: string | undefined, fallback: number): number => {
  const n = value === undefined ? fallback : Number(value);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`bench:inference: --${name} must be a positive integer, got ${value}`);
    process.exit(2);
  }
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
const log = (message: string) => process.stderr.write(`[bench:inference] ${message}\n`);

async function enginePhase(
  modelDir: string,
  requests: BenchRequest[],
  kvStrategy: KvStrategy,
  withSequential: boolean,
): Promise<{ batched: PhaseSamples; sequential?: PhaseSamples; metrics: EngineMetrics }> {
  const engine = await InferenceEngine.start({
    modelDir,
    intraOpThreads: threads,
    interOpThreads: 1,
    scheduler: { maxBatchSize: concurrency, maxQueue: Math.max(256, requestCount), kvStrategy, kvBudgetBytes: 4 * 1024 ** 3 },
  });
  try {
    await warmPrefixes(engine, requests);
    log(`engine (${kvStrategy} KV): batched, ${requests.length} requests at concurrency ${concurrency}...`);
    const batched = await runClosedLoop(engine, requests, maxTokens, concurrency);
    const metrics = (await engine.metrics()).engine;
    let sequential: PhaseSamples | undefined;
    if (withSequential) {
      log(`engine: sequential, ${sequentialCount} requests one at a time...`);
      sequential = await runClosedLoop(engine, requests.slice(0, sequentialCount), maxTokens, 1);
    }
    return { batched, ...(sequential ? { sequential } : {}), metrics };
  } finally {
    await engine.close();
  }
}

/** --parity-only: does llama.cpp, on the exported file, produce our greedy tokens? */
async function parityOnly(): Promise<void> {
  const dir = args['parity-model']!;
  if (!existsSync(join(dir, 'config.json'))) {
    console.error(`bench:inference: --parity-model ${dir} is not a model directory`);
    process.exit(2);
  }
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

async function main(): Promise<void> {
  if (args['parity-only']) return parityOnly();
  const model = ensureBenchModel(args.preset!);
  log(`${model.built ? 'built' : 'reusing'} ${args.preset} in ${model.dir}`);
  const params = Number(readFileSync(join(model.dir, '.bench-complete'), 'utf8'));
  const { requests, personaTokens } = buildWorkload(model.dir, requestCount);
  const promptLengths = requests.map((r) => r.promptTokens.length);
  log(`workload: ${requests.length} conversations, ${personaTokens.length} personas of ${personaTokens.join('/')} tokens, prompts ${Math.min(...promptLengths)}–${Math.max(...promptLengths)} tokens, ${maxTokens} new tokens each`);

  log(`roofline: MatMul-only graph, batch ${concurrency}...`);
  const roofline = await measureRoofline(join(model.dir, 'onnx', 'model.onnx'), concurrency, { intraOpThreads: threads });

  const main = await enginePhase(model.dir, requests, 'inplace', true);
  // The same batched run with the standard graph's KV handling, to show what the in-place KV buys.
  const comparisons: Array<{ strategy: KvStrategy; run: Awaited<ReturnType<typeof enginePhase>> }> = [];
  if (!args['no-kv-compare']) {
    for (const strategy of ['resident', 'rebuild'] as const) comparisons.push({ strategy, run: await enginePhase(model.dir, requests, strategy, false) });
  }

  let transformers: PhaseSamples | undefined;
  if (!args['no-transformersjs']) {
    log(`transformers.js: ${requests.length} concurrent generate() calls...`);
    transformers = await runTransformersJs(model.dir, requests, maxTokens, concurrency, threads);
  }

  let llamacpp: Awaited<ReturnType<typeof runLlamaCpp>> | undefined;
  let llamacppSkipped: string | undefined;
  const parity: ParityResult[] = [];
  if (args['no-llamacpp']) {
    llamacppSkipped = '--no-llamacpp';
  } else {
    const loaded = await loadNodeLlamaCpp({ install: true, log });
    if (!loaded.ok) {
      llamacppSkipped = loaded.reason;
      log(`node-llama-cpp: skipped — ${loaded.reason}`);
    } else {
      const ggufDir = join(benchCacheRoot(), 'gguf');
      const benchGguf = cachedGguf(model.dir, ggufDir, `${args.preset}-seed0`, log);
      const servedGguf = llamacppWeights === 'f16' ? cachedGguf(model.dir, ggufDir, `${args.preset}-seed0-f16`, log, 'f16') : benchGguf;
      for (const [dir, name] of [[args['parity-model']!, 'parity-model'], [model.dir, `${args.preset}-seed0`]] as const) {
        if (!existsSync(join(dir, 'config.json'))) {
          log(`parity: ${dir} is not a model directory, skipped`);
          continue;
        }
        log(`node-llama-cpp: greedy parity on ${dir}...`);
        const result = await greedyParity(loaded.module, dir, name === 'parity-model' ? cachedGguf(dir, ggufDir, basename(resolve(dir)), log) : benchGguf, 32, threads);
        log(`  ${result.matched}/${result.prompts} greedy replies identical, tokenizer identical on ${result.tokenizerMatched}/${result.prompts}; agreeing leading tokens ${result.details.map((d) => `${d.agree}/${d.tokens}`).join(', ')}`);
        parity.push(result);
      }
      log(`node-llama-cpp ${NODE_LLAMA_CPP_VERSION} (${llamacppWeights} weights): ${requests.length} requests on ${concurrency} sequences of one context...`);
      // Our engine bans its EOS ids for the bench; llama.cpp gets the same ids as never-sample biases.
      llamacpp = await runLlamaCpp(loaded.module, servedGguf, requests, maxTokens, concurrency, threads, eosTokenIds(model.dir));
    }
  }

  const batched = summarize(main.batched);
  const sequential = summarize(main.sequential!);
  const transformersjs = transformers ? summarize(transformers) : null;
  const llamacppSummary = llamacpp ? summarize(llamacpp) : null;
  const result = {
    model: args.preset,
    params,
    concurrency,
    batched,
    sequential,
    transformersjs,
    llamacpp: llamacppSummary ? { ...llamacppSummary, version: NODE_LLAMA_CPP_VERSION, weights: llamacppWeights, batch_size: llamacpp!.batchSize, context_size: llamacpp!.contextSize } : { skipped: llamacppSkipped },
    llamacpp_parity: parity.map((p) => ({ model: p.model, prompts: p.prompts, identical: p.matched, tokenizer_identical: p.tokenizerMatched, agree: p.details.map((d) => `${d.agree}/${d.tokens}`) })),
    roofline: { decode_tok_s: round(roofline.decodeTokS) },
    ratios: {
      batched_vs_sequential: round(batched.decode_tok_s / sequential.decode_tok_s),
      batched_vs_transformersjs: transformersjs ? round(batched.decode_tok_s / transformersjs.decode_tok_s) : null,
      batched_vs_llamacpp: llamacppSummary ? round(batched.decode_tok_s / llamacppSummary.decode_tok_s) : null,
      batched_vs_roofline: round(batched.decode_tok_s / roofline.decodeTokS),
    },
  };

  if (!args.json) {
    const label: Record<KvStrategy, string> = {
      inplace: 'in-place KV',
      resident: '  std graph, resident KV',
      rebuild: '  std graph, KV rebuilt/step',
    };
    const rows: Array<[string, PhaseSummary | null]> = [
      [`worldmind batched`, batched],
      ...comparisons.map((c): [string, PhaseSummary] => [label[c.strategy], summarize(c.run.batched)]),
      ['worldmind sequential', sequential],
      ['transformers.js', transformersjs],
      [`node-llama-cpp ${NODE_LLAMA_CPP_VERSION} ${llamacppWeights}`, llamacppSummary],
    ];
    const pad = (s: string | number, n: number) => String(s).padStart(n);
    console.log(`\n${args.preset} (${(params / 1e6).toFixed(1)}M params), ${requests.length} requests, concurrency ${concurrency}, ${maxTokens} tokens each, ${threads} threads\n`);
    console.log(`${'contender'.padEnd(28)}${pad('tok/s', 10)}${pad('TTFT p50', 11)}${pad('TTFT p99', 11)}${pad('ITL p50', 10)}${pad('ITL p99', 10)}`);
    for (const [name, s] of rows) {
      if (!s) continue;
      console.log(`${name.padEnd(28)}${pad(s.decode_tok_s.toFixed(1), 10)}${pad(s.ttft_p50_ms.toFixed(0), 11)}${pad(s.ttft_p99_ms.toFixed(0), 11)}${pad(s.itl_p50_ms.toFixed(1), 10)}${pad(s.itl_p99_ms.toFixed(1), 10)}`);
    }
    // Tokens produced by decode steps per second of decode steps (prefill and scheduling excluded).
    const m0 = main.metrics;
    const decodedRows = Object.entries(m0.batchSizeHistogram).reduce((n, [size, steps]) => n + Number(size) * steps, 0);
    console.log(`${'  its decode steps alone'.padEnd(28)}${pad(((decodedRows * 1000) / m0.steps.decodeMs).toFixed(1), 10)}   (${m0.steps.decodeSteps} steps, mean ${(m0.steps.decodeMs / Math.max(1, m0.steps.decodeSteps)).toFixed(1)} ms, mean batch ${(decodedRows / Math.max(1, m0.steps.decodeSteps)).toFixed(1)})`);
    console.log(`${'roofline (MatMuls only)'.padEnd(28)}${pad(roofline.decodeTokS.toFixed(1), 10)}   (${roofline.stepMsMedian.toFixed(1)} ms/step at batch ${concurrency}, ${roofline.gflops.toFixed(1)} GFLOP/s)`);
    const m = main.metrics;
    const hist = Object.entries(m.batchSizeHistogram).map(([size, n]) => `${size}:${n}`).join(' ');
    console.log(`\nbatched engine: prefix-cache hit rate ${(m.prefixCache.hitRate * 100).toFixed(0)}% (${(m.prefixCache.tokenHitRate * 100).toFixed(0)}% of prompt tokens), decode steps ${m.steps.decodeSteps} (${(m.steps.decodeMs / Math.max(1, m.steps.decodeSteps)).toFixed(1)} ms each), prefill steps ${m.steps.prefillSteps} (${(m.steps.prefillMs / Math.max(1, m.steps.prefillSteps)).toFixed(1)} ms each)`);
    const kvLine = (name: string, x: EngineMetrics) =>
      `${name}: ${x.steps.kvAssembles} re-layouts, ${x.steps.kvAssembleMs.toFixed(0)} ms total, decode step ${(x.steps.decodeMs / Math.max(1, x.steps.decodeSteps)).toFixed(1)} ms`;
    console.log(`KV handling — ${[kvLine('in-place', m), ...comparisons.map((c) => kvLine(c.strategy, c.run.metrics))].join('; ')}`);
    console.log(`batch sizes (size:steps): ${hist}`);
    console.log(`ratios: batched/sequential ${result.ratios.batched_vs_sequential}×, batched/transformers.js ${result.ratios.batched_vs_transformersjs ?? '-'}×, batched/node-llama-cpp ${result.ratios.batched_vs_llamacpp ?? `- (${llamacppSkipped})`}×, batched/roofline ${(result.ratios.batched_vs_roofline * 100).toFixed(0)}%\n`);
  }
  console.log(JSON.stringify(result));
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
