/**
 * Human-facing reports of a run: a one-line progress bar (redrawn in place on a terminal, a plain line
 * every few seconds otherwise, so CI logs stay readable) and the loss curve as an SVG chart.
 *
 * The chart is hand-written SVG rather than a charting library: one or two polylines on shared axes are a
 * few dozen lines, the file is plain text and opens in any browser.
 */
import type { ProgressEvent } from './train-loop.ts';

export function progressPrinter(stream: NodeJS.WriteStream = process.stderr): (event: ProgressEvent) => void {
  const tty = Boolean(stream.isTTY);
  let lastPlain = 0;
  return (e) => {
    const width = 24;
    const filled = Math.round((e.step / e.steps) * width);
    const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
    const line =
      `${bar} ${e.step}/${e.steps} loss ${e.loss.toFixed(3)}` +
      (e.validLoss !== undefined ? ` valid ${e.validLoss.toFixed(3)}` : '') +
      ` lr ${e.lr.toExponential(1)} |g| ${e.gradNorm.toFixed(2)} ${Math.round(e.tokensPerSecond)} tok/s ETA ${clock(e.etaSeconds)}`;
    if (tty) {
      stream.write(`\r${line}\x1b[K${e.step === e.steps ? '\n' : ''}`);
    } else if (e.elapsedSeconds - lastPlain >= 10 || e.step === e.steps || e.validLoss !== undefined) {
      lastPlain = e.elapsedSeconds;
      stream.write(`${line}\n`);
    }
  };
}

function clock(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${String(r).padStart(2, '0')}` : `${m}:${String(r).padStart(2, '0')}`;
}

/** Training loss (smoothed) and validation loss against steps. */
export function lossChartSvg(title: string, history: ReadonlyArray<Record<string, number>>): string {
  const W = 860;
  const H = 420;
  const M = { left: 60, right: 20, top: 44, bottom: 44 };
  const train = smooth(history.map((h) => [h.step!, h.loss!] as [number, number]), 0.9);
  const valid = history.filter((h) => h.validLoss !== undefined).map((h) => [h.step!, h.validLoss!] as [number, number]);
  const all = [...train, ...valid];
  if (all.length === 0) return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"><text x="20" y="40">no data</text></svg>\n`;
  const maxX = Math.max(...all.map((p) => p[0]));
  const minY = Math.min(...all.map((p) => p[1]));
  const maxY = Math.max(...all.map((p) => p[1]));
  const x = (v: number) => M.left + (v / Math.max(1, maxX)) * (W - M.left - M.right);
  const y = (v: number) => M.top + (1 - (v - minY) / Math.max(1e-9, maxY - minY)) * (H - M.top - M.bottom);
  const line = (points: Array<[number, number]>) => points.map(([a, b]) => `${x(a).toFixed(1)},${y(b).toFixed(1)}`).join(' ');
  const ticks = Array.from({ length: 5 }, (_, i) => minY + ((maxY - minY) * i) / 4);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${M.left}" y="24" font-size="15">${escapeXml(title)}</text>`,
    ...ticks.map((t) => `<line x1="${M.left}" x2="${W - M.right}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#eee"/><text x="${M.left - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end">${t.toFixed(2)}</text>`),
    `<text x="${(W / 2).toFixed(0)}" y="${H - 10}" text-anchor="middle">step (of ${maxX})</text>`,
    `<polyline fill="none" stroke="#2b6cb0" stroke-width="1.5" points="${line(train)}"/>`,
    valid.length ? `<polyline fill="none" stroke="#c05621" stroke-width="2" points="${line(valid)}"/>` : '',
    ...valid.map(([a, b]) => `<circle cx="${x(a).toFixed(1)}" cy="${y(b).toFixed(1)}" r="3" fill="#c05621"/>`),
    `<text x="${W - M.right - 220}" y="24" fill="#2b6cb0">— train loss (EMA 0.9)</text>`,
    valid.length ? `<text x="${W - M.right - 90}" y="24" fill="#c05621">— valid loss</text>` : '',
    '</svg>',
    '',
  ].join('\n');
}

function smooth(points: Array<[number, number]>, factor: number): Array<[number, number]> {
  let value = points[0]?.[1] ?? 0;
  return points.map(([s, v]) => {
    value = factor * value + (1 - factor) * v;
    return [s, value];
  });
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}
