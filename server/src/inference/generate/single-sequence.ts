/**
 * Generates one reply with the KV cache: one prefill step over the whole prompt, then one step per new token
 * that feeds only that token and the cache (never re-running the sequence). Streams token events and ends
 * with timing: time to first token and decode speed. The batching scheduler (issue 4) replaces this for
 * serving; this is the reference path for the CLI, tests and benchmarks.
 */
import type { DecoderModel } from '../model/index.ts';
import { Sampler, SequenceOutput, type FinishReason, type SamplingParamsInput, type TokenMask } from '../sampling/index.ts';
import type { ChatMessage } from '../tokenizer/index.ts';

export type GenerationPrompt = { tokens: readonly number[] } | { text: string } | { messages: readonly ChatMessage[] };

export interface GenerationRequest {
  prompt: GenerationPrompt;
  /** Defaults come from the model's generation_config.json (greedy unless it says do_sample). */
  sampling?: SamplingParamsInput;
  maxTokens?: number;
  stop?: readonly string[];
  signal?: AbortSignal;
  /** Constraint hook: the allowed tokens for the next step, given the reply so far (undefined = any). */
  allowedTokens?: (replyTokens: readonly number[]) => TokenMask | undefined;
}

export interface TokenEvent {
  /** The sampled id (an EOS id ends the reply and is not part of `tokens`). */
  id: number;
  /** Newly completed text (may be empty while a character or possible stop string is incomplete). */
  text: string;
}

export interface GenerationResult {
  text: string;
  /** Reply token ids (EOS excluded). */
  tokens: number[];
  finishReason: FinishReason;
  promptTokens: number;
  /** Request start to first sampled token (prefill included). */
  ttftMs: number;
  /** Tokens after the first, per second of decoding after the first (the steady-state speed). */
  tokensPerSecond: number;
  totalMs: number;
  /** The seed used (given or drawn), so a sampled reply can be replayed. */
  seed: number;
}

const DEFAULT_MAX_TOKENS = 256;

export function promptTokens(model: DecoderModel, prompt: GenerationPrompt): number[] {
  if ('tokens' in prompt) return [...prompt.tokens];
  if ('text' in prompt) return model.tokenizer.encode(prompt.text);
  return model.encodeChat(prompt.messages);
}

export async function* streamGenerate(
  model: DecoderModel,
  request: GenerationRequest,
): AsyncGenerator<TokenEvent, GenerationResult, void> {
  const started = performance.now();
  const prompt = promptTokens(model, request.prompt);
  if (prompt.length === 0) throw new RangeError('The prompt is empty.');
  if (prompt.length >= model.contextLength) {
    throw new RangeError(`The prompt has ${prompt.length} tokens; the model's context holds ${model.contextLength}.`);
  }
  const defaults = model.generationDefaults;
  const sampler = Sampler.forModel(model, request.sampling);
  const output = new SequenceOutput(model.tokenizer, {
    eosTokenIds: model.specialTokens.eos,
    maxTokens: request.maxTokens ?? defaults.maxNewTokens ?? DEFAULT_MAX_TOKENS,
    stop: request.stop ?? [],
  });
  const history = [...prompt];

  let step = await model.step({
    batchSize: 1,
    inputIds: BigInt64Array.from(prompt, BigInt),
    attentionMask: new BigInt64Array(prompt.length).fill(1n),
    positionIds: BigInt64Array.from(prompt, (_, position) => BigInt(position)),
    past: model.emptyCache(1),
  });
  let firstTokenAt: number | undefined;
  let finishReason: FinishReason | undefined;

  while (finishReason === undefined) {
    const lastRow = step.logits.subarray((step.sequenceLength - 1) * step.vocabSize, step.sequenceLength * step.vocabSize);
    const allowed = request.allowedTokens?.(output.tokens);
    const id = sampler.sample(lastRow, { history, ...(allowed ? { allowed } : {}) });
    firstTokenAt ??= performance.now();
    history.push(id);

    const accepted = output.accept(id);
    finishReason = accepted.finishReason;
    if (request.signal?.aborted && finishReason === undefined) finishReason = output.finish('aborted').finishReason;
    // Prompt + reply never exceed the context (HF's max_length semantics).
    const cacheFull = step.present.length + 1 >= model.contextLength;
    if (cacheFull && finishReason === undefined) finishReason = output.finish('length').finishReason;
    yield { id, text: accepted.text };
    if (finishReason !== undefined) break;

    const position = step.present.length;
    step = await model.step({
      batchSize: 1,
      inputIds: BigInt64Array.of(BigInt(id)),
      attentionMask: new BigInt64Array(position + 1).fill(1n),
      positionIds: BigInt64Array.of(BigInt(position)),
      past: step.present,
    });
  }

  const finished = performance.now();
  const first = firstTokenAt ?? finished;
  const decoded = output.tokens.length - 1;
  return {
    text: output.text,
    tokens: output.tokens,
    finishReason,
    promptTokens: prompt.length,
    ttftMs: first - started,
    tokensPerSecond: decoded > 0 && finished > first ? (decoded * 1000) / (finished - first) : 0,
    totalMs: finished - started,
    seed: sampler.seed,
  };
}

/** Runs streamGenerate to the end, calling `onToken` for each token; resolves with the result. */
export async function generate(
  model: DecoderModel,
  request: GenerationRequest,
  onToken?: (event: TokenEvent) => void,
): Promise<GenerationResult> {
  const stream = streamGenerate(model, request);
  for (;;) {
    const next = await stream.next();
    if (next.done) return next.value;
    onToken?.(next.value);
  }
}
