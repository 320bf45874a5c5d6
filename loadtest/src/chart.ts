/**
 * The load report's chart: world tick time (p50/p99/max per second, left axis) and NPC time to first
 * token (one dot per answered turn, right axis) over the run, with the measured phase shaded.
 *
 * Hand-written SVG rather than a charting library: two series on two axes are a few dozen lines of
 * markup, the file is plain text (diffable, viewable in any browser, no canvas or native dependency),
 * and the load tester stays installable with nothing but the client SDK.
 */
import type { TickPoint } from './report.ts';

export interface ChartInput {
  title: string;
  startedAt: number;
  measureStart: number;
  measureEnd: number;
  tick: TickPoint[];
  ttft: { at: number; ms: number; outcome: string }[];
  /** Horizontal reference line on the tick axis (ms), e.g. the 20 ms target. */
  tickTargetMs?: number;
}

const W = 960;
const H = 480;
const M = { left: 64, right: 76, top: 56, bottom: 52 };
const PW = W - M.left - M.right;
const PH = H - M.top - M.bottom;

function niceCeil(v: number): number {
  if (!(v > 0) || !Number.isFinite(v)) return 1;
  const exp = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * exp >= v) return m * exp;
  return 10 * exp;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const f = (v: number) => (Math.round(v * 10) / 10).toString();

export function renderChart(input: ChartInput): string {
  const t0 = input.startedAt;
  const tEnd = Math.max(input.measureEnd, ...input.tick.map((p) => p.at), ...input.ttft.map((p) => p.at), t0 + 1_000);
  const spanS = (tEnd - t0) / 1000;
  const target = input.tickTargetMs ?? 20;
  const tickTop = niceCeil(Math.max(target * 1.25, ...input.tick.map((p) => p.p99 * 1.2)));
  const ttftTop = niceCeil(Math.max(1_000, ...input.ttft.map((p) => p.ms * 1.1)));
  const x = (at: number) => M.left + (((at - t0) / 1000) / spanS) * PW;
  const yTick = (ms: number) => M.top + PH - (Math.min(ms, tickTop) / tickTop) * PH;
  const yTtft = (ms: number) => M.top + PH - (Math.min(ms, ttftTop) / ttftTop) * PH;
  const line = (key: 'p50' | 'p99' | 'max') => input.tick.map((p, i) => `${i === 0 ? 'M' : 'L'}${f(x(p.at))},${f(yTick(p[key]))}`).join(' ');

  const out: string[] = [];
  out.push(`<?xml version="1.0" encoding="UTF-8"?>`);
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<title>${esc(input.title)}</title>`);
  out.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${W / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${esc(input.title)}</text>`);
  // Measured phase.
  out.push(`<rect id="measured-phase" x="${f(x(input.measureStart))}" y="${M.top}" width="${f(Math.max(0, x(input.measureEnd) - x(input.measureStart)))}" height="${PH}" fill="#eef4ff"/>`);
  // Grid and axes.
  const gridSteps = 5;
  for (let i = 0; i <= gridSteps; i++) {
    const y = M.top + PH - (i / gridSteps) * PH;
    out.push(`<line x1="${M.left}" y1="${f(y)}" x2="${M.left + PW}" y2="${f(y)}" stroke="#dddddd"/>`);
    out.push(`<text x="${M.left - 6}" y="${f(y + 4)}" text-anchor="end" fill="#1f4e9c">${f((tickTop * i) / gridSteps)}</text>`);
    out.push(`<text x="${M.left + PW + 6}" y="${f(y + 4)}" fill="#b34700">${Math.round((ttftTop * i) / gridSteps)}</text>`);
  }
  const xStep = niceCeil(spanS / 8);
  for (let s = 0; s <= spanS + 1e-9; s += xStep) {
    const xx = M.left + (s / spanS) * PW;
    out.push(`<line x1="${f(xx)}" y1="${M.top + PH}" x2="${f(xx)}" y2="${M.top + PH + 4}" stroke="#333333"/>`);
    out.push(`<text x="${f(xx)}" y="${M.top + PH + 18}" text-anchor="middle">${f(s)}</text>`);
  }
  out.push(`<rect x="${M.left}" y="${M.top}" width="${PW}" height="${PH}" fill="none" stroke="#333333"/>`);
  out.push(`<text x="${M.left + PW / 2}" y="${H - 12}" text-anchor="middle">seconds since start (shaded: measured phase)</text>`);
  out.push(`<text transform="translate(18 ${M.top + PH / 2}) rotate(-90)" text-anchor="middle" fill="#1f4e9c">world tick time (ms)</text>`);
  out.push(`<text transform="translate(${W - 16} ${M.top + PH / 2}) rotate(90)" text-anchor="middle" fill="#b34700">NPC time to first token (ms)</text>`);
  // Target line.
  out.push(`<line id="tick-target" x1="${M.left}" y1="${f(yTick(target))}" x2="${M.left + PW}" y2="${f(yTick(target))}" stroke="#cc0000" stroke-dasharray="6 4"/>`);
  out.push(`<text x="${M.left + 4}" y="${f(yTick(target) - 4)}" fill="#cc0000">${target} ms</text>`);
  // Tick series.
  out.push(`<g id="tick-series" fill="none" stroke-linejoin="round">`);
  if (input.tick.length > 0) {
    out.push(`<path d="${line('max')}" stroke="#9fb8e0" stroke-width="1"><title>tick max per second</title></path>`);
    out.push(`<path d="${line('p99')}" stroke="#1f4e9c" stroke-width="2"><title>tick p99 per second</title></path>`);
    out.push(`<path d="${line('p50')}" stroke="#1f4e9c" stroke-width="1" stroke-dasharray="3 2"><title>tick p50 per second</title></path>`);
  } else {
    out.push(`<text x="${M.left + 8}" y="${M.top + 16}" fill="#1f4e9c" stroke="none">no tick samples</text>`);
  }
  out.push(`</g>`);
  // TTFT series.
  out.push(`<g id="ttft-series" fill="#e07020" fill-opacity="0.75">`);
  for (const p of input.ttft) {
    const color = p.outcome === 'fallback' ? ' fill="#7a1f00"' : '';
    out.push(`<circle cx="${f(x(p.at))}" cy="${f(yTtft(p.ms))}" r="3"${color}><title>${esc(`${Math.round(p.ms)} ms (${p.outcome})`)}</title></circle>`);
  }
  if (input.ttft.length === 0) out.push(`<text x="${M.left + 8}" y="${M.top + 32}" fill="#b34700">no answered NPC turns</text>`);
  out.push(`</g>`);
  // Legend.
  const lx = M.left + 8;
  const ly = M.top - 14;
  out.push(`<g id="legend">`);
  out.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 22}" y2="${ly}" stroke="#1f4e9c" stroke-width="2"/><text x="${lx + 26}" y="${ly + 4}">tick p99</text>`);
  out.push(`<line x1="${lx + 90}" y1="${ly}" x2="${lx + 112}" y2="${ly}" stroke="#1f4e9c" stroke-dasharray="3 2"/><text x="${lx + 116}" y="${ly + 4}">tick p50</text>`);
  out.push(`<line x1="${lx + 180}" y1="${ly}" x2="${lx + 202}" y2="${ly}" stroke="#9fb8e0"/><text x="${lx + 206}" y="${ly + 4}">tick max</text>`);
  out.push(`<circle cx="${lx + 280}" cy="${ly}" r="3" fill="#e07020"/><text x="${lx + 288}" y="${ly + 4}">NPC TTFT</text>`);
  out.push(`<circle cx="${lx + 370}" cy="${ly}" r="3" fill="#7a1f00"/><text x="${lx + 378}" y="${ly + 4}">TTFT (fallback)</text>`);
  out.push(`</g>`);
  out.push(`</svg>`);
  return out.join('\n') + '\n';
}
