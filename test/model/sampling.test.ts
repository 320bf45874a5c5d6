import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type DecoderModel } from '../../server/src/inference/model/index.ts';
import { generate } from '../../server/src/inference/generate/index.ts';
import {
  NoAllowedTokenError,
  Sampler,
  SequenceOutput,
  StopStringMatcher,
  maskFromIds,
} from '../../server/src/inference/sampling/index.ts';
import { buildTinyModel, removeTempDirs } from './helpers.ts';

const VOCAB = 50;

/** Deterministic, distinct logits: token i gets a score that decreases with i. */
function rampLogits(size = VOCAB): Float32Array {
  return Float32Array.from({ length: size }, (_, i) => (size - i) / 10);
}

function draws(sampler: Sampler, logits: Float32Array, count: number): number[] {
  return Array.from({ length: count }, () => sampler.sample(logits));
}

describe('Sampler', () => {
  it('is greedy at temperature 0 (and with top-k 1)', () => {
    const logits = rampLogits();
    logits[17] = 99;
    expect(new Sampler({ temperature: 0 }, VOCAB).sample(logits)).toBe(17);
    expect(new Sampler({ temperature: 1.5, topK: 1, seed: 3 }, VOCAB).sample(logits)).toBe(17);
  });

  it('reproduces the same tokens for the same seed, and different ones for another seed', () => {
    const logits = new Float32Array(VOCAB); // uniform: every draw is pure randomness
    const a = draws(new Sampler({ temperature: 1, seed: 42 }, VOCAB), logits, 40);
    const b = draws(new Sampler({ temperature: 1, seed: 42 }, VOCAB), logits, 40);
    const c = draws(new Sampler({ temperature: 1, seed: 43 }, VOCAB), logits, 40);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(new Set(a).size).toBeGreaterThan(10);
  });

  it('top-k keeps only the k best tokens', () => {
    const sampler = new Sampler({ temperature: 5, topK: 3, seed: 1 }, VOCAB);
    const seen = new Set(draws(sampler, rampLogits(), 300));
    expect([...seen].sort((x, y) => x - y)).toEqual([0, 1, 2]);
  });

  it('top-p keeps the smallest set reaching p of the probability mass', () => {
    const logits = new Float32Array(VOCAB).fill(-20);
    logits[4] = Math.log(0.5);
    logits[9] = Math.log(0.3);
    logits[2] = Math.log(0.15);
    const sampler = new Sampler({ temperature: 1, topP: 0.75, seed: 9 }, VOCAB);
    expect(new Set(draws(sampler, logits, 300))).toEqual(new Set([4, 9]));
    const wider = new Sampler({ temperature: 1, topP: 0.9, seed: 9 }, VOCAB);
    expect(new Set(draws(wider, logits, 400))).toEqual(new Set([4, 9, 2]));
  });

  it('top-p works over a large flat vocabulary (grows its sorted prefix)', () => {
    const size = 5000;
    const sampler = new Sampler({ temperature: 1, topP: 0.5, seed: 2 }, size);
    const logits = Float32Array.from({ length: size }, (_, i) => -i / 1000);
    const picks = draws(sampler, logits, 200);
    // Half the mass of this near-flat distribution lies in roughly the first 2000 ids.
    expect(Math.max(...picks)).toBeLessThan(2600);
    expect(Math.max(...picks)).toBeGreaterThan(500);
  });

  it('follows the expected distribution at temperature 1', () => {
    const logits = Float32Array.from([Math.log(0.7), Math.log(0.2), Math.log(0.1)]);
    const sampler = new Sampler({ temperature: 1, seed: 5 }, 3);
    const counts = [0, 0, 0];
    for (let i = 0; i < 4000; i++) counts[sampler.sample(logits)]!++;
    expect(counts[0]! / 4000).toBeCloseTo(0.7, 1);
    expect(counts[2]! / 4000).toBeCloseTo(0.1, 1);
  });

  it('applies the repetition penalty to tokens already in the history', () => {
    const logits = Float32Array.from([2.0, 1.9, -1]);
    const sampler = new Sampler({ temperature: 0, repetitionPenalty: 1.5 }, 3);
    expect(sampler.sample(logits)).toBe(0);
    expect(sampler.sample(logits, { history: [0, 0, 0] })).toBe(1);
    expect(logits[0]).toBe(2.0); // the caller's row is never modified
  });

  it('applies an allowed-token mask, and fails clearly when nothing is allowed', () => {
    const sampler = new Sampler({ temperature: 1, seed: 4 }, VOCAB);
    const allowed = maskFromIds([7, 30], VOCAB);
    const picks = Array.from({ length: 100 }, () => sampler.sample(rampLogits(), { allowed }));
    expect(new Set(picks)).toEqual(new Set([7, 30]));
    expect(new Sampler({ temperature: 0 }, VOCAB).sample(rampLogits(), { allowed })).toBe(7);
    expect(() => sampler.sample(rampLogits(), { allowed: new Uint8Array(VOCAB) })).toThrow(NoAllowedTokenError);
  });

  it('never returns ids at or beyond the usable vocabulary, even when they score best', () => {
    const logits = rampLogits(64);
    logits[60] = 100;
    expect(new Sampler({ temperature: 0 }, 40).sample(logits)).toBeLessThan(40);
    const sampler = new Sampler({ temperature: 2, seed: 8 }, 40);
    expect(Math.max(...draws(sampler, logits, 200))).toBeLessThan(40);
  });

  it('samples a row of a batched logits tensor through a subarray', () => {
    const batch = new Float32Array(3 * VOCAB);
    batch.set(rampLogits(), 0);
    batch[VOCAB + 33] = 50;
    batch[2 * VOCAB + 11] = 50;
    const sampler = new Sampler({ temperature: 0 }, VOCAB);
    expect(sampler.sample(batch.subarray(VOCAB, 2 * VOCAB))).toBe(33);
    expect(sampler.sample(batch.subarray(2 * VOCAB, 3 * VOCAB))).toBe(11);
  });

  it('rejects invalid parameters', () => {
    expect(() => new Sampler({ temperature: -1 }, VOCAB)).toThrow();
    expect(() => new Sampler({ topP: 0 }, VOCAB)).toThrow();
  });
});

describe('StopStringMatcher', () => {
  it('holds back a possible stop string across chunks and cuts the text before it', () => {
    const matcher = new StopStringMatcher(['\nUser:', 'END']);
    expect(matcher.push('Hello there')).toEqual({ text: 'Hello there', stopped: false });
    expect(matcher.push('!\nUs')).toEqual({ text: '!', stopped: false });
    expect(matcher.push('er: hi')).toEqual({ text: '', stopped: true });
  });

  it('releases held text that turned out not to be a stop string', () => {
    const matcher = new StopStringMatcher(['END']);
    expect(matcher.push('the EN')).toEqual({ text: 'the ', stopped: false });
    expect(matcher.push('D')).toEqual({ text: '', stopped: true });
    const other = new StopStringMatcher(['END']);
    expect(other.push('the EN')).toEqual({ text: 'the ', stopped: false });
    expect(other.push('ough')).toEqual({ text: 'ENough', stopped: false });
    expect(other.push('E')).toEqual({ text: '', stopped: false });
    expect(other.flush()).toBe('E');
  });
});

describe('SequenceOutput and generate', () => {
  let model: DecoderModel;
  beforeAll(async () => {
    model = await loadModel(buildTinyModel({ initializerRange: 0.3 }, 4).dir);
  });
  afterAll(async () => {
    await model.dispose();
    removeTempDirs();
  });

  it('ends on EOS (excluded from tokens), on max tokens, and on a stop string', () => {
    const ids = model.tokenizer.encode('Hello world, traveler');
    const eos = model.specialTokens.eos[0]!;
    const byEos = new SequenceOutput(model.tokenizer, { eosTokenIds: [eos], maxTokens: 99 });
    for (const id of ids) expect(byEos.accept(id).finishReason).toBeUndefined();
    expect(byEos.accept(eos).finishReason).toBe('stop');
    expect(byEos.tokens).toEqual(ids);
    expect(byEos.text).toBe('Hello world, traveler');

    const byLength = new SequenceOutput(model.tokenizer, { eosTokenIds: [eos], maxTokens: 2 });
    byLength.accept(ids[0]!);
    expect(byLength.accept(ids[1]!).finishReason).toBe('length');
    expect(byLength.text).toBe(model.tokenizer.decode(ids.slice(0, 2)));

    const byStop = new SequenceOutput(model.tokenizer, { eosTokenIds: [eos], maxTokens: 99, stop: ['world'] });
    let finish;
    for (const id of ids) if ((finish = byStop.accept(id).finishReason)) break;
    expect(finish).toBe('stop');
    expect(byStop.text).toBe('Hello ');
  });

  it('reproduces a sampled reply from its seed, and streams exactly the final text', async () => {
    const request = {
      prompt: { messages: [{ role: 'user' as const, content: 'Tell me about the caves.' }] },
      sampling: { temperature: 0.9, topK: 40, topP: 0.95, repetitionPenalty: 1.1, seed: 1234 },
      maxTokens: 20,
    };
    const streamed: string[] = [];
    const first = await generate(model, request, (event) => streamed.push(event.text));
    const second = await generate(model, request);
    expect(second.tokens).toEqual(first.tokens);
    expect(streamed.join('')).toBe(first.text);
    expect(first.seed).toBe(1234);
    const other = await generate(model, { ...request, sampling: { ...request.sampling, seed: 99 } });
    expect(other.tokens).not.toEqual(first.tokens);
  });

  it('applies the allowed-token hook at every step', async () => {
    const allowedIds = model.tokenizer.encode(' the forge');
    const allowed = maskFromIds(allowedIds, model.vocabSize);
    const reply = await generate(model, {
      prompt: { text: 'Where?' },
      sampling: { temperature: 1, seed: 5 },
      maxTokens: 10,
      allowedTokens: () => allowed,
    });
    expect(reply.tokens.every((id) => allowedIds.includes(id))).toBe(true);
  });
});
