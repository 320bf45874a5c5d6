import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type DecoderModel } from '../../server/src/inference/model/index.ts';
import { buildTinyModel, fullSequence, logitsRow, maxAbsDifference, removeTempDirs } from './helpers.ts';

const TOLERANCE = 1e-4;
let model: DecoderModel;

beforeAll(async () => {
  model = await loadModel(buildTinyModel().dir);
});
afterAll(async () => {
  await model.dispose();
  removeTempDirs();
});

function tokens(count: number, offset = 0): number[] {
  return Array.from({ length: count }, (_, i) => 3 + ((i * 37 + offset * 11) % 300));
}

describe('KV-cache decoding', () => {
  it.each([1, 2, 7, 20])('matches full-sequence recomputation after a %i-token prefill', async (promptLength) => {
    const sequence = tokens(promptLength + 6);
    const reference = await fullSequence(model, sequence);

    let step = await fullSequence(model, sequence.slice(0, promptLength));
    for (let position = 0; position < promptLength; position++) {
      expect(maxAbsDifference(logitsRow(step, position), logitsRow(reference, position))).toBeLessThan(TOLERANCE);
    }
    for (let position = promptLength; position < sequence.length; position++) {
      step = await model.step({
        batchSize: 1,
        inputIds: BigInt64Array.of(BigInt(sequence[position]!)),
        attentionMask: new BigInt64Array(position + 1).fill(1n),
        positionIds: BigInt64Array.of(BigInt(position)),
        past: step.present,
      });
      expect(step.present.keys[0]!.dims[2]).toBe(position + 1);
      expect(maxAbsDifference(logitsRow(step, 0), logitsRow(reference, position))).toBeLessThan(TOLERANCE);
    }
  });

  it('prefills in chunks (P > 0 and S > 1) with the same result', async () => {
    const sequence = tokens(12, 5);
    const reference = await fullSequence(model, sequence);
    const first = await fullSequence(model, sequence.slice(0, 5));
    const second = await model.step({
      batchSize: 1,
      inputIds: BigInt64Array.from(sequence.slice(5), BigInt),
      attentionMask: new BigInt64Array(12).fill(1n),
      positionIds: BigInt64Array.from({ length: 7 }, (_, i) => BigInt(5 + i)),
      past: first.present,
    });
    for (let i = 0; i < 7; i++) {
      expect(maxAbsDifference(logitsRow(second, i), logitsRow(reference, 5 + i))).toBeLessThan(TOLERANCE);
    }
  });
});

describe('attention_mask', () => {
  it('a left-padded batch of 2 gives each row the logits it gets alone, in prefill and decode', async () => {
    const short = tokens(4, 1);
    const long = tokens(9, 2);
    const width = long.length;
    const padding = width - short.length;
    const pad = model.specialTokens.pad;

    const batched = await model.step({
      batchSize: 2,
      inputIds: BigInt64Array.from([...Array(padding).fill(pad), ...short, ...long], BigInt),
      attentionMask: BigInt64Array.from([...Array(padding).fill(0), ...short.map(() => 1), ...long.map(() => 1)], BigInt),
      positionIds: BigInt64Array.from([...Array(padding).fill(0), ...short.map((_, i) => i), ...long.map((_, i) => i)], BigInt),
      past: model.emptyCache(2),
    });
    const aloneShort = await fullSequence(model, short);
    const aloneLong = await fullSequence(model, long);
    for (let i = 0; i < short.length; i++) {
      expect(maxAbsDifference(logitsRow(batched, padding + i, 0), logitsRow(aloneShort, i))).toBeLessThan(TOLERANCE);
    }
    for (let i = 0; i < long.length; i++) {
      expect(maxAbsDifference(logitsRow(batched, i, 1), logitsRow(aloneLong, i))).toBeLessThan(TOLERANCE);
    }
    expect(batched.logits.every(Number.isFinite)).toBe(true);

    // One decode step for both rows on top of the padded cache.
    const next = [17, 29];
    const decoded = await model.step({
      batchSize: 2,
      inputIds: BigInt64Array.from(next, BigInt),
      attentionMask: BigInt64Array.from([...Array(padding).fill(0), ...Array(short.length + 1).fill(1), ...Array(width + 1).fill(1)], BigInt),
      positionIds: BigInt64Array.from([short.length, long.length], BigInt),
      past: batched.present,
    });
    const shortThenNext = await fullSequence(model, [...short, next[0]!]);
    const longThenNext = await fullSequence(model, [...long, next[1]!]);
    expect(maxAbsDifference(logitsRow(decoded, 0, 0), logitsRow(shortThenNext, short.length))).toBeLessThan(TOLERANCE);
    expect(maxAbsDifference(logitsRow(decoded, 0, 1), logitsRow(longThenNext, long.length))).toBeLessThan(TOLERANCE);
  });

  it('masks a hole in the middle of a row (a slot whose token must be ignored)', async () => {
    const real = tokens(6, 3);
    const withHole = [...real.slice(0, 3), 250, ...real.slice(3)];
    const holed = await model.step({
      batchSize: 1,
      inputIds: BigInt64Array.from(withHole, BigInt),
      attentionMask: BigInt64Array.of(1n, 1n, 1n, 0n, 1n, 1n, 1n),
      positionIds: BigInt64Array.of(0n, 1n, 2n, 0n, 3n, 4n, 5n),
      past: model.emptyCache(1),
    });
    const reference = await fullSequence(model, real);
    for (let i = 0; i < 3; i++) expect(maxAbsDifference(logitsRow(holed, i), logitsRow(reference, i))).toBeLessThan(TOLERANCE);
    for (let i = 3; i < 6; i++) expect(maxAbsDifference(logitsRow(holed, i + 1), logitsRow(reference, i))).toBeLessThan(TOLERANCE);

    // Control: with the hole unmasked the extra token changes the later logits, so the mask did the work.
    const unmasked = await model.step({
      batchSize: 1,
      inputIds: BigInt64Array.from(withHole, BigInt),
      attentionMask: new BigInt64Array(7).fill(1n),
      positionIds: BigInt64Array.of(0n, 1n, 2n, 0n, 3n, 4n, 5n),
      past: model.emptyCache(1),
    });
    expect(maxAbsDifference(logitsRow(unmasked, 6), logitsRow(reference, 5))).toBeGreaterThan(1e-3);
  });
});
