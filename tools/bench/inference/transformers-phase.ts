/**
 * The peer: transformers.js serving the same requests concurrently, each its own `generate()` on one shared
 * model loaded from the same directory (offline), with the same onnxruntime thread count. transformers.js
 * has no continuous batching, so concurrent generate() calls interleave their single-row steps.
 */
import { basename, dirname } from 'node:path';
import { AutoModelForCausalLM, Tensor, env } from '@huggingface/transformers';
import type { PhaseSamples } from './phase-stats.ts';
import type { BenchRequest } from './workload.ts';

type Model = Awaited<ReturnType<typeof AutoModelForCausalLM.from_pretrained>>;

async function generateOne(model: Model, request: BenchRequest, maxTokens: number): Promise<{ ttftMs: number; gaps: number[]; tokens: number }> {
  const ids = request.promptTokens;
  const started = performance.now();
  const times: number[] = [];
  let sawPrompt = false;
  // transformers.js calls put() once with the prompt, then once per generated token.
  const streamer = {
    put: () => {
      if (sawPrompt) times.push(performance.now());
      sawPrompt = true;
    },
    end: () => {},
  };
  await model.generate({
    input_ids: new Tensor('int64', BigInt64Array.from(ids, BigInt), [1, ids.length]),
    attention_mask: new Tensor('int64', new BigInt64Array(ids.length).fill(1n), [1, ids.length]),
    max_new_tokens: maxTokens,
    min_new_tokens: maxTokens,
    do_sample: false,
    streamer: streamer as never,
  });
  return { ttftMs: times[0]! - started, gaps: times.slice(1).map((t, i) => t - times[i]!), tokens: times.length };
}

export async function runTransformersJs(
  modelDir: string,
  requests: readonly BenchRequest[],
  maxTokens: number,
  concurrency: number,
  threads: number,
): Promise<PhaseSamples> {
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = dirname(modelDir);
  const model = await AutoModelForCausalLM.from_pretrained(basename(modelDir), {
    dtype: 'fp32',
    device: 'cpu',
    session_options: { intraOpNumThreads: threads, interOpNumThreads: 1 },
  });
  try {
    await generateOne(model, requests[0]!, 2); // warm-up, not measured
    const samples: PhaseSamples = { requests: 0, generatedTokens: 0, wallMs: 0, ttftMs: [], itlMs: [] };
    let next = 0;
    const started = performance.now();
    const lane = async () => {
      while (next < requests.length) {
        const r = await generateOne(model, requests[next++]!, maxTokens);
        samples.requests++;
        samples.generatedTokens += r.tokens;
        samples.ttftMs.push(r.ttftMs);
        samples.itlMs.push(...r.gaps);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, requests.length) }, lane));
    samples.wallMs = performance.now() - started;
    return samples;
  } finally {
    await model.dispose();
  }
}
