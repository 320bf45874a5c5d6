/** Token bucket: `burst` actions at once, refilled at `perSecond`. Time is passed in so tests can drive it. */
export class TokenBucket {
  #tokens: number;
  #last: number;

  constructor(readonly burst: number, readonly perSecond: number, now: number) {
    this.#tokens = burst;
    this.#last = now;
  }

  /** Takes one token if available. */
  tryTake(now: number): boolean {
    this.#refill(now);
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** True when the bucket has refilled completely (an idle bucket is then the same as a new one). */
  isFull(now: number): boolean {
    this.#refill(now);
    return this.#tokens >= this.burst;
  }

  /** Seconds until one token is available (0 if one is now). */
  secondsUntilToken(now: number): number {
    this.#refill(now);
    return this.#tokens >= 1 ? 0 : (1 - this.#tokens) / this.perSecond;
  }

  #refill(now: number): void {
    if (now > this.#last) {
      this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) / 1000) * this.perSecond);
      this.#last = now;
    }
  }
}

/** Counts events in a sliding window; used to disconnect clients that keep sending bad messages. */
export class StrikeCounter {
  readonly #times: number[] = [];

  constructor(readonly limit: number, readonly windowMs: number) {}

  /** Records a strike; returns true when the limit within the window is exceeded. */
  strike(now: number): boolean {
    this.#times.push(now);
    while (this.#times.length > 0 && this.#times[0]! <= now - this.windowMs) this.#times.shift();
    return this.#times.length > this.limit;
  }
}
