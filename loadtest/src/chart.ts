/**
 * The load report's chart: world tick time (p50/p99/max per second, left axis) and NPC time to first
 * token (one dot per answered turn, right axis) over the run, with the measured phase shaded and a
 * legend that names every line, dot and band drawn (the reference line included).
 *
 * Hand-written SVG rather than a charting library: two series on two axes are a few dozen lines of
 * markup, the file is plain text (diffable, viewable in any browser, no canvas or native dependency),
 * and the load tester stays installable with nothing but the client SDK.
 *
 * The pure parts (`chartScales`, `legendEntries`) are exported so that tests can check the axes and the
 * legend without parsing pictures.
 */
import type { TickPoint } from './report.ts';

export interface ChartInput {
  title: string;
  startedAt: number;
  measureStart: number;
  measureEnd: number;
  tick: TickPoint[];
  ttft: { at: number; ms: number; outcome: string }[];
  /** Horizontal reference line on the tick axis (ms): the tick p99 a run should stay under. */
  tickTargetMs?: number;
  /** What one tick point covers, for the legend: 'per second' (every frame of a server we own) unless said otherwise. */
  tickPointLabel?: string;
}

const W = 960;
const H = 500;
const M = { left: 64, right: 76, top: 78, bottom: 52 };
const PW = W - M.left - M.right;
const PH = H - M.top - M.bottom;
/** The tick axis stretches to the per-second max unless that is more than this many times the p99 peak (then spikes are clipped and marked, so p50/p99 stay readable). */
const MAX_STRETCH = 4;

const COLOR = {
  p99: '#1f4e9c',
  p50: '#4f86d9',
  max: '#8a2be2',
  target: '#cc0000',
  ttft: '#e07020',
  fallback: '#7a1f00',
  phase: '#eef4ff',
};

export function niceCeil(v: number): number {
  if (!(v > 0) || !Number.isFinite(v)) return 1;
  const exp = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * exp >= v * (1 - 1e-12)) return m * exp;
  return 10 * exp;
}

export interface ChartScales {
  /** Top of the tick axis (ms). */
  tickTopMs: number;
  /** Top of the TTFT axis (ms), from the TTFT points themselves (no fixed floor). */
  ttftTopMs: number;
  /** Per-second tick max values above the top of the axis, drawn as markers on its top edge. */
  clippedTick: number;
}

export function chartScales(input: ChartInput): ChartScales {
  const target = input.tickTargetMs ?? 20;
  const finite = (vs: number[]) => vs.filter((v) => Number.isFinite(v));
  const p99Peak = Math.max(0, ...finite(input.tick.map((p) => p.p99)));
  const maxPeak = Math.max(0, ...finite(input.tick.map((p) => p.max)));
  // Room for the max line, unless one spike would squash everything else flat.
  const wanted = Math.max(target * 1.25, p99Peak * 1.1, Math.min(maxPeak * 1.05, MAX_STRETCH * Math.max(p99Peak, target)));
  const tickTopMs = niceCeil(wanted);
  let clippedTick = 0;
  for (const p of input.tick) if (p.max > tickTopMs) clippedTick++; // p50 ≤ p99 < the top by construction
  const ttftPeak = Math.max(0, ...finite(input.ttft.map((p) => p.ms)));
  const ttftTopMs = ttftPeak > 0 ? niceCeil(ttftPeak * 1.1) : 1_000;
  return { tickTopMs, ttftTopMs, clippedTick };
}

export type LegendKind = 'line' | 'dashed-line' | 'dot' | 'diamond' | 'band';

export interface LegendEntry {
  /** The `data-series` of what it explains in the SVG. */
  series: 'tick-p99' | 'tick-p50' | 'tick-max' | 'tick-target' | 'measured-phase' | 'ttft' | 'ttft-fallback';
  label: string;
  kind: LegendKind;
  color: string;
  width: number;
}

/** What the legend says: one entry per series that is drawn, the reference line and the shaded band included. */
export function legendEntries(input: ChartInput): LegendEntry[] {
  const target = input.tickTargetMs ?? 20;
  const per = input.tickPointLabel ?? 'per second';
  const entries: LegendEntry[] = [];
  if (input.tick.length > 0) {
    entries.push({ series: 'tick-p99', label: `tick p99 ${per}`, kind: 'line', color: COLOR.p99, width: 3 });
    entries.push({ series: 'tick-p50', label: `tick p50 ${per}`, kind: 'dashed-line', color: COLOR.p50, width: 1.5 });
    entries.push({ series: 'tick-max', label: `tick max ${per}`, kind: 'diamond', color: COLOR.max, width: 0 });
  }
  entries.push({ series: 'tick-target', label: `target: tick p99 < ${target} ms`, kind: 'dashed-line', color: COLOR.target, width: 1.5 });
  entries.push({ series: 'measured-phase', label: 'measured phase', kind: 'band', color: COLOR.phase, width: 0 });
  if (input.ttft.some((p) => p.outcome !== 'fallback')) entries.push({ series: 'ttft', label: 'NPC time to first token (right axis)', kind: 'dot', color: COLOR.ttft, width: 0 });
  if (input.ttft.some((p) => p.outcome === 'fallback')) entries.push({ series: 'ttft-fallback', label: 'scripted fallback line (right axis)', kind: 'dot', color: COLOR.fallback, width: 0 });
  return entries;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const f = (v: number) => (Math.round(v * 10) / 10).toString();

export function renderChart(input: ChartInput): string {
  const t0 = input.startedAt;
  const tEnd = Math.max(input.measureEnd, ...input.tick.map((p) => p.at), ...input.ttft.map((p) => p.at), t0 + 1_000);
  const spanS = (tEnd - t0) / 1000;
  const target = input.tickTargetMs ?? 20;
  const { tickTopMs: tickTop, ttftTopMs: ttftTop, clippedTick } = chartScales(input);
  const x = (at: number) => M.left + (((at - t0) / 1000) / spanS) * PW;
  const yTick = (ms: number) => M.top + PH - (Math.min(ms, tickTop) / tickTop) * PH;
  const yTtft = (ms: number) => M.top + PH - (Math.min(ms, ttftTop) / ttftTop) * PH;
  const line = (key: 'p50' | 'p99' | 'max') => input.tick.map((p, i) => `${i === 0 ? 'M' : 'L'}${f(x(p.at))},${f(yTick(p[key]))}`).join(' ');

  const out: string[] = [];
  out.push(`<?xml version="1.0" encoding="UTF-8"?>`);
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<title>${esc(input.title)}</title>`);
  out.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(input.title)}</text>`);
  out.push(`<rect id="measured-phase" data-series="measured-phase" x="${f(x(input.measureStart))}" y="${M.top}" width="${f(Math.max(0, x(input.measureEnd) - x(input.measureStart)))}" height="${PH}" fill="${COLOR.phase}"/>`);
  // Grid and axes.
  const gridSteps = 5;
  for (let i = 0; i <= gridSteps; i++) {
    const y = M.top + PH - (i / gridSteps) * PH;
    out.push(`<line x1="${M.left}" y1="${f(y)}" x2="${M.left + PW}" y2="${f(y)}" stroke="#dddddd"/>`);
    out.push(`<text x="${M.left - 6}" y="${f(y + 4)}" text-anchor="end" fill="${COLOR.p99}">${f((tickTop * i) / gridSteps)}</text>`);
    out.push(`<text x="${M.left + PW + 6}" y="${f(y + 4)}" fill="${COLOR.ttft}">${Math.round((ttftTop * i) / gridSteps)}</text>`);
  }
  const xStep = niceCeil(spanS / 8);
  for (let s = 0; s <= spanS + 1e-9; s += xStep) {
    const xx = M.left + (s / spanS) * PW;
    out.push(`<line x1="${f(xx)}" y1="${M.top + PH}" x2="${f(xx)}" y2="${M.top + PH + 4}" stroke="#333333"/>`);
    out.push(`<text x="${f(xx)}" y="${M.top + PH + 18}" text-anchor="middle">${f(s)}</text>`);
  }
  out.push(`<rect x="${M.left}" y="${M.top}" width="${PW}" height="${PH}" fill="none" stroke="#999999"/>`);
  out.push(`<text x="${M.left + PW / 2}" y="${H - 12}" text-anchor="middle">seconds since start</text>`);
  out.push(`<text transform="translate(18 ${M.top + PH / 2}) rotate(-90)" text-anchor="middle" fill="${COLOR.p99}">world tick time (ms)</text>`);
  out.push(`<text transform="translate(${W - 16} ${M.top + PH / 2}) rotate(90)" text-anchor="middle" fill="${COLOR.ttft}">NPC time to first token (ms)</text>`);
  // Reference line, labelled where it is drawn as well as in the legend.
  out.push(`<line id="tick-target" data-series="tick-target" x1="${M.left}" y1="${f(yTick(target))}" x2="${M.left + PW}" y2="${f(yTick(target))}" stroke="${COLOR.target}" stroke-width="1.5" stroke-dasharray="6 4"/>`);
  out.push(`<text x="${M.left + PW - 4}" y="${f(yTick(target) - 4)}" text-anchor="end" fill="${COLOR.target}">target: tick p99 &lt; ${target} ms</text>`);
  // Tick series: p50, p99 (a thick line), then max as a diamond per second on top: with ~20 frames a
  // second the per-second p99 is close to the max, and a second line would hide one of them.
  out.push(`<g id="tick-series" fill="none" stroke-linejoin="round">`);
  if (input.tick.length > 0) {
    out.push(`<path data-series="tick-p50" d="${line('p50')}" stroke="${COLOR.p50}" stroke-width="1.5" stroke-dasharray="4 3"><title>tick p50 per second</title></path>`);
    out.push(`<path data-series="tick-p99" d="${line('p99')}" stroke="${COLOR.p99}" stroke-width="3"><title>tick p99 per second</title></path>`);
    const diamonds = input.tick.map((p) => `M${f(x(p.at))},${f(yTick(p.max))} m-4,0 l4,-4 l4,4 l-4,4 z`).join(' ');
    out.push(`<path data-series="tick-max" d="${diamonds}" fill="${COLOR.max}" stroke="none"><title>tick max per second</title></path>`);
    for (const p of input.tick) {
      if (!(p.max > tickTop)) continue;
      const xx = x(p.at);
      out.push(`<path data-series="tick-clipped" d="M${f(xx - 4)},${M.top + 7} L${f(xx)},${M.top} L${f(xx + 4)},${M.top + 7} Z" fill="${COLOR.max}" stroke="none"><title>${esc(`tick max ${f(p.max)} ms (above the axis)`)}</title></path>`);
    }
  } else {
    out.push(`<text x="${M.left + 8}" y="${M.top + 16}" fill="${COLOR.p99}" stroke="none">no tick samples</text>`);
  }
  out.push(`</g>`);
  if (clippedTick > 0) out.push(`<text x="${M.left + 4}" y="${M.top + 18}" fill="${COLOR.max}">▲ tick max above ${f(tickTop)} ms in ${clippedTick} second(s), marked on the top edge</text>`);
  // TTFT series.
  out.push(`<g id="ttft-series" fill-opacity="0.75">`);
  for (const p of input.ttft) {
    const fallback = p.outcome === 'fallback';
    out.push(`<circle data-series="${fallback ? 'ttft-fallback' : 'ttft'}" cx="${f(x(p.at))}" cy="${f(yTtft(p.ms))}" r="3" fill="${fallback ? COLOR.fallback : COLOR.ttft}"><title>${esc(`${Math.round(p.ms)} ms (${p.outcome})`)}</title></circle>`);
  }
  if (input.ttft.length === 0) out.push(`<text x="${M.left + PW - 4}" y="${M.top + 16}" text-anchor="end" fill="${COLOR.ttft}">no answered NPC turns</text>`);
  out.push(`</g>`);
  // Legend: rows above the plot, wrapped to the chart's width.
  out.push(`<g id="legend">`);
  let lx = M.left;
  let ly = 44;
  for (const e of legendEntries(input)) {
    const w = 30 + e.label.length * 6.6 + 18;
    if (lx + w > W - 8) {
      lx = M.left;
      ly += 18;
    }
    const mark =
      e.kind === 'diamond'
        ? `<path d="M${f(lx + 7)},${ly} l4,-4 l4,4 l-4,4 z" fill="${e.color}"/>`
        : e.kind === 'dot'
        ? `<circle cx="${f(lx + 11)}" cy="${ly}" r="3.5" fill="${e.color}"/>`
        : e.kind === 'band'
          ? `<rect x="${f(lx)}" y="${ly - 6}" width="22" height="12" fill="${e.color}" stroke="#9fb8e0"/>`
          : `<line x1="${f(lx)}" y1="${ly}" x2="${f(lx + 22)}" y2="${ly}" stroke="${e.color}" stroke-width="${e.width}"${e.kind === 'dashed-line' ? ' stroke-dasharray="4 3"' : ''}/>`;
    out.push(`<g data-legend="${e.series}">${mark}<text x="${f(lx + 28)}" y="${ly + 4}">${esc(e.label)}</text></g>`);
    lx += w;
  }
  out.push(`</g>`);
  out.push(`</svg>`);
  return out.join('\n') + '\n';
}
