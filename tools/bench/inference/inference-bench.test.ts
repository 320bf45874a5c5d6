/** The pure parts of bench:inference: aggregation over rounds and the steady-state arrival schedule. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { arrivalSchedule } from './arrivals.ts';
import { median, ratioSpread, showSpread, spread } from './rounds-stats.ts';

describe('aggregation over rounds', () => {
  it('takes the middle value, or the mean of the two middle ones', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  it('reports median with min–max, leaving out rounds without a value', () => {
    expect(spread([151, 175, 142])).toEqual({ median: 151, min: 142, max: 175, n: 3 });
    expect(spread([10, null, Number.NaN, 20])).toEqual({ median: 15, min: 10, max: 20, n: 2 });
    expect(spread([null, undefined])).toBeNull();
  });

  it('a ratio is the median of the per-round ratios, not the ratio of the medians', () => {
    // Round 2 is slow for both sides; its ratio is as good as the others'.
    const batched = [300, 150, 280];
    const sequential = [50, 25, 70];
    expect(ratioSpread(batched, sequential)).toEqual({ median: 6, min: 4, max: 6, n: 3 });
    expect(median(batched) / median(sequential)).toBeCloseTo(5.6); // what the old, one-shot view would say
    expect(ratioSpread([1, 2], [0, null])).toBeNull();
    expect(() => ratioSpread([1], [1, 2])).toThrow(/numerators/);
  });

  it('median and spread stay within the values and are order-free (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 9 }), (values) => {
        const s = spread(values, 6)!;
        expect(s.min).toBeLessThanOrEqual(s.median);
        expect(s.median).toBeLessThanOrEqual(s.max);
        expect(s.n).toBe(values.length);
        expect(spread([...values].reverse(), 6)).toEqual(s);
      }),
    );
  });

  it('shows one value for one round, median (min–max) otherwise', () => {
    expect(showSpread(spread([5]))).toBe('5.0');
    expect(showSpread(spread([1, 2, 3]), 0)).toBe('2 (1–3)');
    expect(showSpread(null)).toBe('-');
  });
});

describe('arrival schedule', () => {
  it('fixed rate: evenly spaced from 0', () => {
    expect(arrivalSchedule({ count: 4, ratePerSecond: 2, process: 'fixed', seed: 1 })).toEqual([0, 500, 1000, 1500]);
  });

  it('Poisson: seeded (same seed, same schedule), starts at 0, never goes back in time (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 200 }), fc.double({ min: 0.1, max: 100, noNaN: true }), fc.integer(), (count, rate, seed) => {
        const a = arrivalSchedule({ count, ratePerSecond: rate, process: 'poisson', seed });
        expect(a).toEqual(arrivalSchedule({ count, ratePerSecond: rate, process: 'poisson', seed }));
        expect(a).toHaveLength(count);
        if (count > 0) expect(a[0]).toBe(0);
        for (let i = 1; i < a.length; i++) expect(a[i]!).toBeGreaterThanOrEqual(a[i - 1]!);
      }),
    );
  });

  it('Poisson: the mean gap is close to 1/rate over many arrivals, and seeds differ', () => {
    const a = arrivalSchedule({ count: 20_001, ratePerSecond: 4, process: 'poisson', seed: 7 });
    const meanGap = a[a.length - 1]! / (a.length - 1);
    expect(meanGap).toBeGreaterThan(240); // 250 ms ± 4 % (the standard error here is 0.7 %)
    expect(meanGap).toBeLessThan(260);
    expect(arrivalSchedule({ count: 5, ratePerSecond: 4, process: 'poisson', seed: 8 })).not.toEqual(a.slice(0, 5));
  });

  it('refuses a rate that is not positive', () => {
    expect(() => arrivalSchedule({ count: 3, ratePerSecond: 0, process: 'fixed', seed: 1 })).toThrow(/rate/);
  });
});
