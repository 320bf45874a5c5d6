import { describe, expect, it } from 'vitest';
import { textBatches } from './batches.ts';

const stream = Array.from({ length: 20_000 }, (_, i) => i % 4096);

describe('text batches', () => {
  it('are windows of the stream whose targets are the next tokens', () => {
    const source = textBatches(stream, { batch: 3, sequence: 128, seed: 7 });
    const b = source.batch(0, 0);
    expect(b.shape).toEqual({ batch: 3, sequence: 128, lossRows: 384 });
    for (let i = 0; i < 384; i++) {
      if (i % 128 !== 127) expect(b.targets[i]).toBe(b.inputIds[i + 1]);
    }
    expect(source.batch(0, 0).inputIds).toEqual(b.inputIds); // same step → same rows
  });

  it('with copySpans, repeat an earlier span of a row later in that row, on about that share of rows', () => {
    const rows = 400;
    const source = textBatches(stream, { batch: rows, sequence: 256, seed: 3, copySpans: 0.5 });
    const { inputIds, targets } = source.batch(1, 0);
    let repeated = 0;
    for (let r = 0; r < rows; r++) {
      const row = Array.from({ length: 257 }, (_, i) => Number(i < 256 ? inputIds[r * 256 + i] : targets[r * 256 + 255]));
      // The stream counts up by one (mod 4096), so a window never repeats inside a row unless a span was copied.
      const seen = new Map<string, number>();
      let copied = false;
      for (let i = 0; i + 16 <= row.length && !copied; i++) {
        const key = row.slice(i, i + 16).join(',');
        const at = seen.get(key);
        if (at !== undefined && i - at >= 16) copied = true;
        else if (at === undefined) seen.set(key, i);
      }
      if (copied) repeated++;
    }
    expect(repeated).toBeGreaterThan(rows * 0.35);
    expect(repeated).toBeLessThan(rows * 0.65);
  });

  it('refuse a share outside 0..1', () => {
    expect(() => textBatches(stream, { batch: 1, sequence: 128, seed: 1, copySpans: 1.5 })).toThrow(/between 0 and 1/);
  });
});
