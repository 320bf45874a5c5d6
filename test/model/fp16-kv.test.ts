import { afterAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../server/src/inference/model/index.ts';
import { generate } from '../../server/src/inference/generate/index.ts';
import { buildTinyModel, fullSequence, logitsRow, maxAbsDifference, removeTempDirs } from './helpers.ts';

afterAll(removeTempDirs);

describe('fp16 KV-cache variant', () => {
  it('exposes float16 past/present tensors and decodes like its full recomputation', async () => {
    const model = await loadModel(buildTinyModel({ kvDtype: 'float16' }, 5).dir);
    expect(model.io.kvDtype).toBe('float16');
    const sequence = [5, 60, 61, 62, 200, 201, 17, 18, 19];
    const reference = await fullSequence(model, sequence);
    expect(reference.present.keys[0]!.type).toBe('float16');
    expect(reference.present.keys[0]!.data).toBeInstanceOf(Uint16Array);

    let step = await fullSequence(model, sequence.slice(0, 4));
    for (let position = 4; position < sequence.length; position++) {
      step = await model.step({
        batchSize: 1,
        inputIds: BigInt64Array.of(BigInt(sequence[position]!)),
        attentionMask: new BigInt64Array(position + 1).fill(1n),
        positionIds: BigInt64Array.of(BigInt(position)),
        past: step.present,
      });
      expect(maxAbsDifference(logitsRow(step, 0), logitsRow(reference, position))).toBeLessThan(1e-4);
    }
    await model.dispose();
  });

  it('stays close to the fp32-KV model with the same weights and generates', async () => {
    const fp16 = await loadModel(buildTinyModel({ kvDtype: 'float16' }, 9).dir);
    const fp32 = await loadModel(buildTinyModel({ kvDtype: 'float32' }, 9).dir);
    const sequence = [5, 60, 61, 62, 200, 201];
    const a = await fullSequence(fp16, sequence);
    const b = await fullSequence(fp32, sequence);
    expect(maxAbsDifference(a.logits, b.logits)).toBeLessThan(5e-3);
    const reply = await generate(fp16, { prompt: { text: 'Hello there' }, sampling: { temperature: 0 }, maxTokens: 8 });
    expect(reply.tokens.length > 0 || reply.finishReason === 'stop').toBe(true);
    await Promise.all([fp16.dispose(), fp32.dispose()]);
  });
});
