/** Benchmark phases that drive Worldmind's engine: batched (closed loop at a concurrency) and sequential. */
import type { InferenceEngine } from '../../../server/src/inference/engine/engine-client.ts';
import type { ConstraintSpec } from '../../../server/src/inference/engine/constraint-spec.ts';
import type { PhaseSamples } from './phase-stats.ts';
import type { BenchRequest } from './workload.ts';

/** Every request generates exactly `maxTokens` (EOS banned), so all contenders do the same work. */
function noEos(engine: InferenceEngine): ConstraintSpec {
  return { kind: 'automaton', automaton: { states: [{ allow: 'any', deny: engine.model.eosTokenIds }] } };
}

async function runOne(engine: InferenceEngine, request: BenchRequest, maxTokens: number, samples: PhaseSamples): Promise<void> {
  const result = await engine.generate({
    promptTokens: request.promptTokens,
    sharedPrefixTokens: request.sharedPrefixTokens,
    maxTokens,
    constraint: noEos(engine),
  }).result;
  samples.requests++;
  samples.generatedTokens += result.tokens.length;
  samples.ttftMs.push(result.timings.ttftMs);
  samples.itlMs.push(...result.timings.interTokenMs);
}

/** Keep `concurrency` requests in flight until all are done. */
export async function runClosedLoop(
  engine: InferenceEngine,
  requests: readonly BenchRequest[],
  maxTokens: number,
  concurrency: number,
): Promise<PhaseSamples> {
  const samples: PhaseSamples = { requests: 0, generatedTokens: 0, wallMs: 0, ttftMs: [], itlMs: [] };
  let next = 0;
  const started = performance.now();
  const lane = async () => {
    while (next < requests.length) await runOne(engine, requests[next++]!, maxTokens, samples);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, requests.length) }, lane));
  samples.wallMs = performance.now() - started;
  return samples;
}

/** Compute each persona's KV once before measuring (a server does this once per NPC, not per request). */
export async function warmPrefixes(engine: InferenceEngine, requests: readonly BenchRequest[]): Promise<void> {
  const seen = new Set<number>();
  const firsts = requests.filter((r) => !seen.has(r.persona) && seen.add(r.persona));
  await Promise.all(
    firsts.map((r) => engine.generate({ promptTokens: r.promptTokens, sharedPrefixTokens: r.sharedPrefixTokens, maxTokens: 1 }).result),
  );
}
