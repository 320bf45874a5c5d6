/**
 * Reads a server's `GET /metrics` (Prometheus text format) — how the load tester sees a server it
 * does not own: tick-duration histograms (quantiles estimated from bucket deltas, the way Prometheus's
 * `histogram_quantile` does) and NPC counters when the server exposes them.
 */

export async function fetchMetrics(baseUrl: string, timeoutMs = 5_000): Promise<string | undefined> {
  // A server with ADMIN_TOKEN guards /metrics; a server the load tester starts inherits this environment.
  const token = process.env.ADMIN_TOKEN;
  try {
    const res = await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(timeoutMs), ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}) });
    if (!res.ok) return undefined;
    return await res.text();
  } catch {
    return undefined;
  }
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parseSamples(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    if (m[3]) for (const l of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    const value = m[4] === '+Inf' ? Infinity : m[4] === '-Inf' ? -Infinity : Number(m[4]);
    out.push({ name: m[1]!, labels, value });
  }
  return out;
}

/** Sum of every series of a counter or gauge; 0 when declared without series yet; undefined when not exposed. */
export function metricTotal(text: string, name: string): number | undefined {
  const base = name.replace(/_total$/, '');
  let total: number | undefined = new RegExp(`^# TYPE (${name}|${base}) `, 'm').test(text) ? 0 : undefined;
  for (const s of parseSamples(text)) {
    if (s.name === name || s.name === `${name}_total`) total = (total ?? 0) + s.value;
  }
  return total;
}

/** Cumulative bucket counts of a histogram (summed over series matching `match`), by upper bound. */
export interface Histogram {
  buckets: { le: number; count: number }[];
  count: number;
  sum: number;
}

export function readHistogram(text: string, name: string, match: Record<string, string> = {}): Histogram | undefined {
  const byLe = new Map<number, number>();
  let count = 0;
  let sum = 0;
  let found = false;
  const matches = (labels: Record<string, string>) => Object.entries(match).every(([k, v]) => labels[k] === v);
  for (const s of parseSamples(text)) {
    if (!matches(s.labels)) continue;
    if (s.name === `${name}_bucket`) {
      const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
      byLe.set(le, (byLe.get(le) ?? 0) + s.value);
      found = true;
    } else if (s.name === `${name}_count`) count += s.value;
    else if (s.name === `${name}_sum`) sum += s.value;
  }
  if (!found) return undefined;
  const buckets = [...byLe].map(([le, c]) => ({ le, count: c })).sort((a, b) => a.le - b.le);
  return { buckets, count, sum };
}

/** `later - earlier`, bucket by bucket (observations made between two scrapes). */
export function histogramDelta(later: Histogram, earlier: Histogram | undefined): Histogram {
  if (!earlier) return later;
  const before = new Map(earlier.buckets.map((b) => [b.le, b.count]));
  return {
    buckets: later.buckets.map((b) => ({ le: b.le, count: b.count - (before.get(b.le) ?? 0) })),
    count: later.count - earlier.count,
    sum: later.sum - earlier.sum,
  };
}

/** Quantile (0..1) by linear interpolation inside the bucket, as Prometheus's histogram_quantile. NaN if empty. */
export function histogramQuantile(h: Histogram, q: number): number {
  const total = h.buckets.at(-1)?.count ?? 0;
  if (total <= 0) return Number.NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of h.buckets) {
    if (b.count >= rank) {
      if (!Number.isFinite(b.le)) return prevLe; // in the +Inf bucket: the highest finite bound is all we know
      const inBucket = b.count - prevCount;
      return inBucket > 0 ? prevLe + ((b.le - prevLe) * (rank - prevCount)) / inBucket : b.le;
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

/** Upper bound of the highest bucket that received an observation (an upper estimate of the maximum). */
export function histogramMaxBound(h: Histogram): number {
  let prevCount = 0;
  let prevLe = 0;
  let max = Number.NaN;
  for (const b of h.buckets) {
    if (b.count > prevCount) max = Number.isFinite(b.le) ? b.le : prevLe;
    prevCount = b.count;
    prevLe = b.le;
  }
  return max;
}

/** World rooms live in a process (`worldmind_rooms{type="world"}`); undefined when it does not expose the gauge. */
export function worldRooms(text: string): number | undefined {
  let rooms: number | undefined;
  for (const s of parseSamples(text)) if (s.name === 'worldmind_rooms' && s.labels.type === 'world') rooms = (rooms ?? 0) + s.value;
  return rooms;
}
