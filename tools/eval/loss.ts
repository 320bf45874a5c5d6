/**
 * Teacher-forced cross-entropy of a model on the reply tokens of world samples (and on plain text), run on
 * the model's own ONNX graph through the server's DecoderModel.
 *
 * A sample's tokens are exactly what the server would feed: the prompt is rendered with the model's chat
 * template (`renderChat`, generation prompt on), the persona block (the first system message — the
 * engine's shared prefix) is tokenized on its own as the engine does, then the rest of the prompt; the
 * completion is the reply as the grammar-constrained decoder emits it (`replyTokenIds`: the speech, the
 * "[" opener token, the call as the grammar spells it, end of turn) — the trainer's targets exactly.
 * Only the completion tokens are scored. The persona's KV is computed once per NPC and reused.
 */
import { replyTokenIds } from '../../server/src/npc/action-grammar.ts';
import { actionBody } from '../../server/src/npc/action-syntax.ts';
import type { DecoderModel, KvCache, ModelText } from '../../server/src/inference/model/index.ts';
import { renderPrompt } from '../../server/src/inference/model/index.ts';
import { SharedPrefixTokenizer } from '../../server/src/inference/tokenizer/index.ts';
import type { WorldSample } from '../corpus/sample.ts';

export interface SampleTokens {
  /** The shared prefix (persona block) tokens; may be empty. */
  prefix: number[];
  /** The rest of the prompt, up to and including the generation prompt. */
  rest: number[];
  /** The reply tokens, ending with the end-of-turn token. */
  completion: number[];
  /** The rendered prompt and shared prefix texts (the generation side submits the same ones). */
  prompt: string;
  sharedPrefix: string;
}

export class SampleRenderError extends Error {
  override name = 'SampleRenderError';
}

export function sampleTokens(text: ModelText, sample: WorldSample, encoder = new SharedPrefixTokenizer(text.tokenizer)): SampleTokens {
  const { prompt, sharedPrefix } = renderPrompt(text, sample.messages);
  // The reply as the grammar-constrained decoder emits it (the trainer's targets are the same tokens).
  const completion = replyTokenIds(text.tokenizer, sample.speech, actionBody(sample.action), text.specialTokens.eos[0]!);
  const { ids, prefixLength } = encoder.encode(prompt, sharedPrefix);
  return { prefix: ids.slice(0, prefixLength), rest: ids.slice(prefixLength), completion, prompt, sharedPrefix };
}

export interface NllSum {
  /** Sum of −log p over the scored tokens (nats). */
  nll: number;
  tokens: number;
}

export type SampleLoss = (NllSum & { id: string }) | { id: string; skipped: string };

/** −log p(targets[j]) from logits rows, row r of a [S, V] block scoring targets[j] at r = firstRow + j. */
function addNll(logits: Float32Array, vocab: number, firstRow: number, targets: readonly number[], into: NllSum): void {
  for (let j = 0; j < targets.length; j++) {
    const base = (firstRow + j) * vocab;
    let max = Number.NEGATIVE_INFINITY;
    for (let v = 0; v < vocab; v++) if (logits[base + v]! > max) max = logits[base + v]!;
    let sum = 0;
    for (let v = 0; v < vocab; v++) sum += Math.exp(logits[base + v]! - max);
    into.nll += max + Math.log(sum) - logits[base + targets[j]!]!;
    into.tokens++;
  }
}

/** One forward pass of a single sequence `ids` after `past` (an empty cache: from the start). */
export async function forward(model: DecoderModel, ids: readonly number[], past: KvCache) {
  return model.step({
    batchSize: 1,
    inputIds: BigInt64Array.from(ids, BigInt),
    attentionMask: new BigInt64Array(past.length + ids.length).fill(1n),
    positionIds: BigInt64Array.from(ids, (_, i) => BigInt(past.length + i)),
    past,
  });
}

export interface ReplyLossOptions {
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Per-sample reply NLL. Samples whose prompt + reply exceed the model's context are skipped (the server
 * could not run them either), as are samples the template cannot render (reason given).
 */
export async function replyLosses(model: DecoderModel, text: ModelText, samples: readonly WorldSample[], options: ReplyLossOptions = {}): Promise<SampleLoss[]> {
  const encoder = new SharedPrefixTokenizer(text.tokenizer);
  const jobs = samples.map((sample) => {
    try {
      return { sample, tokens: sampleTokens(text, sample, encoder) };
    } catch (error) {
      return { sample, error: error instanceof Error ? error.message : String(error) };
    }
  });
  // Group by persona so each NPC's prefix KV is computed once.
  const order = jobs.map((_, i) => i).sort((a, b) => (jobs[a]!.tokens?.sharedPrefix ?? '').localeCompare(jobs[b]!.tokens?.sharedPrefix ?? '') || a - b);
  const out: SampleLoss[] = new Array(jobs.length);
  let cachedPrefix: string | undefined;
  let cachedKv: KvCache | undefined;
  let done = 0;
  for (const index of order) {
    options.signal?.throwIfAborted();
    const job = jobs[index]!;
    const id = job.sample.id;
    if (!job.tokens) {
      out[index] = { id, skipped: job.error! };
    } else {
      const { prefix, rest, completion, sharedPrefix } = job.tokens;
      const total = prefix.length + rest.length + completion.length;
      if (completion.length === 0) {
        out[index] = { id, skipped: 'empty reply' };
      } else if (total > model.contextLength) {
        out[index] = { id, skipped: `${total} tokens exceed the model's ${model.contextLength}-token context` };
      } else {
        let past = model.emptyCache(1);
        let head = [...prefix, ...rest];
        if (prefix.length > 0 && rest.length > 0) {
          if (cachedPrefix !== sharedPrefix || !cachedKv) {
            cachedKv = (await forward(model, prefix, model.emptyCache(1))).present;
            cachedPrefix = sharedPrefix;
          }
          past = cachedKv;
          head = rest;
        }
        // Feed the prompt (after the cached prefix) and every completion token but the last; the row of
        // the prompt's last token predicts the first completion token.
        const input = [...head, ...completion.slice(0, -1)];
        const step = await forward(model, input, past);
        const sum: NllSum = { nll: 0, tokens: 0 };
        addNll(step.logits, step.vocabSize, head.length - 1, completion, sum);
        out[index] = { id, ...sum };
      }
    }
    options.onProgress?.(++done, jobs.length);
  }
  return out;
}

export interface TextLossOptions {
  /** Score at most this many tokens of the text (from its start). */
  maxTokens: number;
  signal?: AbortSignal;
  /** After each chunk. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Chunk length for plain-text perplexity: the general corpus is pre-trained at 256 tokens, and a model's
 * positions beyond what it was trained at say nothing about its English (a 2,048-token chunk made a
 * pre-trained model look untrained).
 */
export const TEXT_CHUNK_TOKENS = 256;

/** NLL of plain text in non-overlapping chunks of TEXT_CHUNK_TOKENS (or the context, if shorter); the first token of each chunk is not scored. */
export async function textLoss(model: DecoderModel, text: ModelText, content: string, options: TextLossOptions): Promise<NllSum & { chunks: number }> {
  const ids = text.tokenizer.encode(content).slice(0, options.maxTokens);
  const sum: NllSum = { nll: 0, tokens: 0 };
  let chunks = 0;
  const length = Math.min(TEXT_CHUNK_TOKENS, model.contextLength);
  const total = Math.ceil(ids.length / length);
  for (let start = 0; start + 1 < ids.length; start += length) {
    options.signal?.throwIfAborted();
    const chunk = ids.slice(start, start + length);
    if (chunk.length < 2) break;
    const step = await forward(model, chunk.slice(0, -1), model.emptyCache(1));
    addNll(step.logits, step.vocabSize, 0, chunk.slice(1), sum);
    options.onProgress?.(++chunks, total);
  }
  return { ...sum, chunks };
}

export interface CopyProbe {
  /** Mean NLL (nats) of a block of random tokens where it first appears… */
  firstNats: number;
  /** …and where the same block appears again, later in the same sequence. */
  repeatNats: number;
  tokens: number;
}

/**
 * Can the model copy from its context? Sequences [A][B][A] of random tokens (seeded): the second A is
 * predictable only by looking back at the first, as a lore answer is only by reading the lore block. A
 * model that copies scores the repeat far below the first occurrence; one that does not, the same.
 *
 * Without `pool` the tokens are uniform over the vocabulary (many rare, with barely trained embeddings);
 * with `pool` (the token ids of some English text) they are drawn from it, i.e. at corpus frequency —
 * the tokens a lore fact is made of. A model that copies common tokens but not rare ones shows the gap.
 */
export async function copyProbe(model: DecoderModel, options: { trials?: number; block?: number; seed?: number; pool?: ArrayLike<number> } = {}): Promise<CopyProbe> {
  const trials = options.trials ?? 8;
  const block = options.block ?? 40;
  let state = (options.seed ?? 12345) >>> 0;
  // A small LCG: the probe's tokens only need to be fixed and spread over the vocabulary.
  const next = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const low = Math.min(256, Math.floor(model.vocabSize / 4));
  const pool = options.pool && options.pool.length > 0 ? options.pool : null;
  const draw = () => (pool ? pool[Math.floor(next() * pool.length)]! : low + Math.floor(next() * (model.vocabSize - low)));
  const first: NllSum = { nll: 0, tokens: 0 };
  const repeat: NllSum = { nll: 0, tokens: 0 };
  for (let t = 0; t < trials; t++) {
    const a = Array.from({ length: block }, draw);
    const b = Array.from({ length: block }, draw);
    const ids = [...a, ...b, ...a];
    const step = await forward(model, ids.slice(0, -1), model.emptyCache(1));
    // Score tokens 1..block-1 of each A (the first token of a block is unpredictable either way).
    addNll(step.logits, step.vocabSize, 0, ids.slice(1, block), first);
    addNll(step.logits, step.vocabSize, 2 * block, ids.slice(2 * block + 1), repeat);
  }
  return { firstNats: first.nll / first.tokens, repeatNats: repeat.nll / repeat.tokens, tokens: repeat.tokens };
}
