/**
 * What quantisation costs: a quantised model against its fp32 source on the same token sequences.
 *
 *  - perplexity of each on fixed texts (teacher-forced, non-overlapping chunks, the first token of a chunk
 *    not scored) and the relative change;
 *  - greedy agreement: the fp32 model decodes greedily from each prompt; the quantised model is fed the same
 *    tokens, and a step agrees when its own greedy choice (argmax over the usable vocabulary) is fp32's
 *    token — per step, so one early disagreement does not hide how the rest go; `identical` counts prompts
 *    whose whole greedy continuation is the same;
 *  - logit error: the largest and the mean absolute difference of the logits over every scored position.
 * Both models run their standard graphs (DecoderModel.step) on one row at a time.
 */
import type { DecoderModel } from '../../server/src/inference/model/index.ts';
import { forward } from '../eval/index.ts';

export interface QualityOptions {
  /** Texts scored for perplexity (and logit error). */
  texts: readonly string[];
  /** Prompts decoded greedily by the reference model for the agreement count. */
  prompts: readonly string[];
  /** Greedy steps per prompt. Default 32. */
  greedySteps?: number;
  /** Tokens per perplexity chunk (capped by the context). Default 256. */
  chunkTokens?: number;
  /** Tokens of each text scored at most. Default 4096. */
  maxTokensPerText?: number;
}

export interface QualityComparison {
  scoredTokens: number;
  perplexity: { reference: number; candidate: number; /** candidate / reference − 1 */ change: number };
  greedy: { prompts: number; steps: number; agreeing: number; agreement: number; identical: number };
  logits: { maxAbsDiff: number; meanAbsDiff: number };
}

export async function compareQuality(reference: DecoderModel, candidate: DecoderModel, options: QualityOptions): Promise<QualityComparison> {
  const usable = Math.min(reference.usableVocabSize, candidate.usableVocabSize);
  const chunkLength = Math.min(options.chunkTokens ?? 256, reference.contextLength);
  const nll = { reference: 0, candidate: 0, tokens: 0 };
  const diff = { max: 0, sum: 0, count: 0 };
  for (const text of options.texts) {
    const ids = reference.tokenizer.encode(text).slice(0, options.maxTokensPerText ?? 4096);
    for (let start = 0; start + 1 < ids.length; start += chunkLength) {
      const chunk = ids.slice(start, start + chunkLength);
      if (chunk.length < 2) break;
      const input = chunk.slice(0, -1);
      const [a, b] = [await logitsOf(reference, input), await logitsOf(candidate, input)];
      const vocab = a.vocab;
      for (let row = 0; row < input.length; row++) {
        const target = chunk[row + 1]!;
        nll.reference += negativeLogLikelihood(a.logits, row * vocab, vocab, target);
        nll.candidate += negativeLogLikelihood(b.logits, row * vocab, vocab, target);
        nll.tokens++;
        for (let v = row * vocab; v < (row + 1) * vocab; v++) {
          const d = Math.abs(a.logits[v]! - b.logits[v]!);
          if (d > diff.max) diff.max = d;
          diff.sum += d;
        }
        diff.count += vocab;
      }
    }
  }

  const steps = options.greedySteps ?? 32;
  const greedy = { prompts: 0, steps: 0, agreeing: 0, identical: 0 };
  for (const prompt of options.prompts) {
    const promptIds = reference.tokenizer.encode(prompt);
    const continuation = await greedyDecode(reference, promptIds, Math.min(steps, reference.contextLength - promptIds.length), usable);
    if (continuation.length === 0) continue;
    // One teacher-forced pass of the candidate over prompt + continuation: row promptIds.length − 1 + i predicts step i.
    const { logits, vocab } = await logitsOf(candidate, [...promptIds, ...continuation.slice(0, -1)]);
    let allSame = true;
    continuation.forEach((token, i) => {
      const same = argmax(logits, (promptIds.length - 1 + i) * vocab, usable) === token;
      if (same) greedy.agreeing++;
      else allSame = false;
    });
    greedy.steps += continuation.length;
    greedy.prompts++;
    if (allSame) greedy.identical++;
  }

  const referencePerplexity = Math.exp(nll.reference / Math.max(1, nll.tokens));
  const candidatePerplexity = Math.exp(nll.candidate / Math.max(1, nll.tokens));
  return {
    scoredTokens: nll.tokens,
    perplexity: { reference: referencePerplexity, candidate: candidatePerplexity, change: candidatePerplexity / referencePerplexity - 1 },
    greedy: { ...greedy, agreement: greedy.steps === 0 ? Number.NaN : greedy.agreeing / greedy.steps },
    logits: { maxAbsDiff: diff.max, meanAbsDiff: diff.count === 0 ? 0 : diff.sum / diff.count },
  };
}

async function logitsOf(model: DecoderModel, ids: readonly number[]): Promise<{ logits: Float32Array; vocab: number }> {
  const step = await forward(model, ids, model.emptyCache(1));
  return { logits: step.logits, vocab: step.vocabSize };
}

/** Greedy tokens after `prompt` (EOS included as a token and not stopped at: the comparison wants every step). */
async function greedyDecode(model: DecoderModel, prompt: readonly number[], steps: number, usable: number): Promise<number[]> {
  const out: number[] = [];
  let past = model.emptyCache(1);
  let input = [...prompt];
  for (let i = 0; i < steps; i++) {
    const step = await model.step({
      batchSize: 1,
      inputIds: BigInt64Array.from(input, BigInt),
      attentionMask: new BigInt64Array(past.length + input.length).fill(1n),
      positionIds: BigInt64Array.from(input, (_, j) => BigInt(past.length + j)),
      past,
    });
    const token = argmax(step.logits, (input.length - 1) * step.vocabSize, usable);
    out.push(token);
    past = step.present;
    input = [token];
  }
  return out;
}

function argmax(logits: Float32Array, offset: number, width: number): number {
  let best = 0;
  for (let v = 1; v < width; v++) if (logits[offset + v]! > logits[offset + best]!) best = v;
  return best;
}

function negativeLogLikelihood(logits: Float32Array, offset: number, vocab: number, target: number): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let v = 0; v < vocab; v++) if (logits[offset + v]! > max) max = logits[offset + v]!;
  let sum = 0;
  for (let v = 0; v < vocab; v++) sum += Math.exp(logits[offset + v]! - max);
  return max + Math.log(sum) - logits[offset + target]!;
}
