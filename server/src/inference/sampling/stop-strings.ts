/**
 * Finds stop strings in streamed text. Text that might be the start of a stop string is held back until it
 * is clearly not one, so a client never sees part of a stop string that later completes.
 */
export class StopStringMatcher {
  private pending = '';
  private readonly longest: number;

  constructor(private readonly stops: readonly string[]) {
    this.longest = Math.max(0, ...stops.map((stop) => stop.length));
  }

  /** Adds text; returns what is safe to emit and whether a stop string was reached (text after it is dropped). */
  push(text: string): { text: string; stopped: boolean } {
    if (this.stops.length === 0) return { text, stopped: false };
    this.pending += text;
    let earliest = -1;
    for (const stop of this.stops) {
      const at = this.pending.indexOf(stop);
      if (at >= 0 && (earliest < 0 || at < earliest)) earliest = at;
    }
    if (earliest >= 0) {
      const emitted = this.pending.slice(0, earliest);
      this.pending = '';
      return { text: emitted, stopped: true };
    }
    const held = this.heldBackLength();
    const emitted = this.pending.slice(0, this.pending.length - held);
    this.pending = this.pending.slice(this.pending.length - held);
    return { text: emitted, stopped: false };
  }

  /** The reply ended for another reason: what was held back is plain text after all. */
  flush(): string {
    const rest = this.pending;
    this.pending = '';
    return rest;
  }

  /** Length of the longest suffix of pending text that is a proper prefix of some stop string. */
  private heldBackLength(): number {
    for (let length = Math.min(this.longest - 1, this.pending.length); length > 0; length--) {
      const suffix = this.pending.slice(this.pending.length - length);
      if (this.stops.some((stop) => stop.startsWith(suffix))) return length;
    }
    return 0;
  }
}
