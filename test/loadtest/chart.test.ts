/**
 * The load report's chart, its pure parts: the axes follow the data (the tick axis makes room for the
 * max line unless one spike would flatten the rest; the TTFT axis has no fixed floor), the legend names
 * every series that is drawn and the reference line, and everything it names is in the SVG.
 */
import { describe, expect, it } from 'vitest';
import { chartScales, legendEntries, niceCeil, renderChart, type ChartInput } from '../../loadtest/src/chart.ts';

const T0 = 1_700_000_000_000;

function input(over: Partial<ChartInput> = {}): ChartInput {
  const tick = Array.from({ length: 20 }, (_, i) => ({ at: T0 + (i + 1) * 1000, p50: 5, p99: 12, max: 18 + (i % 3) }));
  return { title: 'test', startedAt: T0, measureStart: T0 + 3_000, measureEnd: T0 + 18_000, tick, ttft: [], tickTargetMs: 20, ...over };
}

/** Y coordinates of a path's points (M/L commands). */
function pathYs(svg: string, series: string): number[] {
  const m = new RegExp(`<path data-series="${series}" d="([^"]*)"`).exec(svg);
  expect(m, `path ${series}`).toBeTruthy();
  return [...m![1]!.matchAll(/[ML][\d.]+,([\d.]+)/g)].map((p) => Number(p[1]));
}

describe('load test chart', () => {
  it('rounds axis tops up to a readable value', () => {
    expect(niceCeil(20)).toBe(20);
    expect(niceCeil(21)).toBe(25);
    expect(niceCeil(0.7)).toBe(0.8);
    expect(niceCeil(780)).toBe(800);
    expect(niceCeil(0)).toBe(1);
    expect(niceCeil(Number.NaN)).toBe(1);
  });

  it('stretches the tick axis to the max line, so tick max is not clipped to the top edge', () => {
    const s = chartScales(input());
    expect(s.tickTopMs).toBeGreaterThanOrEqual(20);
    expect(s.clippedTick).toBe(0);
    const svg = renderChart(input());
    const top = 78; // M.top: a line clipped to the axis would sit there
    const maxYs = pathYs(svg, 'tick-max');
    const p99Ys = pathYs(svg, 'tick-p99');
    expect(maxYs).toHaveLength(20);
    expect(Math.min(...maxYs)).toBeGreaterThan(top);
    // Higher values sit higher (smaller y): max above p99 in every second.
    maxYs.forEach((y, i) => expect(y).toBeLessThan(p99Ys[i]!));
    // Max (a diamond per second) is drawn after p99, so where they coincide it stays visible.
    expect(svg.indexOf('data-series="tick-max"')).toBeGreaterThan(svg.indexOf('data-series="tick-p99"'));
  });

  it('clips a lone spike and marks it, instead of flattening p50 and p99', () => {
    const base = input();
    base.tick[7] = { ...base.tick[7]!, max: 900 };
    const s = chartScales(base);
    expect(s.tickTopMs).toBeLessThan(900);
    expect(s.tickTopMs).toBeGreaterThanOrEqual(20 * 1.25);
    expect(s.clippedTick).toBe(1);
    const svg = renderChart(base);
    expect(svg.match(/data-series="tick-clipped"/g)).toHaveLength(1);
    expect(svg).toMatch(/tick max above [\d.]+ ms in 1 second\(s\)/);
  });

  it('scales the TTFT axis to the data, with no fixed floor', () => {
    const small = input({ ttft: [40, 85, 120].map((ms, i) => ({ at: T0 + 5_000 + i * 1000, ms, outcome: 'stop' })) });
    expect(chartScales(small).ttftTopMs).toBe(150);
    const large = input({ ttft: [400, 2_600].map((ms, i) => ({ at: T0 + 5_000 + i * 1000, ms, outcome: 'stop' })) });
    expect(chartScales(large).ttftTopMs).toBe(3_000);
    // The highest point sits inside the plot, below its top.
    const svg = renderChart(small);
    const cys = [...svg.matchAll(/<circle data-series="ttft" cx="[\d.]+" cy="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(cys).toHaveLength(3);
    expect(Math.min(...cys)).toBeGreaterThan(78);
    expect(svg).toMatch(/>150</); // the right axis's top label
  });

  it('names the reference line and the shaded phase, and draws every series it names', () => {
    const withTurns = input({
      ttft: [
        { at: T0 + 6_000, ms: 70, outcome: 'stop' },
        { at: T0 + 9_000, ms: 3_000, outcome: 'fallback' },
      ],
    });
    for (const data of [input(), withTurns, input({ tick: [] })]) {
      const svg = renderChart(data);
      const entries = legendEntries(data);
      const labels = entries.map((e) => e.label);
      expect(labels).toContain('target: tick p99 < 20 ms');
      expect(labels).toContain('measured phase');
      for (const e of entries) {
        expect(svg, e.series).toContain(`data-legend="${e.series}"`);
        expect(svg, e.series).toMatch(new RegExp(`<(path|circle|line|rect) [^>]*data-series="${e.series}"`));
      }
    }
    expect(legendEntries(input()).map((e) => e.series)).toEqual(['tick-p99', 'tick-p50', 'tick-max', 'tick-target', 'measured-phase']);
    expect(legendEntries(withTurns).map((e) => e.series)).toEqual(['tick-p99', 'tick-p50', 'tick-max', 'tick-target', 'measured-phase', 'ttft', 'ttft-fallback']);
    // No tick samples: no tick series in the legend, and the chart says so.
    expect(legendEntries(input({ tick: [] })).map((e) => e.series)).toEqual(['tick-target', 'measured-phase']);
    expect(renderChart(input({ tick: [] }))).toContain('no tick samples');
    expect(renderChart(input())).toContain('no answered NPC turns');
  });

  it('says what one tick point covers (every 2 s from /metrics for a server it did not start)', () => {
    expect(legendEntries(input()).find((e) => e.series === 'tick-max')!.label).toBe('tick max per second');
    const remote = legendEntries(input({ tickPointLabel: 'per 2 s (/metrics buckets)' }));
    expect(remote.filter((e) => e.series.startsWith('tick-') && e.series !== 'tick-target').map((e) => e.label)).toEqual([
      'tick p99 per 2 s (/metrics buckets)',
      'tick p50 per 2 s (/metrics buckets)',
      'tick max per 2 s (/metrics buckets)',
    ]);
  });

  it('uses a distinct colour for every legend entry', () => {
    const entries = legendEntries(input({ ttft: [{ at: T0 + 6_000, ms: 70, outcome: 'stop' }, { at: T0 + 7_000, ms: 90, outcome: 'fallback' }] }));
    expect(new Set(entries.map((e) => e.color)).size).toBe(entries.length);
  });
});
