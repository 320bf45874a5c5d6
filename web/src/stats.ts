/**
 * Rates over a sliding window for the debug overlay: patches per second, bytes per second, frames per
 * second. `add` counts events; `set` feeds a running total (like bytes received so far).
 */
export class RateMeter {
  readonly #samples: { t: number; v: number }[] = [];
  #total = 0;

  constructor(readonly windowMs = 2000) {}

  add(count: number, now: number): void {
    this.#total += count;
    this.#push(now);
  }

  /** Feeds a cumulative counter's current value. */
  set(total: number, now: number): void {
    this.#total = total;
    this.#push(now);
  }

  perSecond(now: number): number {
    const s = this.#samples;
    while (s.length > 2 && s[1]!.t < now - this.windowMs) s.shift();
    if (s.length < 2) return Number.NaN;
    const first = s[0]!;
    const last = s[s.length - 1]!;
    const span = Math.max(now, last.t) - first.t;
    return span > 0 ? ((last.v - first.v) * 1000) / span : Number.NaN;
  }

  #push(now: number): void {
    this.#samples.push({ t: now, v: this.#total });
    if (this.#samples.length > 2048) this.#samples.splice(0, 1024);
  }
}
