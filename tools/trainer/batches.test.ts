import { describe, expect, it } from 'vitest';
import { mixedBatches, textBatches } from './batches.ts';

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

  it('with copyDrills, make that share of rows blocks followed by partial copies at varying offsets, over the ids the stream uses', () => {
    // A stream over ids 10..4009 counting up: no 8 tokens repeat inside a window unless a drill copied them.
    const counting = Array.from({ length: 20_000 }, (_, i) => 10 + (i % 4000));
    const rows = 300;
    const S = 128;
    const { inputIds, targets } = textBatches(counting, { batch: rows, sequence: S, seed: 5, copyDrills: 0.4 }).batch(2, 0);
    let drills = 0;
    const copyDistances = new Set<number>();
    for (let r = 0; r < rows; r++) {
      for (let i = 0; i < S - 1; i++) expect(targets[r * S + i]).toBe(inputIds[r * S + i + 1]);
      const row = Array.from({ length: S + 1 }, (_, i) => Number(i < S ? inputIds[r * S + i] : targets[r * S + S - 1]));
      for (const id of row) expect(id >= 10 && id < 4010).toBe(true);
      const seen = new Map<string, number>();
      let copied = false;
      for (let i = 0; i + 8 <= row.length; i++) {
        const key = row.slice(i, i + 8).join(',');
        const at = seen.get(key);
        if (at !== undefined) {
          copied = true;
          copyDistances.add(i - at);
        } else seen.set(key, i);
      }
      if (copied) drills++;
    }
    expect(drills).toBeGreaterThan(rows * 0.25);
    expect(drills).toBeLessThan(rows * 0.55);
    // Copies sit at many distances from their source: no fixed offset to learn instead of reading.
    expect(copyDistances.size).toBeGreaterThan(20);
  });

  it('refuse a share outside 0..1', () => {
    expect(() => textBatches(stream, { batch: 1, sequence: 128, seed: 1, copySpans: 1.5 })).toThrow(/between 0 and 1/);
    expect(() => textBatches(stream, { batch: 1, sequence: 128, seed: 1, copyDrills: -0.1 })).toThrow(/between 0 and 1/);
  });
});

describe('mixed batches', () => {
  const main = textBatches(stream, { batch: 2, sequence: 64, seed: 1 });
  const other = textBatches(stream, { batch: 3, sequence: 32, seed: 2 });
  const from = (b: { shape: { batch: number } }) => (b.shape.batch === 2 ? 'main' : 'other');

  it('draw that share of micro-batches from the other source, the same ones for the same (step, micro)', () => {
    const mixed = mixedBatches(main, other, { share: 0.25, seed: 5 });
    const picks = Array.from({ length: 400 }, (_, step) => from(mixed.batch(step, 0)));
    const share = picks.filter((p) => p === 'other').length / picks.length;
    expect(share).toBeGreaterThan(0.15);
    expect(share).toBeLessThan(0.35);
    const again = Array.from({ length: 400 }, (_, step) => from(mixedBatches(main, other, { share: 0.25, seed: 5 }).batch(step, 0)));
    expect(again).toEqual(picks); // resume recomputes the same batches
    expect(mixed.batch(3, 1).inputIds).toEqual(mixed.batch(3, 1).inputIds);
  });

  it('with share 0 or 1 use one source only, and refuse a share outside 0..1', () => {
    for (let step = 0; step < 50; step++) {
      expect(from(mixedBatches(main, other, { share: 0, seed: 1 }).batch(step, 0))).toBe('main');
      expect(from(mixedBatches(main, other, { share: 1, seed: 1 }).batch(step, 0))).toBe('other');
    }
    expect(() => mixedBatches(main, other, { share: 1.2, seed: 1 })).toThrow(/between 0 and 1/);
    expect(() => mixedBatches(main, other, { share: Number.NaN, seed: 1 })).toThrow(/between 0 and 1/);
  });
});
