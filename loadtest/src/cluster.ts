/**
 * `--target`: a load test across a cluster (`npm run cluster`). The bots join through the listed game
 * processes (the matchmaker places them on whichever process hosts a shard with a free seat), and this
 * module reads every process's own `/metrics` so the report is per process, not one server's view:
 *
 * - each game process: tick time (worldmind_tick_duration_seconds{room="world"} bucket deltas over the
 *   measured window), its CCU (worldmind_ccu, read every 2 s: peak and end), world rooms, NPC turns and its
 *   TTFT (worldmind_npc_ttft_seconds deltas: measured where the player's turn starts, network to the
 *   inference service included);
 * - each inference service (`--inference-metrics`): decode batch sizes (worldmind_engine_decode_steps_total
 *   {size} deltas: steps, mean and p50/max batch), tokens per second (worldmind_engine_generated_tokens_total
 *   over the window), requests answered and the engine's own TTFT.
 *
 * Every read is bounded (metrics-scrape.ts, 5 s); a process that cannot be read is reported as such, never
 * silently dropped.
 */
import { round, table } from '../../tools/bench/stats.ts';
import { fetchMetrics, histogramDelta, histogramMaxBound, histogramQuantile, metricTotal, parseSamples, readHistogram, type Histogram } from './metrics-scrape.ts';
import { httpBase } from './options.ts';
import type { TickPoint } from './report.ts';

const TICK = 'worldmind_tick_duration_seconds';
const PATCH = 'worldmind_patch_duration_seconds';
const NPC_TTFT = 'worldmind_npc_ttft_seconds';
const ENGINE_TTFT = 'worldmind_engine_ttft_seconds';

export interface GameProcessReport {
  endpoint: string;
  /** False when its /metrics could not be read at the start or the end (numbers below are then null). */
  read: boolean;
  ccu: { peak: number | null; end: number | null };
  rooms: number | null;
  ticks: number | null;
  /** Simulation step per tick (worldmind_tick_duration_seconds; what /metrics calls the tick). */
  tick_ms: { p50: number | null; p99: number | null; max: number | null };
  /** State patch per tick (AOI refresh, per-view encode, send; worldmind_patch_duration_seconds): most of a frame under load. */
  patch_ms: { p50: number | null; p99: number | null; max: number | null };
  npc_turns: number | null;
  npc_ttft_ms: { p50: number | null; p99: number | null };
}

export interface InferenceServiceReport {
  url: string;
  read: boolean;
  requests: number | null;
  decode_steps: number | null;
  batch: { mean: number | null; p50: number | null; max: number | null; histogram: Record<string, number> };
  tokens: number | null;
  tok_s: number | null;
  engine_ttft_ms: { p50: number | null; p99: number | null };
}

export interface ClusterReport {
  window_s: number;
  games: GameProcessReport[];
  inference: InferenceServiceReport[];
  totals: { ccu_peak: number | null; tok_s: number | null; mean_batch: number | null };
}

const num = (v: number | undefined, digits = 2): number | null => (v !== undefined && Number.isFinite(v) ? round(v, digits) : null);

function gauge(text: string, name: string): number | undefined {
  let total: number | undefined;
  for (const s of parseSamples(text)) if (s.name === name) total = (total ?? 0) + s.value;
  return total;
}

/** Counter series by one label's value. */
function byLabel(text: string, name: string, label: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of parseSamples(text)) if (s.name === name && s.labels[label] !== undefined) out.set(s.labels[label]!, (out.get(s.labels[label]!) ?? 0) + s.value);
  return out;
}

function counterSum(text: string, name: string): number | undefined {
  let total: number | undefined;
  for (const s of parseSamples(text)) if (s.name === name) total = (total ?? 0) + s.value;
  return total;
}

function delta(end: string, start: string, name: string, match: Record<string, string> = {}): Histogram | undefined {
  const h = readHistogram(end, name, match);
  return h ? histogramDelta(h, readHistogram(start, name, match)) : undefined;
}

/** Bucket-wise sum of histograms with the same bounds (every game process registers the same buckets). */
function sumHistograms(hs: (Histogram | undefined)[]): Histogram | undefined {
  const present = hs.filter((h): h is Histogram => h !== undefined);
  if (present.length === 0) return undefined;
  const byLe = new Map<number, number>();
  for (const h of present) for (const b of h.buckets) byLe.set(b.le, (byLe.get(b.le) ?? 0) + b.count);
  return {
    buckets: [...byLe].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le),
    count: present.reduce((s, h) => s + h.count, 0),
    sum: present.reduce((s, h) => s + h.sum, 0),
  };
}

const ms = (h: Histogram | undefined, q: number) => (h && h.count > 0 ? num(histogramQuantile(h, q) * 1000, 3) : null);

export class ClusterWatcher {
  readonly games: string[];
  readonly services: string[];
  #start = new Map<string, string | undefined>();
  #prevTick = new Map<string, Histogram | undefined>();
  #ccu = new Map<string, { peak: number; last: number } | undefined>();
  /** Tick quantiles across every process, every poll: the chart's series. */
  readonly series: TickPoint[] = [];
  #startedAt = 0;
  #endedAt = 0;
  #end = new Map<string, string | undefined>();

  /** `games`: ws(s):// endpoints of game processes; `services`: http(s):// or ws(s):// URLs of inference services. */
  constructor(games: string[], services: string[]) {
    this.games = games.map(httpBase);
    this.services = services.map(httpBase);
  }

  /** Reads every process once at the start of the measured window. Returns the URLs that could not be read. */
  async begin(): Promise<string[]> {
    const all = [...this.games, ...this.services];
    const texts = await Promise.all(all.map((u) => fetchMetrics(u)));
    all.forEach((u, i) => this.#start.set(u, texts[i]));
    for (const g of this.games) this.#prevTick.set(g, this.#start.get(g) ? readHistogram(this.#start.get(g)!, TICK, { room: 'world' }) : undefined);
    this.#startedAt = Date.now();
    return all.filter((_, i) => texts[i] === undefined);
  }

  /** One poll during the window (every 2 s): CCU per process and the combined tick series. */
  async poll(): Promise<void> {
    const texts = await Promise.all(this.games.map((u) => fetchMetrics(u)));
    const deltas: (Histogram | undefined)[] = [];
    this.games.forEach((g, i) => {
      const text = texts[i];
      if (!text) return;
      const ccu = gauge(text, 'worldmind_ccu');
      if (ccu !== undefined) {
        const prev = this.#ccu.get(g);
        this.#ccu.set(g, { peak: Math.max(prev?.peak ?? 0, ccu), last: ccu });
      }
      const h = readHistogram(text, TICK, { room: 'world' });
      if (h) {
        deltas.push(histogramDelta(h, this.#prevTick.get(g)));
        this.#prevTick.set(g, h);
      }
    });
    const d = sumHistograms(deltas);
    if (d && d.count > 0) this.series.push({ at: Date.now(), p50: histogramQuantile(d, 0.5) * 1000, p99: histogramQuantile(d, 0.99) * 1000, max: histogramMaxBound(d) * 1000 });
  }

  /** Reads every process at the end of the measured window. */
  async finish(): Promise<void> {
    const all = [...this.games, ...this.services];
    const texts = await Promise.all(all.map((u) => fetchMetrics(u)));
    all.forEach((u, i) => this.#end.set(u, texts[i]));
    this.#endedAt = Date.now();
    await this.poll().catch(() => undefined);
  }

  /** Tick and patch histograms over the window, all game processes together (the main table's tick row). */
  combined(): { tick: Histogram | undefined; patch: Histogram | undefined; series: TickPoint[] } {
    const pick = (name: string) =>
      sumHistograms(
        this.games.map((g) => {
          const s = this.#start.get(g);
          const e = this.#end.get(g);
          return s && e ? delta(e, s, name, { room: 'world' }) : undefined;
        }),
      );
    return { tick: pick(TICK), patch: pick(PATCH), series: this.series };
  }

  report(): ClusterReport {
    const windowS = Math.max(0.001, (this.#endedAt - this.#startedAt) / 1000);
    const games = this.games.map((g): GameProcessReport => {
      const s = this.#start.get(g);
      const e = this.#end.get(g);
      const ccu = this.#ccu.get(g);
      if (!s || !e) return { endpoint: g, read: false, ccu: { peak: ccu?.peak ?? null, end: ccu?.last ?? null }, rooms: null, ticks: null, tick_ms: { p50: null, p99: null, max: null }, patch_ms: { p50: null, p99: null, max: null }, npc_turns: null, npc_ttft_ms: { p50: null, p99: null } };
      const tick = delta(e, s, TICK, { room: 'world' });
      const patch = delta(e, s, PATCH, { room: 'world' });
      const ttft = delta(e, s, NPC_TTFT);
      // metricTotal: a declared counter without series yet (no turn in this process) is 0, not unknown.
      const turnsEnd = metricTotal(e, 'worldmind_npc_turns_total');
      return {
        endpoint: g,
        read: true,
        ccu: { peak: ccu?.peak ?? null, end: ccu?.last ?? num(gauge(e, 'worldmind_ccu'), 0) },
        rooms: num(byLabel(e, 'worldmind_rooms', 'type').get('world') ?? gauge(e, 'worldmind_rooms'), 0),
        ticks: tick ? tick.count : null,
        tick_ms: { p50: ms(tick, 0.5), p99: ms(tick, 0.99), max: tick && tick.count > 0 ? num(histogramMaxBound(tick) * 1000, 3) : null },
        patch_ms: { p50: ms(patch, 0.5), p99: ms(patch, 0.99), max: patch && patch.count > 0 ? num(histogramMaxBound(patch) * 1000, 3) : null },
        npc_turns: turnsEnd !== undefined ? turnsEnd - (metricTotal(s, 'worldmind_npc_turns_total') ?? 0) : null,
        npc_ttft_ms: { p50: ms(ttft, 0.5), p99: ms(ttft, 0.99) },
      };
    });
    const inference = this.services.map((u): InferenceServiceReport => {
      const s = this.#start.get(u);
      const e = this.#end.get(u);
      if (!s || !e) return { url: u, read: false, requests: null, decode_steps: null, batch: { mean: null, p50: null, max: null, histogram: {} }, tokens: null, tok_s: null, engine_ttft_ms: { p50: null, p99: null } };
      const before = byLabel(s, 'worldmind_engine_decode_steps_total', 'size');
      const steps: [number, number][] = [];
      for (const [size, count] of byLabel(e, 'worldmind_engine_decode_steps_total', 'size')) {
        const d = count - (before.get(size) ?? 0);
        if (d > 0) steps.push([Number(size), d]);
      }
      steps.sort((a, b) => a[0] - b[0]);
      const nSteps = steps.reduce((t, [, c]) => t + c, 0);
      const rows = steps.reduce((t, [size, c]) => t + size * c, 0);
      let p50: number | undefined;
      let seen = 0;
      for (const [size, c] of steps) {
        seen += c;
        if (p50 === undefined && seen >= nSteps / 2) p50 = size;
      }
      const tokens = (counterSum(e, 'worldmind_engine_generated_tokens_total') ?? 0) - (counterSum(s, 'worldmind_engine_generated_tokens_total') ?? 0);
      const ttft = delta(e, s, ENGINE_TTFT);
      return {
        url: u,
        read: true,
        requests: (counterSum(e, 'worldmind_inference_requests_total') ?? 0) - (counterSum(s, 'worldmind_inference_requests_total') ?? 0),
        decode_steps: nSteps,
        batch: { mean: nSteps > 0 ? num(rows / nSteps) : null, p50: p50 ?? null, max: steps.at(-1)?.[0] ?? null, histogram: Object.fromEntries(steps.map(([size, c]) => [String(size), c])) },
        tokens,
        tok_s: num(tokens / windowS, 1),
        engine_ttft_ms: { p50: ms(ttft, 0.5), p99: ms(ttft, 0.99) },
      };
    });
    const readServices = inference.filter((i) => i.read);
    const steps = readServices.reduce((t, i) => t + (i.decode_steps ?? 0), 0);
    const rows = readServices.reduce((t, i) => t + (i.batch.mean ?? 0) * (i.decode_steps ?? 0), 0);
    const peaks = games.map((g) => g.ccu.peak).filter((p): p is number => p !== null);
    return {
      window_s: round(windowS, 1),
      games,
      inference,
      totals: {
        ccu_peak: peaks.length ? peaks.reduce((a, b) => a + b, 0) : null,
        tok_s: readServices.length ? num(readServices.reduce((t, i) => t + (i.tok_s ?? 0), 0), 1) : null,
        mean_batch: steps > 0 ? num(rows / steps) : null,
      },
    };
  }
}

const show = (v: number | null, unit = ''): string => (v === null ? '–' : `${v}${unit}`);

/** The per-process tables printed after the main one. */
export function renderClusterTables(r: ClusterReport): string {
  const gameRows = r.games.map((g, i) => [
    `game-${i + 1} ${g.endpoint}`,
    g.read ? `${show(g.ccu.peak)} / ${show(g.ccu.end)}` : 'metrics unreadable',
    show(g.rooms),
    g.ticks === null ? '–' : `${g.ticks} (${round(g.ticks / r.window_s, 1)}/s)`,
    `${show(g.tick_ms.p50)} / ${show(g.tick_ms.p99)} / ${show(g.tick_ms.max)}`,
    `${show(g.patch_ms.p50)} / ${show(g.patch_ms.p99)} / ${show(g.patch_ms.max)}`,
    show(g.npc_turns),
    `${show(g.npc_ttft_ms.p50)} / ${show(g.npc_ttft_ms.p99)}`,
  ]);
  const parts: string[] = [];
  if (r.games.length > 0) {
    parts.push(`per game process (${r.window_s} s window; step = simulation step, patch = state patch of all its world rooms, ms, bucket-interpolated, max = bucket bound; TTFT measured by the game process, ms):`);
    parts.push(table(['process', 'CCU peak / end', 'rooms', 'ticks', 'step p50 / p99 / max', 'patch p50 / p99 / max', 'NPC turns', 'TTFT p50 / p99'], gameRows));
  }
  if (r.inference.length > 0) {
    const rows = r.inference.map((s, i) => [
      `inference-${i + 1} ${s.url}`,
      s.read ? show(s.requests) : 'metrics unreadable',
      show(s.decode_steps),
      `${show(s.batch.mean)} / ${show(s.batch.p50)} / ${show(s.batch.max)}`,
      show(s.tokens),
      show(s.tok_s),
      `${show(s.engine_ttft_ms.p50)} / ${show(s.engine_ttft_ms.p99)}`,
    ]);
    parts.push(`per inference service (${r.window_s} s window; batch = sequences per decode step; TTFT = the engine's, submit to first token, ms):`);
    parts.push(table(['service', 'requests', 'decode steps', 'batch mean / p50 / max', 'tokens', 'tok/s', 'engine TTFT p50 / p99'], rows));
  }
  if (r.games.length > 0) parts.push(`cluster: CCU peak ${show(r.totals.ccu_peak)} (sum of per-process peaks)${r.inference.length > 0 ? `; inference ${show(r.totals.tok_s)} tok/s, mean batch ${show(r.totals.mean_batch)}` : ''}`);
  return parts.join('\n');
}
