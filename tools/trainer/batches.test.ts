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

  it('with copyDrills, make that share of rows "A sep A sep …" (2–4 copies) over the ids the stream uses, sep its most frequent id', () => {
    // A stream over ids 10..509 in which 7 is the most frequent id.
    const skewed = Array.from({ length: 20_000 }, (_, i) => (i % 3 === 0 ? 7 : 10 + (i % 500)));
    const rows = 300;
    const S = 128;
    const { inputIds, targets } = textBatches(skewed, { batch: rows, sequence: S, seed: 5, copyDrills: 0.4 }).batch(2, 0);
    let drills = 0;
    for (let r = 0; r < rows; r++) {
      const row = Array.from({ length: S + 1 }, (_, i) => Number(i < S ? inputIds[r * S + i] : targets[r * S + S - 1]));
      for (let i = 0; i < S; i++) if (i < S - 1) expect(targets[r * S + i]).toBe(inputIds[r * S + i + 1]);
      const blocks: number[][] = [[]];
      for (const id of row) id === 7 ? blocks.push([]) : blocks.at(-1)!.push(id);
      // A drill row starts with a block and its copy: 12–30 ids of the stream, never the separator.
      const [a, b] = blocks;
      if (!(a!.length >= 12 && a!.length === b!.length && a!.every((id, i) => id === b![i]))) continue;
      drills++;
      for (const id of a!) expect(id >= 10 && id < 510).toBe(true);
      // Every whole block is one of a run of 2–4 equal blocks.
      const whole = blocks.slice(0, -1);
      let run = 1;
      for (let k = 1; k <= whole.length; k++) {
        if (k < whole.length && whole[k]!.join() === whole[k - 1]!.join()) run++;
        else {
          if (k < whole.length) expect(run).toBeGreaterThanOrEqual(2);
          expect(run).toBeLessThanOrEqual(4);
          run = 1;
        }
      }
    }
    expect(drills).toBeGreaterThan(rows * 0.25);
    expect(drills).toBeLessThan(rows * 0.55);
  });

  it('refuse a share outside 0..1', () => {
    expect(() => textBatches(stream, { batch: 1, sequence: 128, seed: 1, copySpans: 1.5 })).toThrow(/between 0 and 1/);
    expect(() => textBatches(stream, { batch: 1, sequence: 128, seed: 1, copyDrills: -0.1 })).toThrow(/between 0 and 1/);
  });
});
