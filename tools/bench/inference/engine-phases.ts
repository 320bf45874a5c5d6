/**
 * Benchmark phases that drive Worldmind's engine: the one-wave burst (closed loop at a concurrency), the
 * same one request at a time, and the steady-state workload (open loop: requests arrive on a schedule,
 * whether or not earlier ones are done, so queueing shows).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { InferenceEngine } from '../../../server/src/inference/engine/engine-client.ts';
import type { ConstraintSpec } from '../../../server/src/inference/engine/constraint-spec.ts';
import { emptySamples, type PhaseSamples } from './phase-stats.ts';
import type { BenchRequest } from './workload.ts';

/** Every request generates exactly `maxTokens` (EOS banned), so all contenders do the same work. */
function noEos(engine: InferenceEngine): ConstraintSpec {
  return { kind: 'automaton', automaton: { states: [{ allow: 'any', deny: engine.model.eosTokenIds }] } };
}

/** `lateMs`: how long after its scheduled arrival the request was submitted (counted into its TTFT). */
async function runOne(engine: InferenceEngine, request: BenchRequest, maxTokens: number, samples: PhaseSamples, lateMs = 0): Promise<void> {
  const result = await engine.generate({
    promptTokens: request.promptTokens,
    sharedPrefixTokens: request.sharedPrefixTokens,
    maxTokens,
    constraint: noEos(engine),
  }).result;
  samples.requests++;
  samples.generatedTokens += result.tokens.length;
  samples.ttftMs.push(lateMs + result.timings.ttftMs);
  samples.itlMs.push(...result.timings.interTokenMs);
  (samples.queueMs ??= []).push(lateMs + result.timings.queueMs);
}

/** Keep `concurrency` requests in flight until all are done. */
export async function runClosedLoop(
  engine: InferenceEngine,
  requests: readonly BenchRequest[],
  maxTokens: number,
  concurrency: number,
): Promise<PhaseSamples> {
  const samples = emptySamples();
  let next = 0;
  const started = performance.now();
  const lane = async () => {
    while (next < requests.length) await runOne(engine, requests[next++]!, maxTokens, samples);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, requests.length) }, lane));
  samples.wallMs = performance.now() - started;
  return samples;
}

/**
 * Submit request i at `arrivalsMs[i]` after the start, however many are in flight (the engine queues what
 * its batch cannot take). TTFT and queueing count from the scheduled arrival; the wall clock runs from the
 * first arrival to the last token.
 */
export async function runOpenLoop(
  engine: InferenceEngine,
  requests: readonly BenchRequest[],
  maxTokens: number,
  arrivalsMs: readonly number[],
): Promise<PhaseSamples> {
  if (arrivalsMs.length !== requests.length) throw new Error(`runOpenLoop: ${arrivalsMs.length} arrival times for ${requests.length} requests`);
  const samples = emptySamples();
  samples.queueMs = [];
  const started = performance.now();
  const inFlight: Array<Promise<void>> = [];
  for (const [i, request] of requests.entries()) {
    const wait = started + arrivalsMs[i]! - performance.now();
    if (wait > 0) await sleep(wait);
    inFlight.push(runOne(engine, request, maxTokens, samples, Math.max(0, performance.now() - started - arrivalsMs[i]!)));
  }
  await Promise.all(inFlight);
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
