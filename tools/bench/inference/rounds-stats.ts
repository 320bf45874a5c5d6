/**
 * Aggregation over interleaved rounds: every figure is reported as the median of its per-round values with
 * their spread (min–max), and every side-by-side ratio as the median of the per-round ratios (a slow spell
 * of the shared machine hits both sides of one round, so per-round ratios are steadier than a ratio of medians).
 */

export interface Spread {
  median: number;
  min: number;
  max: number;
  /** Rounds that produced a value. */
  n: number;
}

/** Median of finite values (mean of the two middle ones for an even count); NaN when there are none. */
export function median(values: readonly number[]): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Median and min–max of the rounds' values; rounds without a value (null, NaN) are left out; null if none has one. */
export function spread(values: ReadonlyArray<number | null | undefined>, digits = 2): Spread | null {
  const finite = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  if (finite.length === 0) return null;
  return { median: roundTo(median(finite), digits), min: roundTo(Math.min(...finite), digits), max: roundTo(Math.max(...finite), digits), n: finite.length };
}

/** The ratio a/b computed within each round (both sides measured in that round), then aggregated. */
export function ratioSpread(
  numerators: ReadonlyArray<number | null | undefined>,
  denominators: ReadonlyArray<number | null | undefined>,
  digits = 2,
): Spread | null {
  if (numerators.length !== denominators.length) throw new Error(`ratioSpread: ${numerators.length} numerators for ${denominators.length} denominators`);
  return spread(
    numerators.map((a, i) => {
      const b = denominators[i];
      return typeof a === 'number' && typeof b === 'number' && b !== 0 ? a / b : null;
    }),
    digits,
  );
}

/** "151.2 (142.0–175.3)"; a single round or no spread shows only the value; "-" for no value. */
export function showSpread(s: Spread | null, digits = 1, unit = ''): string {
  if (!s) return '-';
  const f = (x: number) => `${x.toFixed(digits)}${unit}`;
  return s.n === 1 || s.min === s.max ? f(s.median) : `${f(s.median)} (${f(s.min)}–${f(s.max)})`;
}

export function roundTo(x: number, digits = 2): number {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f + 0; // + 0: no -0 in the output
}
