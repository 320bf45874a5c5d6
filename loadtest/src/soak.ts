/**
 * The soak (`npm run loadtest -- --soak N`): a bounded NPC talk load for N minutes while the server's
 * memory is read from its own `/metrics` (so a remote server works the same as one the load tester
 * starts): resident set size from prom-client's process collector, the main thread's JS heap and
 * external memory, and the engine's KV bytes. Baseline before the bots join, every sample during the
 * load, then `--settle` seconds after everyone left — the question a soak answers is whether the memory
 * a load took comes back.
 */
import { round, table } from '../../tools/bench/stats.ts';
import { fetchMetrics, metricTotal } from './metrics-scrape.ts';

export const RSS_METRIC = 'worldmind_process_resident_memory_bytes';
const HEAP_METRIC = 'worldmind_nodejs_heap_size_used_bytes';
const EXTERNAL_METRIC = 'worldmind_nodejs_external_memory_bytes';
const KV_METRIC = 'worldmind_engine_kv_bytes';

export type SoakPhase = 'baseline' | 'join' | 'load' | 'drain' | 'settle';

export interface MemorySample {
  /** Epoch ms. */
  at: number;
  phase: SoakPhase;
  rssBytes: number;
  heapUsedBytes: number | undefined;
  externalBytes: number | undefined;
  kvBytes: number | undefined;
}

export class SoakError extends Error {
  override name = 'SoakError';
}

/** One read of the server's memory gauges; undefined when /metrics cannot be read or has no RSS. */
export async function readMemory(baseUrl: string, phase: SoakPhase): Promise<MemorySample | undefined> {
  const text = await fetchMetrics(baseUrl);
  if (!text) return undefined;
  const rssBytes = metricTotal(text, RSS_METRIC);
  if (rssBytes === undefined) return undefined;
  return {
    at: Date.now(),
    phase,
    rssBytes,
    heapUsedBytes: metricTotal(text, HEAP_METRIC),
    externalBytes: metricTotal(text, EXTERNAL_METRIC),
    kvBytes: metricTotal(text, KV_METRIC),
  };
}

/**
 * Polls the server's memory every `pollMs` (peaks between the table's rows are not missed) under the
 * phase the run is in. Timers come from the caller so that its cleanup clears them.
 */
export class MemoryWatcher {
  readonly samples: MemorySample[] = [];
  phase: SoakPhase = 'baseline';
  failedReads = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #inFlight = false;

  constructor(
    private readonly baseUrl: string,
    private readonly interval: (ms: number, fn: () => void) => ReturnType<typeof setInterval>,
  ) {}

  /** Baseline: `count` reads `gapMs` apart, before any load; fails if the server exposes no RSS. */
  async baseline(count: number, gapMs: number, sleep: (ms: number) => Promise<void>): Promise<number> {
    const reads: number[] = [];
    for (let i = 0; i < count; i++) {
      if (i > 0) await sleep(gapMs);
      const s = await readMemory(this.baseUrl, 'baseline');
      if (!s) {
        throw new SoakError(
          `could not read ${RSS_METRIC} from ${this.baseUrl}/metrics: a soak needs the server's RSS (set ADMIN_TOKEN in the load tester's environment if the server requires it)`,
        );
      }
      this.samples.push(s);
      reads.push(s.rssBytes);
    }
    // The median: one read caught mid-allocation should not set the reference.
    return reads.sort((a, b) => a - b)[Math.floor(reads.length / 2)]!;
  }

  start(pollMs: number): void {
    this.#timer = this.interval(pollMs, () => void this.sample());
  }

  async sample(): Promise<MemorySample | undefined> {
    if (this.#inFlight) return undefined; // a slow scrape is not stacked on
    this.#inFlight = true;
    try {
      const s = await readMemory(this.baseUrl, this.phase);
      if (s) this.samples.push(s);
      else this.failedReads++;
      return s;
    } finally {
      this.#inFlight = false;
    }
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

export interface SoakInput {
  soakMin: number;
  players: number;
  maxTalkers: number;
  talkEveryS: number;
  settleS: number;
  sampleEveryS: number;
  /** Epoch ms: measurement began (bots about to join), load stopped (bots told to leave), everyone gone. */
  startedAt: number;
  loadEndedAt: number;
  leftAt: number;
  baselineBytes: number;
  samples: MemorySample[];
  failedReads: number;
  turnsAnswered: number;
  fallbacks: number;
  errors: number;
}

export interface SoakSummary {
  soak_min: number;
  players: number;
  max_talkers: number;
  turns: number;
  fallbacks: number;
  errors: number;
  rss_mib: { baseline: number; peak: number; end_of_load: number | null; after: number; after_s: number };
  /** RSS after the settle minus the baseline. */
  after_minus_baseline_mib: number;
  /** One row per table sample: seconds since the start, phase, RSS MiB. */
  samples: Array<[number, SoakPhase, number]>;
}

const mib = (bytes: number | undefined) => (bytes === undefined ? undefined : round(bytes / 1048576, 1));

/** The table's rows: the first sample at or after each `everyS` mark from the start, the first of each phase, and the last. */
export function thinSamples(samples: readonly MemorySample[], startedAt: number, everyS: number): MemorySample[] {
  const step = everyS * 1000;
  const out: MemorySample[] = [];
  let nextMark = startedAt;
  for (const s of samples) {
    if (s.at < nextMark && s.phase === out.at(-1)?.phase) continue;
    out.push(s);
    nextMark = startedAt + (Math.floor((s.at - startedAt) / step) + 1) * step;
  }
  const last = samples.at(-1);
  if (last && out.at(-1) !== last) out.push(last);
  return out;
}

export function buildSoak(input: SoakInput): { summary: SoakSummary; rows: MemorySample[] } {
  const all = input.samples;
  if (all.length === 0) throw new SoakError('no memory samples were read');
  const peak = Math.max(...all.map((s) => s.rssBytes));
  const endOfLoad = [...all].reverse().find((s) => s.at <= input.loadEndedAt && s.phase !== 'baseline');
  const after = all.at(-1)!;
  const rows = thinSamples(all, all[0]!.at, input.sampleEveryS);
  return {
    rows,
    summary: {
      soak_min: input.soakMin,
      players: input.players,
      max_talkers: input.maxTalkers,
      turns: input.turnsAnswered,
      fallbacks: input.fallbacks,
      errors: input.errors,
      rss_mib: {
        baseline: mib(input.baselineBytes)!,
        peak: mib(peak)!,
        end_of_load: endOfLoad ? mib(endOfLoad.rssBytes)! : null,
        after: mib(after.rssBytes)!,
        after_s: Math.round((after.at - input.leftAt) / 1000),
      },
      after_minus_baseline_mib: mib(after.rssBytes - input.baselineBytes)!,
      samples: rows.map((s) => [Math.round((s.at - all[0]!.at) / 1000), s.phase, mib(s.rssBytes)!]),
    },
  };
}

export function renderSoakTable(summary: SoakSummary, rows: readonly MemorySample[], input: Pick<SoakInput, 'failedReads'>): string {
  const t0 = rows[0]?.at ?? 0;
  const dash = (v: number | undefined) => (v === undefined ? '–' : v);
  const body = rows.map((s) => [
    Math.round((s.at - t0) / 1000),
    s.phase,
    dash(mib(s.rssBytes)),
    dash(mib(s.heapUsedBytes)),
    dash(mib(s.externalBytes)),
    dash(mib(s.kvBytes)),
  ]);
  const r = summary.rss_mib;
  const pct = (v: number) => `${v >= r.baseline ? '+' : ''}${round(((v - r.baseline) / r.baseline) * 100, 1)} %`;
  const lines = [
    `soak: ${summary.soak_min} min of NPC talk, ${summary.players} players (≤ ${summary.max_talkers} talking at once): ${summary.turns} turns answered, ${summary.fallbacks} fallbacks, ${summary.errors} errors`,
    table(['t (s)', 'phase', 'RSS MiB', 'heap MiB', 'external MiB', 'engine KV MiB'], body),
    `RSS baseline ${r.baseline} MiB · peak ${r.peak} MiB (${pct(r.peak)})${r.end_of_load !== null ? ` · end of load ${r.end_of_load} MiB (${pct(r.end_of_load)})` : ''} · ${r.after_s} s after everyone left ${r.after} MiB (${pct(r.after)}, ${summary.after_minus_baseline_mib >= 0 ? '+' : ''}${summary.after_minus_baseline_mib} MiB)`,
    '(heap and external: the server\'s main thread only; the engine worker\'s memory shows in RSS and engine KV)',
  ];
  if (input.failedReads > 0) lines.push(`note: ${input.failedReads} reads of /metrics failed or timed out during the soak`);
  return lines.join('\n');
}
