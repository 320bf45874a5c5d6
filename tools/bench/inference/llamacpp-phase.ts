/**
 * The strongest CPU peer: node-llama-cpp (llama.cpp's kernels) serving the same requests on the same
 * weights, exported to GGUF (f32, as our engine runs them) by `npm run export-gguf`'s exporter.
 *
 * - Batched like our engine: one llama.cpp context with one sequence per concurrent request; node-llama-cpp
 *   merges the pending evaluations of all sequences into each llama_decode batch. Same thread count.
 * - Same work: the same prompt token ids, exactly M greedy tokens each (end-of-generation tokens banned, as
 *   our engine bans EOS for the bench).
 * - Same head start: our engine prefills each persona once before timing (its prefix cache); here each
 *   sequence is warmed with the persona of the request it serves first and keeps the shared prefix of the
 *   next request (erasing the rest), which is how node-llama-cpp's own chat sessions reuse a sequence.
 *
 * `greedyParity` checks the peer computes what we compute: the same prompt through both, greedy tokens
 * compared one by one.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from '../../../server/src/inference/generate/index.ts';
import { loadModel } from '../../../server/src/inference/model/index.ts';
import type { ChatMessage } from '../../../server/src/inference/tokenizer/index.ts';
import { exportGguf } from '../../gguf/export-gguf.ts';
import { cpuLlama, F32_KV, llamaCppGreedy, type LlamaCppModel, type LlamaCppSequence, type NodeLlamaCppModule } from '../../gguf/node-llama-cpp.ts';
import type { PhaseSamples } from './phase-stats.ts';
import type { BenchRequest } from './workload.ts';

/** `<cacheDir>/<name>.gguf` (f32 unless asked), exported again only when the model's weights are newer than the file. */
export function cachedGguf(modelDir: string, cacheDir: string, name: string, log: (line: string) => void, weightType: 'f32' | 'f16' = 'f32'): string {
  mkdirSync(cacheDir, { recursive: true });
  const out = join(cacheDir, `${name}.gguf`);
  const onnx = join(modelDir, 'onnx', 'model.onnx');
  const source = Math.max(...[onnx, `${onnx}_data`, join(modelDir, 'tokenizer.json')].filter(existsSync).map((p) => statSync(p).mtimeMs));
  if (existsSync(out) && statSync(out).mtimeMs >= source) return out;
  const started = performance.now();
  const summary = exportGguf({ modelDir, outPath: out, weightType });
  log(`exported ${modelDir} → ${out} (${(summary.bytes / 1024 ** 2).toFixed(0)} MiB) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return out;
}

type LlamaSequence = LlamaCppSequence & {
  readonly contextTokens: readonly number[];
  eraseContextTokenRanges(ranges: Array<{ start: number; end: number }>): Promise<void>;
};

export async function runLlamaCpp(
  module: NodeLlamaCppModule,
  ggufPath: string,
  requests: readonly BenchRequest[],
  maxTokens: number,
  concurrency: number,
  threads: number,
  banned: readonly number[],
): Promise<PhaseSamples & { batchSize: number; contextSize: number }> {
  const lanes = Math.min(concurrency, requests.length);
  const longest = Math.max(...requests.map((r) => r.promptTokens.length));
  const llama = await cpuLlama(module, threads);
  try {
    const model = await llama.loadModel({ modelPath: ggufPath, gpuLayers: 0 });
    // Room per sequence for the longest prompt and its reply, rounded up (llama.cpp pads context sizes).
    const perSequence = Math.ceil((longest + maxTokens + 16) / 256) * 256;
    const context = await model.createContext({ contextSize: perSequence, sequences: lanes, threads, batchSize: 512 });
    const bias = new module.TokenBias(model.tokenizer);
    for (const id of banned) bias.set(id, 'never');
    const sequences = Array.from({ length: lanes }, () => context.getSequence() as LlamaSequence);

    // Warm-up (not timed): every sequence holds the persona of the request it serves first.
    await Promise.all(sequences.map((s, lane) => evaluateOnly(s, requests[lane]!.promptTokens.slice(0, requests[lane]!.sharedPrefixTokens))));

    const samples: PhaseSamples = { requests: 0, generatedTokens: 0, wallMs: 0, ttftMs: [], itlMs: [] };
    let next = 0;
    const started = performance.now();
    await Promise.all(
      sequences.map(async (sequence) => {
        while (next < requests.length) {
          const request = requests[next++]!;
          const submitted = performance.now();
          const tail = await keepCommonPrefix(sequence, request.promptTokens);
          const times: number[] = [];
          for await (const _token of sequence.evaluate(tail, { temperature: 0, tokenBias: bias })) {
            times.push(performance.now());
            if (times.length >= maxTokens) break;
          }
          samples.requests++;
          samples.generatedTokens += times.length;
          samples.ttftMs.push(times[0]! - submitted);
          samples.itlMs.push(...times.slice(1).map((t, i) => t - times[i]!));
        }
      }),
    );
    samples.wallMs = performance.now() - started;
    const result = { ...samples, batchSize: context.batchSize, contextSize: context.contextSize };
    await context.dispose();
    await model.dispose();
    return result;
  } finally {
    await llama.dispose();
  }
}

/** Appends tokens to a sequence without generating (a prefill). */
async function evaluateOnly(sequence: LlamaCppSequence, tokens: number[]): Promise<void> {
  const s = sequence as LlamaSequence & { evaluateWithoutGeneratingNewTokens(tokens: number[]): Promise<void> };
  await s.evaluateWithoutGeneratingNewTokens(tokens);
}

/** Erases what the sequence holds beyond its common prefix with `prompt`; returns the tokens still to evaluate. */
async function keepCommonPrefix(sequence: LlamaSequence, prompt: readonly number[]): Promise<number[]> {
  const held = sequence.contextTokens;
  let common = 0;
  // Keep at least one prompt token to evaluate: the last one's logits give the first reply token.
  while (common < held.length && common < prompt.length - 1 && held[common] === prompt[common]) common++;
  if (common < held.length) await sequence.eraseContextTokenRanges([{ start: common, end: held.length }]);
  return prompt.slice(common);
}

export interface ParityResult {
  model: string;
  prompts: number;
  /** Prompts whose whole greedy reply matched. */
  matched: number;
  /** Prompts whose token ids from llama.cpp's tokenizer equal ours. */
  tokenizerMatched: number;
  /** Per prompt: tokens compared, leading tokens that agree. */
  details: Array<{ tokens: number; agree: number; ours: number[]; theirs: number[] }>;
}

const PARITY_LINES = [
  'Good morning! What do you sell here?',
  'Have you seen anything strange by the river?',
  'Can you tell me the way to the chapel?',
  'I need a sword. How much for the cheapest one?',
];

/** Greedy replies to a few chat prompts from our single-sequence path and from llama.cpp on the exported file. */
export async function greedyParity(module: NodeLlamaCppModule, modelDir: string, ggufPath: string, maxTokens: number, threads: number): Promise<ParityResult> {
  const ours = await loadModel(modelDir, { intraOpNumThreads: threads });
  const llama = await cpuLlama(module, threads);
  try {
    const model: LlamaCppModel = await llama.loadModel({ modelPath: ggufPath, gpuLayers: 0 });
    const context = await model.createContext({ contextSize: 1024, sequences: 1, threads, ...F32_KV });
    const sequence = context.getSequence();
    // Our sampler only ever picks ids the tokenizer defines (usableVocabSize); the [PADn] rows above them
    // have (random or untrained) logits too, so llama.cpp must not pick them either.
    const bias = new module.TokenBias(model.tokenizer);
    for (let id = ours.usableVocabSize; id < ours.vocabSize; id++) bias.set(id, 'never');
    const result: ParityResult = { model: modelDir, prompts: PARITY_LINES.length, matched: 0, tokenizerMatched: 0, details: [] };
    for (const line of PARITY_LINES) {
      const messages: ChatMessage[] = [
        { role: 'system', content: 'You are Bram, the blacksmith of Emberfall. Answer briefly.' },
        { role: 'user', content: line },
      ];
      const prompt = ours.encodeChat(messages);
      if (JSON.stringify(model.tokenize(ours.renderChat(messages), true)) === JSON.stringify(prompt)) result.tokenizerMatched++;
      const mine = (await generate(ours, { prompt: { tokens: prompt }, sampling: { temperature: 0, repetitionPenalty: 1 }, maxTokens })).tokens;
      const theirs = await llamaCppGreedy(sequence, model, prompt, maxTokens, ours.usableVocabSize < ours.vocabSize ? bias : undefined);
      let agree = 0;
      while (agree < mine.length && agree < theirs.length && mine[agree] === theirs[agree]) agree++;
      if (agree === mine.length && agree === theirs.length) result.matched++;
      result.details.push({ tokens: Math.max(mine.length, theirs.length), agree, ours: mine, theirs });
    }
    await context.dispose();
    await model.dispose();
    return result;
  } finally {
    await llama.dispose();
    await ours.dispose();
  }
}
