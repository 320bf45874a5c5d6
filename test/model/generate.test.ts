import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate, streamGenerate } from '../../server/src/inference/generate/index.ts';
import { loadModel, type DecoderModel, type DecoderStepInput } from '../../server/src/inference/model/index.ts';
import { argmax, buildTinyModel, fullSequence, logitsRow, removeTempDirs } from './helpers.ts';

let model: DecoderModel;

beforeAll(async () => {
  model = await loadModel(buildTinyModel({ initializerRange: 0.3 }, 13).dir);
});
afterAll(async () => {
  await model.dispose();
  removeTempDirs();
});

describe('single-sequence generation', () => {
  it('prefills once, then feeds one token per step on top of the cache', async () => {
    const calls: Array<{ sequence: number; past: number }> = [];
    const step = model.step.bind(model);
    const spy = Object.assign(Object.create(model) as DecoderModel, {
      step: (input: DecoderStepInput) => {
        calls.push({ sequence: input.inputIds.length, past: input.past.length });
        return step(input);
      },
    });
    const reply = await generate(spy, { prompt: { text: 'Good morning, keeper.' }, sampling: { temperature: 0 }, maxTokens: 10 });
    const promptLength = reply.promptTokens;
    expect(calls[0]).toEqual({ sequence: promptLength, past: 0 });
    calls.slice(1).forEach((call, index) => expect(call).toEqual({ sequence: 1, past: promptLength + index }));
    expect(calls.length).toBe(reply.tokens.length + (reply.finishReason === 'length' ? 0 : 1));
  });

  it('greedy output equals argmax over full recomputation at every step', async () => {
    const prompt = model.tokenizer.encode('Where is the old mill?');
    const reply = await generate(model, { prompt: { tokens: prompt }, sampling: { temperature: 0 }, maxTokens: 12 });
    const sequence = [...prompt];
    for (const token of reply.tokens) {
      const full = await fullSequence(model, sequence);
      expect(token).toBe(argmax(logitsRow(full, sequence.length - 1)));
      sequence.push(token);
    }
  });

  it('streams token events and returns timing', async () => {
    const stream = streamGenerate(model, { prompt: { messages: [{ role: 'user', content: 'hi' }] }, sampling: { temperature: 0 }, maxTokens: 6 });
    const events = [];
    let next = await stream.next();
    while (!next.done) {
      events.push(next.value);
      next = await stream.next();
    }
    const result = next.value;
    expect(events.map((e) => e.text).join('')).toBe(result.text);
    expect(result.ttftMs).toBeGreaterThan(0);
    expect(result.totalMs).toBeGreaterThanOrEqual(result.ttftMs);
    if (result.tokens.length > 1) expect(result.tokensPerSecond).toBeGreaterThan(0);
  });

  it('stops at the context length and honours an abort signal', async () => {
    const prompt = Array.from({ length: model.contextLength - 3 }, (_, i) => 3 + (i % 300));
    const full = await generate(model, { prompt: { tokens: prompt }, sampling: { temperature: 0 }, maxTokens: 50 });
    expect(full.tokens.length).toBeLessThanOrEqual(3);
    if (full.tokens.length === 3) expect(full.finishReason).toBe('length');
    await expect(generate(model, { prompt: { tokens: [...prompt, 1, 2, 3] } })).rejects.toThrow(/context holds 256/);

    const controller = new AbortController();
    controller.abort();
    const aborted = await generate(model, { prompt: { text: 'hi' }, sampling: { temperature: 0 }, maxTokens: 50, signal: controller.signal });
    expect(aborted.finishReason).toBe('aborted');
    expect(aborted.tokens.length).toBeLessThanOrEqual(1);
  });
});
